"""PyTorch CPU peer of benches/nn.rs: the same VAE and GAN, batch 128.

VAE: encoder 64 -> 128 (ReLU), fc_mu / fc_logvar 128 -> 16, decoder 16 -> 128 (ReLU) -> 64
(sigmoid); loss = BCE summed over features (mean over batch) + KL; Adam lr 1e-3.
GAN: G 16 -> 128 (ReLU) -> 64 (sigmoid), D 64 -> 128 (LeakyReLU 0.2) -> 1; the seed's step
(D on concat(fake, real) with labels 1 / 0 + 0.05 * U(0, 1), BCE with logits, step on D;
then new z, G trained through D against label 0, step on G); Adam lr 3e-4 for both.

Usage: python nn_torch.py --threads 1 [--repeats 7] [--iters 200]
Prints samples/s (median over repeats) for training steps and for generating 128 and 4096
rows, and one `RESULT {...}` JSON line per benchmark for benches/peers/run.sh. The module layout matches shardmix's safetensors names (see src/nn/weights.rs).
"""

import argparse
import json
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F

FEATURES, LATENT, HIDDEN, BATCH = 64, 16, 128, 128


class Vae(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU())
        self.fc_mu = nn.Linear(HIDDEN, LATENT)
        self.fc_logvar = nn.Linear(HIDDEN, LATENT)
        self.decoder = nn.Sequential(
            nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, FEATURES), nn.Sigmoid()
        )

    def loss(self, x):
        h = self.encoder(x)
        mu, logvar = self.fc_mu(h), self.fc_logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        p = self.decoder(z).clamp(1e-7, 1 - 1e-7)
        rec = F.binary_cross_entropy(p, x, reduction="none").sum(dim=1).mean()
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(dim=1).mean()
        return rec + kl


class Gan(nn.Module):
    def __init__(self):
        super().__init__()
        self.generator = nn.Sequential(
            nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, FEATURES), nn.Sigmoid()
        )
        self.discriminator = nn.Sequential(
            nn.Linear(FEATURES, HIDDEN), nn.LeakyReLU(0.2), nn.Linear(HIDDEN, 1)
        )


def vae_step(vae, opt, x):
    opt.zero_grad(set_to_none=True)
    loss = vae.loss(x)
    loss.backward()
    opt.step()
    return loss


def gan_step(gan, opt_g, opt_d, real):
    b = real.shape[0]
    with torch.no_grad():
        fake = gan.generator(torch.randn(b, LATENT))
    combined = torch.cat([fake, real])
    labels = torch.cat([torch.ones(b, 1), torch.zeros(b, 1)])
    labels = labels + 0.05 * torch.rand_like(labels)
    opt_d.zero_grad(set_to_none=True)
    d_loss = F.binary_cross_entropy_with_logits(gan.discriminator(combined), labels)
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad(set_to_none=True)
    logits = gan.discriminator(gan.generator(torch.randn(b, LATENT)))
    g_loss = F.binary_cross_entropy_with_logits(logits, torch.zeros(b, 1))
    g_loss.backward()  # D's grads are computed too but D is not stepped (as in the seed)
    opt_g.step()
    return d_loss, g_loss


def rate(fn, rows, iters, repeats, name=None):
    """Median samples/s over `repeats` timings of `iters` calls of `fn`.

    With `name`, also prints `RESULT {"name": .., "rows": rows * iters, "secs": [..]}` (the
    line benches/peers/run.sh reads).
    """
    for _ in range(max(3, iters // 10)):
        fn()
    secs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        secs.append(time.perf_counter() - t0)
    if name is not None:
        print("RESULT " + json.dumps({"name": name, "rows": rows * iters, "secs": secs}), flush=True)
    return statistics.median(rows * iters / s for s in secs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, choices=[1, 2], default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--iters", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(BATCH, FEATURES)

    vae = Vae()
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
    gan = Gan()
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=3e-4)
    opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=3e-4)

    def generate(net, n):
        with torch.inference_mode():
            return net(torch.randn(n, LATENT))

    benches = [
        ("vae_train_step_b128", lambda: vae_step(vae, opt, x), BATCH, args.iters),
        ("vae_generate_128", lambda: generate(vae.decoder, BATCH), BATCH, args.iters),
        ("vae_generate_4096", lambda: generate(vae.decoder, 4096), 4096, max(1, args.iters // 10)),
        ("gan_train_step_b128", lambda: gan_step(gan, opt_g, opt_d, x), BATCH, args.iters),
        ("gan_generate_128", lambda: generate(gan.generator, BATCH), BATCH, args.iters),
    ]
    rows = [(name, rate(fn, n, iters, args.repeats, name)) for name, fn, n, iters in benches]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s), median of {args.repeats}")
    print(f"{'benchmark':<22} {'samples/s':>14}")
    for name, r in rows:
        print(f"{name:<22} {r:>14,.0f}")


if __name__ == "__main__":
    main()
