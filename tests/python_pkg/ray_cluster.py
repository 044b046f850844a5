"""The local Ray cluster of the shardmix.ray tests: one per pytest session, started on first
use by a session-scoped fixture (import `ray_cluster` into a test module to use it)."""

import atexit
import os
import shutil
import tempfile

import pytest

# Before Ray is imported: a one-machine cluster on the loopback address (Ray otherwise binds its
# servers to the machine's outward address, and turns an explicit 127.0.0.1 into that too).
# Ray reads this switch once, at import; its worker processes inherit it.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# No usage statistics sent anywhere.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

ray = pytest.importorskip("ray", reason="ray is not installed (scripts/requirements-ray.txt)")


_cluster = None


def _stop(temp_dir):
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


def _start():
    """The cluster, started on the first call. Each test module that imports the fixture gets
    a fixture definition of its own, so the cluster is kept here rather than in pytest's
    fixture cache, and shut down when the test process ends."""
    global _cluster
    if _cluster is None:
        # A short path of its own: Ray's Unix sockets live under it (108-byte limit).
        temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
        _cluster = ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=256 * 1024 * 1024,
            _temp_dir=temp_dir,
            log_to_driver=False,
            configure_logging=False,
        )
        atexit.register(_stop, temp_dir)
        assert _cluster.address_info["node_ip_address"] == "127.0.0.1", _cluster.address_info
    return _cluster


@pytest.fixture(scope="session")
def ray_cluster():
    """A real Ray cluster on this machine, started once per test process: 2 CPUs, on the
    loopback address, no dashboard, no usage reporting."""
    return _start()
