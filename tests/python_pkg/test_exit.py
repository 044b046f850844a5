"""The interpreter exits promptly while a pipeline with a Python stage is still running
(neither closed nor exhausted): its workers may be waiting for the GIL to run the stage
when the interpreter finalizes."""

import subprocess
import sys
import textwrap

import pytest

SCRIPTS = {
    # The pipeline is a module global: dropped (or not) during finalization.
    "global": """
        import shardmix, numpy as np
        def stage(x, y, step):
            return x * np.float32(1.5), y
        p = shardmix.Pipeline({data!r}, batch_size=64, epochs=50, workers=2, prefetch=8, stages=[stage])
        it = iter(p)
        for _ in range(3):
            next(it)
        print("iterated", flush=True)
    """,
    # A slow stage holding the GIL for a while, several pipelines, and one kept alive by a
    # reference cycle (collected, if ever, by the final GC).
    "cycle-slow": """
        import time, shardmix
        def stage(x, y, step):
            time.sleep(0.01)
            return x, y
        class Holder:
            pass
        h = Holder()
        h.self = h
        h.p = shardmix.Pipeline({data!r}, batch_size=32, epochs=50, workers=2, stages=[stage])
        q = shardmix.Pipeline({data!r}, batch_size=32, epochs=50, workers=3, stages=[stage, stage])
        next(iter(h.p)); next(iter(q))
        del h
        print("iterated", flush=True)
    """,
    # A daemon thread iterating when the main thread returns.
    "thread": """
        import threading, shardmix
        def stage(x, y, step):
            return x, y
        p = shardmix.Pipeline({data!r}, batch_size=16, epochs=200, workers=2, stages=[stage])
        started = threading.Event()
        def consume():
            for i, b in enumerate(p):
                started.set()
        threading.Thread(target=consume, daemon=True).start()
        started.wait(30)
        print("iterated", flush=True)
    """,
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_exit_with_a_running_python_stage_does_not_hang(name, digits):
    code = textwrap.dedent(SCRIPTS[name]).format(data=digits)
    for _ in range(3):  # the race is timing-dependent: a few tries
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout.decode().strip() == "iterated"
