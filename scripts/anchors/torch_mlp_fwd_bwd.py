#!/usr/bin/python3
"""Anchor: forward + backward of a small ReLU MLP in PyTorch on the CPU, calls per second.

The network is the one `sac bench`'s `mlp_fwd_bwd` line runs (Sac.Cli/Bench.fs, mlpLine):
sizes 23 -> 256 -> 256 -> 1 (a SAC critic on 17 observations + 6 actions), ReLU hidden layers,
a linear output, batch 256, float32. One call is the forward pass followed by the backward pass
from a fixed output gradient dL/dy, which yields the gradients of every weight and bias and no
gradient for the input (the library's Mlp.Backward without dX, as a critic update needs).

After --warmup untimed calls it times calls in blocks until at least --iters calls and
--min-seconds have passed; then it times the forward pass alone (no autograd graph) the same
way, for a third of --min-seconds.

Prints one JSON line:
  {"bench": "torch_mlp_fwd_bwd", "shape": "256x[23->256->256->1]", "threads": T,
   "iters": N, "seconds": S, "fwd_bwd_per_sec": R, "ms_per_fwd_bwd": MS, "fwd_bwd_gflops": G,
   "fwd_only_per_sec": R, "ms_per_fwd": MS, "fwd_gflops": G, "torch": "...", "blas": [...]}
"""
import argparse
import json
import os
import sys
import time

from anchor_env import loaded_blas, pin_threads


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inp", type=int, default=23, help="input width")
    p.add_argument("--hidden", type=int, default=256, help="width of both hidden layers")
    p.add_argument("--out", type=int, default=1, help="output width")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (and OpenBLAS/OpenMP threads)")
    p.add_argument("--iters", type=int, default=200, help="timed calls, at least")
    p.add_argument("--warmup", type=int, default=200, help="untimed calls before timing")
    p.add_argument("--min-seconds", type=float, default=0.0, help="timed seconds, at least")
    return p.parse_args()


def time_calls(call, min_calls, min_seconds, block=50):
    """Runs `call` in blocks until both minimums are met; returns (calls, seconds)."""
    calls = 0
    start = time.perf_counter()
    while True:
        for _ in range(block):
            call()
        calls += block
        elapsed = time.perf_counter() - start
        if calls >= min_calls and elapsed >= min_seconds:
            return calls, elapsed


def matmul_flops(sizes, batch):
    """Multiply-add flops of one forward pass and of one backward pass (weight gradients of every layer, input
    gradients of every layer but the first)."""
    layers = list(zip(sizes[:-1], sizes[1:]))
    forward = sum(2 * batch * i * o for i, o in layers)
    weight_grads = forward
    input_grads = sum(2 * batch * i * o for i, o in layers[1:])
    return forward, weight_grads + input_grads


def main():
    args = parse_args()
    pin_threads(args.threads)
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    sizes = [args.inp, args.hidden, args.hidden, args.out]
    net = nn.Sequential(
        nn.Linear(sizes[0], sizes[1]), nn.ReLU(),
        nn.Linear(sizes[1], sizes[2]), nn.ReLU(),
        nn.Linear(sizes[2], sizes[3]))
    x = torch.randn(args.batch, args.inp)
    dy = torch.randn(args.batch, args.out)

    def forward_backward():
        net.zero_grad(set_to_none=True)
        net(x).backward(dy)

    def forward_only():
        with torch.inference_mode():
            net(x)

    for _ in range(args.warmup):
        forward_backward()
    n, seconds = time_calls(forward_backward, args.iters, args.min_seconds)

    for _ in range(max(1, args.warmup // 2)):
        forward_only()
    n_fwd, seconds_fwd = time_calls(forward_only, args.iters, args.min_seconds / 3)

    fwd_flops, bwd_flops = matmul_flops(sizes, args.batch)
    result = {
        "bench": "torch_mlp_fwd_bwd",
        "shape": "%dx[%s]" % (args.batch, "->".join(str(s) for s in sizes)),
        "threads": torch.get_num_threads(),
        "iters": n,
        "seconds": round(seconds, 4),
        "fwd_bwd_per_sec": round(n / seconds, 2),
        "ms_per_fwd_bwd": round(1000.0 * seconds / n, 5),
        "fwd_bwd_gflops": round((fwd_flops + bwd_flops) * n / seconds / 1e9, 3),
        "fwd_only_per_sec": round(n_fwd / seconds_fwd, 2),
        "ms_per_fwd": round(1000.0 * seconds_fwd / n_fwd, 5),
        "fwd_gflops": round(fwd_flops * n_fwd / seconds_fwd / 1e9, 3),
        "torch": torch.__version__,
        "blas": loaded_blas(),
    }
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
