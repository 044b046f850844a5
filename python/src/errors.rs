//! shardmix errors as Python exceptions: `shardmix.Error` and one subclass per
//! [`ErrorKind`], defined in `shardmix/_errors.py` (so that they can also derive from the
//! matching built-in, e.g. `ConfigError` from `ValueError`). The message is the CLI's:
//! [`Error::chain`], the error and its causes on one line.

use pyo3::prelude::*;
use shardmix::{Error, ErrorKind};

/// The Python class name of an error kind (a class of `shardmix._errors`).
pub fn class_name(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Io { .. } => "IoError",
        ErrorKind::NoShards { .. } => "NoShardsError",
        ErrorKind::Empty { .. } => "EmptyError",
        ErrorKind::Footer { .. } => "FooterError",
        ErrorKind::Decode { .. } => "DecodeError",
        ErrorKind::DecodePanic { .. } => "DecodePanicError",
        ErrorKind::TooLarge { .. } => "TooLargeError",
        ErrorKind::MissingColumn { .. } => "MissingColumnError",
        ErrorKind::ColumnType { .. } => "ColumnTypeError",
        ErrorKind::SchemaMismatch { .. } => "SchemaMismatchError",
        ErrorKind::BadValue { .. } => "BadValueError",
        ErrorKind::Label { .. } => "LabelError",
        ErrorKind::Ragged { .. } => "RaggedError",
        ErrorKind::Image { .. } => "ImageError",
        ErrorKind::ShardChanged { .. } => "ShardChangedError",
        ErrorKind::Config { .. } => "ConfigError",
        ErrorKind::Shape { .. } => "ShapeError",
        ErrorKind::Stage { .. } | ErrorKind::StageCheck { .. } => "StageError",
        ErrorKind::Read { .. } => "ReadError",
        ErrorKind::Panic { .. } => "PanicError",
        ErrorKind::Timeout { .. } => "TimeoutError",
        ErrorKind::Model { .. } => "ModelError",
        ErrorKind::ModelInput { .. } => "ModelInputError",
        ErrorKind::Diverged { .. } => "DivergedError",
        ErrorKind::Arrow { .. } => "ArrowError",
        ErrorKind::Write { .. } => "WriteError",
        ErrorKind::Output { .. } => "OutputError",
        ErrorKind::OutputLocked { .. } => "OutputLockedError",
        ErrorKind::NotOurs { .. } => "NotOursError",
        ErrorKind::BadStream { .. } => "BadStreamError",
        ErrorKind::OtherRun { .. } => "OtherRunError",
        ErrorKind::Incomplete { .. } => "IncompleteError",
        ErrorKind::Disconnected { .. } => "DisconnectedError",
        ErrorKind::SendTimeout { .. } => "SendTimeoutError",
        ErrorKind::AcceptTimeout { .. } => "AcceptTimeoutError",
        ErrorKind::Misuse { .. } => "MisuseError",
        _ => "Error",
    }
}

/// The Python exception for `err`: an instance of its kind's class with the CLI's message.
pub fn to_py(py: Python<'_>, err: &Error) -> PyErr {
    raise(py, class_name(err.kind()), err.chain())
}

/// An exception of the `shardmix._errors` class `name` with `message`.
pub fn raise(py: Python<'_>, name: &str, message: String) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let class = py.import("shardmix._errors")?.getattr(name)?;
        Ok(PyErr::from_value(class.call1((message.clone(),))?))
    };
    make().unwrap_or_else(|e| e)
}

/// A `ConfigError` naming the parameter, worded like [`Error::config`].
pub fn config(py: Python<'_>, name: &str, message: impl std::fmt::Display) -> PyErr {
    to_py(py, &Error::config(name, message.to_string()))
}
