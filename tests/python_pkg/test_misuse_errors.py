"""The exception classes of the error kinds added for issue 20: a caller's misuse of an API and
a stream's accept timeout."""

import builtins

import shardmix


def test_misuse_is_a_runtime_error_of_shardmix():
    assert issubclass(shardmix.MisuseError, shardmix.Error)
    assert issubclass(shardmix.MisuseError, RuntimeError)
    assert not issubclass(shardmix.MisuseError, ValueError), "a caller's bug, not bad data"
    assert "MisuseError" in shardmix.__all__


def test_accept_timeout_is_an_output_timeout():
    assert issubclass(shardmix.AcceptTimeoutError, shardmix.OutputError)
    assert issubclass(shardmix.AcceptTimeoutError, builtins.TimeoutError)
    assert "AcceptTimeoutError" in shardmix.__all__
