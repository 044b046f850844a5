"""Recompute shardmix decoder/generator forward passes in numpy and compare with Rust.

Usage: check_forward.py DIR

DIR holds, for each case NAME, `NAME.safetensors` (a shardmix model) and
`NAME.inputs.safetensors` with tensors `z` [N, latent], `onehot` [N, C] (conditional
models only) and `expected` [N, features] (Rust's output). The model's tensors are read
with `safetensors.numpy.load_file`; the architecture comes from the file's metadata.
Exits 1 when any case differs by more than 1e-5 (max abs) or does not fit the layout.
"""

import glob
import json
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

TOL = 1e-5


def activation(name, x):
    if name == "identity":
        return x
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if isinstance(name, dict) and "leaky_relu" in name:
        return np.where(x > 0, x, name["leaky_relu"] * x)
    raise ValueError(f"unknown activation {name!r}")


def sequential(tensors, net, x):
    """Apply an nn.Sequential: Linear i at index 2i, its activation at 2i + 1."""
    for i, act in enumerate(net["activations"]):
        w = tensors[f"{net['name']}.{2 * i}.weight"].astype(np.float64)
        b = tensors[f"{net['name']}.{2 * i}.bias"].astype(np.float64)
        assert w.shape == (net["sizes"][i + 1], net["sizes"][i]), (net["name"], i, w.shape)
        x = activation(act, x @ w.T + b)
    return x


def check(model_path, inputs_path):
    with safe_open(model_path, framework="np") as f:
        meta = f.metadata()
    arch = json.loads(meta["shardmix.architecture"])
    assert meta["shardmix.kind"] == arch["kind"]
    tensors = load_file(model_path)
    for name, t in tensors.items():
        assert t.dtype == np.float32, (name, t.dtype)
    inputs = load_file(inputs_path)
    net_name = "decoder" if arch["kind"] == "vae" else "generator"
    net = next(n for n in arch["networks"] if n["name"] == net_name)
    # Every tensor of the file is accounted for by the architecture.
    expected_names = set()
    for n in arch["networks"]:
        for i in range(len(n["activations"])):
            prefix = n["name"] if n["module"] == "linear" else f"{n['name']}.{2 * i}"
            expected_names |= {f"{prefix}.weight", f"{prefix}.bias"}
    assert expected_names == set(tensors), sorted(set(tensors) ^ expected_names)

    x = inputs["z"].astype(np.float64)
    if arch["num_classes"] is not None:
        x = np.concatenate([x, inputs["onehot"].astype(np.float64)], axis=1)
    y = sequential(tensors, net, x)
    if arch["scale"] == "real":
        y = y * np.asarray(arch["std"], dtype=np.float64) + np.asarray(arch["mean"], dtype=np.float64)
    expected = inputs["expected"].astype(np.float64)
    assert y.shape == expected.shape, (y.shape, expected.shape)
    diff = float(np.max(np.abs(y - expected))) if y.size else 0.0
    return diff


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    cases = sorted(glob.glob(os.path.join(sys.argv[1], "*.inputs.safetensors")))
    if not cases:
        print(f"no cases in {sys.argv[1]}", file=sys.stderr)
        return 1
    failed = False
    for inputs_path in cases:
        model_path = inputs_path.replace(".inputs.safetensors", ".safetensors")
        name = os.path.basename(model_path)
        try:
            diff = check(model_path, inputs_path)
        except Exception as e:  # report every case
            print(f"{name}: FAILED: {type(e).__name__}: {e}")
            failed = True
            continue
        ok = diff <= TOL
        failed |= not ok
        print(f"{name}: max abs diff {diff:.3g} {'ok' if ok else 'FAILED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
