"""The exceptions of shardmix: ``Error`` and one subclass per kind of error of the Rust
library (``src/error.rs`` ``ErrorKind``). The message is the one the CLI prints after
``error:`` — the error and its causes on one line, naming the file, row group, column, step or
parameter concerned.

Some kinds also derive from the matching built-in, so that ``except ValueError`` or
``except OSError`` catch them too.
"""

import builtins


class Error(Exception):
    """Any error raised by shardmix."""


class IoError(Error, OSError):
    """Reading or writing a file failed (``ErrorKind::Io``)."""


class NoShardsError(Error, FileNotFoundError):
    """A data path matched no ``.parquet`` file."""


class EmptyError(Error, ValueError):
    """The dataset (or a selection of it) has no rows."""


class FooterError(Error):
    """A file is not readable Parquet (truncated or corrupt metadata)."""


class DecodeError(Error):
    """Decoding a row group failed."""


class DecodePanicError(Error):
    """The Parquet decoder panicked on a row group (corrupt data); the panic was contained."""


class TooLargeError(Error):
    """A column chunk is larger than the configured limit (decompression-bomb guard)."""


class MissingColumnError(Error, KeyError):
    """A required column is absent."""

    def __str__(self):  # KeyError would quote the message
        return Exception.__str__(self)


class ColumnTypeError(Error, TypeError):
    """A column has a type that cannot serve in the role asked of it."""


class SchemaMismatchError(Error):
    """Shards disagree on a selected column."""


class BadValueError(Error, ValueError):
    """A null, NaN or infinite value under the ``error`` null policy."""


class LabelError(Error, ValueError):
    """A class label outside ``0..num_classes``."""


class RaggedError(Error, ValueError):
    """A list column whose rows differ in length."""


class ImageError(Error, ValueError):
    """An encoded image that cannot be decoded, or whose shape differs from the first image's
    (``ErrorKind::Image``; names the file, column and row)."""


class ShardChangedError(Error):
    """A shard became unreadable or changed while the pipeline ran."""


class ConfigError(Error, ValueError):
    """An invalid option value, an unknown option, or a bad config file."""


class ShapeError(Error, ValueError):
    """Shapes that do not fit (model vs data, a stage's output vs its input, ...)."""


class StageError(Error):
    """A stage failed; for a Python stage the exception it raised is ``__cause__``."""


class ReadError(Error):
    """Reading the rows of a step failed."""


class PanicError(Error):
    """A stage or the reader panicked; the panic was contained."""


class TimeoutError(Error, builtins.TimeoutError):
    """A pipeline worker did not answer in time."""


class ModelError(Error):
    """A model file does not fit (shapes, metadata, tensor names)."""


class ArrowError(Error):
    """An Arrow operation failed."""


class WriteError(Error):
    """Writing Parquet output failed."""


class OutputError(Error):
    """The output directory or stream is not in the state required."""


class ModelInputError(Error, ValueError):
    """A batch a model cannot take: a value that is not finite or outside the model's scale."""


class DivergedError(Error, ArithmeticError):
    """A training step's loss is not finite; the weights were not updated."""


class BadStreamError(Error):
    """A stream read back is not a complete shardmix stream (truncated, corrupt, no trailer,
    a failed checksum)."""


class OutputLockedError(Error):
    """Another writer holds the lock of the output directory."""


class NotOursError(OutputError):
    """The output directory holds files at shardmix's names that shardmix did not write; it
    will not replace or delete them."""


class OtherRunError(OutputError):
    """The output directory holds another run's output; ``overwrite=True`` replaces it."""


class IncompleteError(OutputError):
    """A distributed output was finished before every shard was written."""


class DisconnectedError(OutputError, ConnectionError):
    """The stream's client went away before the end."""


class SendTimeoutError(OutputError, builtins.TimeoutError):
    """The stream's client stopped reading for longer than the send timeout."""



class AcceptTimeoutError(OutputError, builtins.TimeoutError):
    """No client connected to the stream's socket within the accept timeout."""


class MisuseError(Error, RuntimeError):
    """A caller used an API out of order or after it failed (writing to a sink after an
    earlier failure, a batch out of step order, ``finish`` before every step was written): a
    bug in the calling code, not bad data (``ErrorKind::Misuse``)."""


__all__ = [name for name, value in dict(globals()).items() if isinstance(value, type) and issubclass(value, Error)]
