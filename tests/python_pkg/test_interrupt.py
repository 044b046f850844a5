"""Ctrl-C (SIGINT) interrupts the package's long calls promptly: `shardmix.augment`,
`shardmix.train` and a `Pipeline` waiting for a batch raise KeyboardInterrupt within 2 s,
leaving an augment directory that a rerun completes byte for byte, a complete model file,
and a pipeline whose next call returns the batch it waited for.

Each case runs in a child interpreter (SIGINT goes to its main thread, as Ctrl-C does); the
child prints `started` once the work is under way, then the parent sends SIGINT."""

import os
import pathlib
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import shardmix

# The bound the interruption must meet (the binding wakes every 50 ms; a loaded machine).
BOUND = 2.0
# The longest a child may take to reach `started` (building a pipeline, training a model).
START_TIMEOUT = 180.0


class Child:
    """A child interpreter running `code`, its stdout lines read by a thread."""

    def __init__(self, code, **fmt):
        src = textwrap.dedent(code).format(**{k: repr(str(v)) for k, v in fmt.items()})
        # SIGINT back to its default in the child: a shell starts background jobs with it
        # ignored, an ignored signal stays ignored across exec, and Python then installs no
        # KeyboardInterrupt handler (a CI runner started with `&` would fail every case).
        self.proc = subprocess.Popen(
            [sys.executable, "-c", src],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def expect(self, timeout):
        """The next line of stdout, or fail with the child's stderr."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        if line is None:
            self.proc.kill()
            pytest.fail(f"no line from the child within {timeout} s; stderr:\n{self.proc.stderr.read()}")
        return line

    def interrupt(self):
        """Send SIGINT; returns (the child's next line, seconds until it came)."""
        t = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        line = self.expect(30)
        return line, time.monotonic() - t

    def finish(self, timeout=60):
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def files(d):
    return {p.name: p.read_bytes() for p in sorted(pathlib.Path(d).iterdir())}


@pytest.fixture(scope="module")
def slow_model(digits, tmp_path_factory):
    """A VAE with wide hidden layers: generating with it makes augment slow enough to be
    interrupted in the middle whatever the machine."""
    out = tmp_path_factory.mktemp("model") / "vae.safetensors"
    shardmix.train("vae", digits, out, batch_size=128, epochs=1, hidden=[768, 768], seed=2, quiet=True)
    return out


def augment_options(model):
    return dict(
        batch_size=32, epochs=16, order="shuffled", seed=4, vae=str(model), vae_fraction=1.0, rows_per_shard=320
    )


AUGMENT = """
    import shardmix
    options = {options}
    print("started", flush=True)
    try:
        shardmix.augment({data}, {out}, quiet=True, **eval(options))
        print("completed", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
"""


def test_ctrl_c_stops_augment_and_the_rerun_completes_byte_for_byte(digits, slow_model, tmp_path):
    options = augment_options(slow_model)
    whole = tmp_path / "whole"
    t = time.monotonic()
    shardmix.augment(digits, whole, quiet=True, **options)
    whole_seconds = time.monotonic() - t
    out = tmp_path / "out"
    child = Child(AUGMENT, data=digits, out=out, options=repr(options))
    assert child.expect(START_TIMEOUT) == "started"
    # Under way: the first complete shard is there.
    deadline = time.monotonic() + START_TIMEOUT
    while not list(out.glob("part-*.parquet")) and time.monotonic() < deadline and child.proc.poll() is None:
        time.sleep(0.01)
    line, seconds = child.interrupt()
    child.finish()
    assert line == "interrupted", f"the run was not interrupted ({line}; a whole run takes {whole_seconds:.2f} s)"
    assert seconds < BOUND, f"KeyboardInterrupt after {seconds:.2f} s"
    assert child.proc.returncode == 0, child.proc.stderr.read()
    left = files(out)
    assert not [n for n in left if n.endswith(".tmp")], f"a temporary file was left: {sorted(left)}"
    assert ".shardmix-manifest.json" not in left, "an interrupted run wrote the manifest"
    shards = [n for n in left if n.endswith(".parquet")]
    assert 0 < len(shards) < len([n for n in files(whole) if n.endswith(".parquet")])
    for name in shards:
        assert left[name] == files(whole)[name], f"{name} differs from the uninterrupted run's"
    summary = shardmix.augment(digits, out, quiet=True, **options)
    assert summary["shards_kept"] == len(shards)
    assert files(out) == files(whole)


WRITE_SHARDS = """
    import shardmix
    plan = shardmix.augment_plan({data}, {out}, **eval({options}))
    plan.prepare()
    print("started", flush=True)
    try:
        plan.write_shards(range(plan.num_shards))
        print("completed", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
"""


def test_ctrl_c_stops_write_shards_and_the_pieces_complete_the_directory(digits, slow_model, tmp_path):
    options = augment_options(slow_model)
    del options["rows_per_shard"]
    whole = tmp_path / "whole"
    shardmix.augment(digits, whole, quiet=True, rows_per_shard=320, **options)
    out = tmp_path / "out"
    child = Child(WRITE_SHARDS, data=digits, out=out, options=repr(dict(options, rows_per_shard=320)))
    assert child.expect(START_TIMEOUT) == "started"
    deadline = time.monotonic() + START_TIMEOUT
    while not list(out.glob("part-*.parquet")) and time.monotonic() < deadline and child.proc.poll() is None:
        time.sleep(0.01)
    line, seconds = child.interrupt()
    child.finish()
    assert line == "interrupted"
    assert seconds < BOUND, f"KeyboardInterrupt after {seconds:.2f} s"
    left = files(out)
    assert not [n for n in left if n.endswith(".tmp")], f"a temporary file was left: {sorted(left)}"
    for name in (n for n in left if n.endswith(".parquet")):
        assert left[name] == files(whole)[name]
    plan = shardmix.augment_plan(digits, out, rows_per_shard=320, **options)
    assert plan.write_shards(range(plan.num_shards))["skipped"], "the complete shards were kept"
    plan.finish()
    assert files(out) == files(whole)


TRAIN = """
    import shardmix
    print("started", flush=True)
    try:
        shardmix.train("vae", {data}, {out}, batch_size=16, epochs=200, hidden=[256, 256], seed=3, quiet=True)
        print("completed", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
"""


def test_ctrl_c_stops_train_and_leaves_a_complete_model(digits, tmp_path):
    from safetensors.numpy import load_file

    out = tmp_path / "vae.safetensors"
    child = Child(TRAIN, data=digits, out=out)
    assert child.expect(START_TIMEOUT) == "started"
    # Under way: the first epoch is saved (the second is being trained).
    deadline = time.monotonic() + START_TIMEOUT
    while not out.exists() and time.monotonic() < deadline and child.proc.poll() is None:
        time.sleep(0.01)
    line, seconds = child.interrupt()
    child.finish()
    assert line == "interrupted"
    assert seconds < BOUND, f"KeyboardInterrupt after {seconds:.2f} s"
    assert os.listdir(tmp_path) == ["vae.safetensors"], "only the model file, no temporary file"
    tensors = load_file(str(out))
    assert tensors, "the model file is empty"
    # It is the model of a complete epoch: a pipeline can generate with it.
    batch = next(iter(shardmix.Pipeline(digits, batch_size=8, steps=1, vae=str(out), vae_fraction=1.0)))
    assert batch.features.shape == (8, 64)


PIPELINE = """
    import time, numpy as np, shardmix
    def stage(x, y, step):
        if step == 1:
            time.sleep(4)  # the step the main thread waits for when Ctrl-C comes
        return x * np.float32(2), y
    options = dict(batch_size=64, steps=4, workers=1, prefetch=1, seed=1, mixup_alpha=0.4)
    p = shardmix.Pipeline({data}, stages=[stage], **options)
    it = iter(p)
    next(it)
    print("started", flush=True)
    try:
        next(it)
        print("completed", flush=True)
    except KeyboardInterrupt:
        print("interrupted", p.position, flush=True)
    rest = list(it)
    ref = list(shardmix.Pipeline({data}, stages=[lambda x, y, s: (x * np.float32(2), y)], **options))[1:]
    same = all(np.array_equal(a.features, b.features) and np.array_equal(a.targets, b.targets) for a, b in zip(rest, ref))
    print("rest", [b.step for b in rest], same, flush=True)
"""


def test_ctrl_c_interrupts_a_pipeline_waiting_for_a_batch_and_loses_no_step(digits):
    child = Child(PIPELINE, data=digits)
    assert child.expect(START_TIMEOUT) == "started"
    time.sleep(0.3)  # the main thread is waiting for step 1
    line, seconds = child.interrupt()
    assert line == "interrupted 1", line
    assert seconds < BOUND, f"KeyboardInterrupt after {seconds:.2f} s"
    # The next call returns the batch that was waited for: no step lost, the same batches.
    assert child.expect(60) == "rest [1, 2, 3] True"
    child.finish()
    assert child.proc.returncode == 0, child.proc.stderr.read()
