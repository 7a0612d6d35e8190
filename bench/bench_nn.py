"""Time per call of the MLP passes: genmix (C++ core) vs PyTorch (CPU) vs the NumPy reference.

    python bench/bench_nn.py [--threads 2] [--repeats 30] [--no-numpy]

Networks of issue 3 (float32, ReLU hidden layers, identity output):
toy G 2-128-128-2 and D 2-128-128-1 at batch 512, medium G 64-512-512-64 and
D 64-512-512-1 at batch 256, large G 100-1024-1024-784 and D 784-1024-1024-1 at batch 128.
For each: forward; forward+backward (gradients of the parameters and of the input, for
a given grad_output); and, for discriminators, the R1 penalty mean ||grad_x D(x)||^2 with
its parameter gradient (double backprop; PyTorch: autograd.grad(create_graph=True) then
backward). Each figure is the median over `repeats` timed calls after warm-up, genmix
and PyTorch called in turn so that both see the same load on a shared machine. The same
weights are loaded into both libraries and the outputs and gradients are compared.
PyTorch is optional: without it only genmix and NumPy are timed.
"""

import argparse
import statistics
import time

import numpy as np

from genmix.nn import MLP
from genmix.reference import ReferenceMLP

try:
    import torch
except ImportError:  # the comparison is optional
    torch = None

CASES = [
    # name, layer sizes, batch, hidden activation, penalty?
    ("toy G", (2, 128, 128, 2), 512, "relu", False),
    ("toy D", (2, 128, 128, 1), 512, "relu", True),
    ("toy D tanh", (2, 128, 128, 1), 512, "tanh", True),
    ("medium G", (64, 512, 512, 64), 256, "relu", False),
    ("medium D", (64, 512, 512, 1), 256, "relu", True),
    ("large G", (100, 1024, 1024, 784), 128, "relu", False),
    ("large D", (784, 1024, 1024, 1), 128, "relu", True),
]


def torch_net(net):
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[net.activation]
    layers = []
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        lin = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if l < net.n_layers - 1:
            layers.append(act())
    return torch.nn.Sequential(*layers)


def torch_flat_grad(tnet):
    """Gradients of a torch Sequential in genmix's flat layout (W as (n_in, n_out), then b)."""
    parts = []
    for m in tnet:
        if isinstance(m, torch.nn.Linear):
            for p, f in ((m.weight, lambda g: g.T.reshape(-1)), (m.bias, lambda g: g)):
                # a parameter the output does not depend on (a relu net's last bias in a penalty) has no grad
                parts.append(f(p.grad) if p.grad is not None else torch.zeros(p.numel()))
    return torch.cat(parts).numpy()


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def interleaved_medians(fns, repeats, warmup=2):
    """Median time of each function, calling them in turn so that they share the machine's
    noise (it is shared: other jobs come and go) instead of one of them getting a quiet spell."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def bench_case(name, sizes, batch, act, penalty, args):
    rng = np.random.default_rng(0)
    net = MLP(sizes, act, "identity", random_state=0)
    X = rng.normal(size=(batch, sizes[0])).astype(np.float32)
    G = (rng.normal(size=(batch, sizes[-1])) / batch).astype(np.float32)
    nt = args.threads
    libs = {"genmix": [lambda: net.forward(X, n_threads=nt), lambda: net.backward(X, G, n_threads=nt)]}
    if penalty:
        libs["genmix"].append(lambda: net.input_gradient_penalty(X, n_threads=nt))

    check = ""
    if torch is not None:
        tnet = torch_net(net)
        tX = torch.from_numpy(X)
        tG = torch.from_numpy(G)

        def t_forward():
            with torch.no_grad():
                return tnet(tX)

        def t_backward():
            tnet.zero_grad(set_to_none=True)
            x = tX.detach().requires_grad_(True)
            tnet(x).backward(tG)
            return x.grad

        def t_penalty():
            tnet.zero_grad(set_to_none=True)
            x = tX.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(tnet(x).sum(), x, create_graph=True)
            pen = g.pow(2).sum(1).mean()
            pen.backward()
            return pen.detach()

        libs["torch"] = [t_forward, t_backward] + ([t_penalty] if penalty else [])
        # agreement (float32 on both sides)
        out_err = rel(net.forward(X, n_threads=nt), t_forward().numpy())
        grad, grad_x = net.backward(X, G, n_threads=nt)
        tgx = t_backward()
        check = f"max rel diff vs torch: out {out_err:.1e}, grad {rel(grad, torch_flat_grad(tnet)):.1e}, " \
                f"grad_x {rel(grad_x, tgx.numpy()):.1e}"
        if penalty:
            value, pgrad = net.input_gradient_penalty(X, n_threads=nt)
            tval = float(t_penalty())
            check += (f", penalty {abs(value - tval) / abs(tval):.1e}, "
                      f"penalty grad {rel(pgrad, torch_flat_grad(tnet)):.1e}")

    # genmix and torch timed in turn, call by call
    order = list(libs)
    flat = [fn for lib in order for fn in libs[lib]]
    medians = interleaved_medians(flat, args.repeats)
    results, k = {}, 0
    for lib in order:
        results[lib] = medians[k:k + len(libs[lib])]
        k += len(libs[lib])
    if not args.no_numpy:
        ref = ReferenceMLP(sizes, act, "identity", params=net.get_params_flat())
        fns = [lambda: ref.forward(X), lambda: ref.backward(X, G)]
        if penalty:
            fns.append(lambda: ref.input_gradient_penalty(X))
        results["numpy"] = interleaved_medians(fns, max(3, args.repeats // 5), warmup=1)

    arch = "-".join(map(str, sizes))
    print(f"\n{name}: {arch}, batch {batch}, {act}, {net.n_params} parameters")
    print(f"  {'':8s} {'forward':>10s} {'fwd+bwd':>10s} {'R1 pen+grad':>12s}   (ms per call, median)")
    for lib, r in results.items():
        cells = [f"{1e3 * r[0]:10.3f}", f"{1e3 * r[1]:10.3f}", f"{1e3 * r[2]:12.3f}" if penalty else f"{'-':>12s}"]
        print(f"  {lib:8s} " + " ".join(cells))
    if "torch" in results:
        g, t = results["genmix"], results["torch"]
        print("  torch / genmix: " + ", ".join(f"{a / b:.2f}x" for a, b in zip(t, g)))
    if check:
        print("  " + check)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-numpy", action="store_true", help="skip the (slow) NumPy reference")
    parser.add_argument("--only", default=None, help="run only cases whose name contains this")
    args = parser.parse_args()
    if torch is not None:
        torch.set_num_threads(args.threads)
        print(f"torch {torch.__version__}, {args.threads} threads")
    else:
        print("torch not installed: timing genmix and NumPy only")
    for case in CASES:
        if args.only is None or args.only in case[0]:
            bench_case(*case, args)


if __name__ == "__main__":
    main()
