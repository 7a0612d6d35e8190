"""GAN training: ms per step of genmix (whole step in C++) vs PyTorch (CPU), and the
PacGAN ring / grid quality table of genmix.GAN() defaults.

    python bench/bench_gan.py [--threads 2] [--steps 50] [--speed-only | --quality-only]
                              [--seeds 5] [--quality-steps N] [--data ring,grid]
                              [--cases toy,toy-r1,medium,large]

Speed: the networks of issue 3 (float32, ReLU hidden layers), Adam, non-saturating loss,
alternating update (a D step then a G step), the same architecture, batch, loss and
optimizer in both libraries, timed in the same run. Each figure is the median over 5 timed
blocks of `steps` steps after a warm-up; genmix and PyTorch are timed in turn so that both
see the same load on a shared machine. PyTorch is optional (skipped when not installed).

Quality: for each seed, make_ring / make_grid (2,500 points, PacGAN protocol), fit
genmix.GAN(random_state=seed) (optionally with n_steps=--quality-steps), draw 2,500
samples, with the default discriminator rejection sampling (floor 0.05) and from the raw
generator (sample(rejection=False)), and report genmix.metrics.mode_statistics (modes captured,
high-quality fraction, reverse KL) of both and the fit time (training and calibration). --data picks
the data sets (e.g. one per process, to use both cores of a busy machine with --threads 1; quality
does not depend on the thread count).
"""

import argparse
import statistics
import time

import numpy as np

from genmix import GAN
from genmix.datasets import make_grid, make_ring
from genmix.metrics import mode_statistics

try:
    import torch
except ImportError:  # the comparison is optional
    torch = None

CASES = {
    # name: (latent, hidden, data dim, batch, penalty)
    "toy": (2, (128, 128), 2, 512, None),
    "toy-r1": (2, (128, 128), 2, 512, "r1"),
    "medium": (64, (512, 512), 64, 256, None),
    "large": (100, (1024, 1024), 784, 128, None),
}


def genmix_ms_per_step(latent, hidden, dim, batch, penalty, threads, steps, X):
    # training steps only: no post-training calibration (PyTorch's loop has none either)
    gan = GAN(latent_dim=latent, generator_hidden=hidden, discriminator_hidden=hidden, activation="relu",
              loss="non-saturating", penalty=penalty, penalty_weight=10.0, update="alternating",
              optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.999), batch_size=batch, n_steps=steps,
              ema=None, calibration_steps=0, random_state=0, n_threads=threads, log_every=steps)
    gan.fit(X)  # warm-up (allocations, first touch)

    def run():
        t = time.perf_counter()
        gan.fit(X, resume=True)
        return (time.perf_counter() - t) / steps * 1e3
    return run


def torch_ms_per_step(latent, hidden, dim, batch, penalty, threads, steps, X):
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    def mlp(sizes):
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        return torch.nn.Sequential(*layers)

    G, D = mlp((latent, *hidden, dim)), mlp((dim, *hidden, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.999))
    Xt = torch.from_numpy(X)
    sp = torch.nn.functional.softplus

    def step():
        real = Xt[torch.randint(0, len(Xt), (batch,))]
        z = torch.randn(batch, latent)
        fake = G(z)
        if penalty == "r1":
            real.requires_grad_(True)
        r = D(real)
        loss_d = sp(-r).mean() + sp(D(fake.detach())).mean()
        if penalty == "r1":
            (g,) = torch.autograd.grad(r.sum(), real, create_graph=True)
            loss_d = loss_d + 5.0 * g.pow(2).sum(1).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = sp(-D(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

    for _ in range(3):
        step()

    def run():
        t = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - t) / steps * 1e3
    return run


def speed(args):
    print(f"ms per training step (D step + G step), float32, {args.threads} threads, Adam, non-saturating")
    print(f"{'network':<8} {'genmix':>9} {'PyTorch':>9} {'speed-up':>9}")
    for name in args.cases.split(","):
        latent, hidden, dim, batch, penalty = CASES[name]
        X = np.random.RandomState(0).normal(size=(4096, dim)).astype(np.float32)
        runs = [genmix_ms_per_step(latent, hidden, dim, batch, penalty, args.threads, args.steps, X)]
        if torch is not None:
            runs.append(torch_ms_per_step(latent, hidden, dim, batch, penalty, args.threads, args.steps, X))
        times = [[] for _ in runs]
        for _ in range(5):
            for r, t in zip(runs, times):
                t.append(r())
        med = [statistics.median(t) for t in times]
        if len(med) == 2:
            print(f"{name:<8} {med[0]:9.2f} {med[1]:9.2f} {med[1] / med[0]:8.2f}x", flush=True)
        else:
            print(f"{name:<8} {med[0]:9.2f} {'-':>9} {'-':>9}", flush=True)


def quality(args):
    print(f"\nquality of genmix.GAN() defaults, 2,500 samples, seeds 0..{args.seeds - 1}")
    print(f"{'':<10} {'default: sample()':^22} {'raw: sample(rejection=False)':^22}")
    print(f"{'data':<5} {'seed':>4} {'modes':>6} {'high-q':>7} {'rev KL':>7} {'modes':>6} {'high-q':>7} {'rev KL':>7} "
          f"{'fit s':>6}")
    for data, make, std, n_modes in (("ring", make_ring, 0.01, 8), ("grid", make_grid, 0.05, 25)):
        if data not in args.data.split(","):
            continue
        rows = []
        for seed in range(args.seeds):
            X, modes = make(2500, random_state=seed)
            kw = {} if args.quality_steps is None else {"n_steps": args.quality_steps}
            t = time.perf_counter()
            gan = GAN(random_state=seed, n_threads=args.threads, **kw).fit(X)
            dt = time.perf_counter() - t
            row = []
            for rejection in (True, False):
                s = mode_statistics(gan.sample(2500, random_state=seed, rejection=rejection), modes, std=std)
                row += [s.n_modes_captured, s.high_quality_fraction, s.reverse_kl]
            rows.append((*row, dt))
            print(f"{data:<5} {seed:>4} " + " ".join(_fmt(row)) + f" {dt:6.1f}", flush=True)
        m = np.nanmean(np.array(rows, dtype=float), axis=0)
        print(f"{data:<5} {'mean':>4} " + " ".join(_fmt(m[:6], mean=True)) + f" {m[6]:6.1f}  (of {n_modes} modes)")


def _fmt(row, mean=False):
    return [f"{row[0]:6.2f}" if mean else f"{int(row[0]):>6}", f"{row[1]:7.3f}", f"{row[2]:7.3f}",
            f"{row[3]:6.2f}" if mean else f"{int(row[3]):>6}", f"{row[4]:7.3f}", f"{row[5]:7.3f}"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--cases", default="toy,toy-r1,medium,large")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--quality-steps", type=int, default=None)
    p.add_argument("--data", default="ring,grid")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--speed-only", action="store_true")
    g.add_argument("--quality-only", action="store_true")
    args = p.parse_args()
    if not args.quality_only:
        speed(args)
    if not args.speed_only:
        quality(args)


if __name__ == "__main__":
    main()
