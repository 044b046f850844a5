"""shardmix.train: `shardmix train vae|gan` from Python."""

import pytest

import shardmix
from conftest import cli_error, run_cli

SMALL = dict(batch_size=128, epochs=2, seed=4, latent=4, hidden="32")


def test_train_saves_the_clis_model(cli, digits, tmp_path):
    run_cli(cli, "train", "vae", "--data", digits, "--out", tmp_path / "cli.safetensors", "--batch-size", 128,
            "--epochs", 2, "--seed", 4, "--latent", 4, "--hidden", 32)
    summary = shardmix.train("vae", digits, tmp_path / "py.safetensors", quiet=True, **SMALL)
    # The same weights, bit for bit, and the same metadata (the safetensors header's key order
    # varies from process to process: the crate keeps the metadata in a HashMap).
    st = pytest.importorskip("safetensors")
    from safetensors.numpy import load_file

    a, b = load_file(tmp_path / "cli.safetensors"), load_file(tmp_path / "py.safetensors")
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name
    meta = [st.safe_open(str(tmp_path / f), "np").metadata() for f in ("cli.safetensors", "py.safetensors")]
    assert meta[0] == meta[1]
    assert summary["kind"] == "vae" and summary["path"] == str(tmp_path / "py.safetensors")
    assert summary["rows"] > 0 and summary["steps"] == 2 * len(shardmix.Pipeline(digits, batch_size=128))
    assert set(summary["last_epoch"]) == {"recon", "kl"}
    assert summary["held_out_before"] is None


def test_a_trained_gan_feeds_a_pipeline_and_holdout_is_reported(digits, tmp_path, capsys):
    out = tmp_path / "gan.safetensors"
    s = shardmix.train("gan", digits, out, batch_size=128, epochs=1, hidden=[32, 32], holdout=0.1, seed=1)
    assert set(s["held_out_before"]) == {"d_loss", "g_loss"} and set(s["held_out_after"]) == {"d_loss", "g_loss"}
    err = capsys.readouterr().err
    assert "held-out" in err and "trained gan on" in err
    # The usefulness figure of a class-conditional model, as the CLI prints it.
    rec = s["recognition"]
    assert set(rec) == {"rate", "samples", "train_rows", "classifier_accuracy", "check_rows"}
    assert rec["samples"] == 1000 and 0.0 <= rec["rate"] <= 1.0 and rec["classifier_accuracy"] > 0.9
    assert "class-conditional samples recognised as their class" in err
    batch = next(iter(shardmix.Pipeline(digits, batch_size=64, steps=1, gan=str(out), provenance=True)))
    assert (batch.origin == 2).any()


def test_train_errors_are_the_clis(cli, digits, tmp_path):
    out = tmp_path / "m.safetensors"
    cases = [
        (dict(scale="cubic"), ["--scale", "cubic"]),
        (dict(hidden="12,x"), ["--hidden", "12,x"]),
        (dict(latent=0), ["--latent", "0"]),
        (dict(holdout=1.5), ["--holdout", "1.5"]),
        (dict(batch_size=0), ["--batch-size", "0"]),
    ]
    for options, args in cases:
        expected = cli_error(cli, "train", "vae", "--data", digits, "--out", out, *args)
        with pytest.raises(shardmix.Error) as e:
            shardmix.train("vae", digits, out, quiet=True, **options)
        assert str(e.value) == expected
    with pytest.raises(shardmix.ConfigError, match="'flow' is not one of vae, gan"):
        shardmix.train("flow", digits, out)
    with pytest.raises(shardmix.ConfigError, match="unknown option"):
        shardmix.train("vae", digits, out, latnet=3)
    assert not out.exists()
