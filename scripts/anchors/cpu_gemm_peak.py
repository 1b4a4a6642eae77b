#!/usr/bin/python3
"""Anchor: float32 matrix-multiply throughput of NumPy on OpenBLAS, in GFLOP/s.

For each shape MxKxN it times C[M,N] = A[M,K] @ B[K,N] (np.dot into a preallocated C, so the
timed work is the BLAS sgemm call and nothing else) for at least --seconds, after a short
warm-up, and reports 2*M*K*N flops per call divided by the time per call.

The default shapes are SAC-sized (batch 256, hidden 256; 256x23x256 is the critic's input
layer, 17 observations + 6 actions) and two large ones that show the machine's BLAS peak.
Compare with the `gemm` and `fma_peak` lines of `sac bench` run beside it.

Prints one JSON line:
  {"bench": "cpu_gemm_peak", "threads": T, "numpy": "...", "blas": [...],
   "gflops": {"256x256x256": G, ...}}
"""
import argparse
import json
import os
import sys
import time

from anchor_env import loaded_blas, pin_threads

DEFAULT_SHAPES = "256x256x256,256x23x256,1024x1024x1024,2048x2048x2048"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (sets OPENBLAS_NUM_THREADS, OMP_NUM_THREADS)")
    p.add_argument("--seconds", type=float, default=2.0, help="timed seconds per shape, at least")
    p.add_argument("--shapes", default=DEFAULT_SHAPES, help="comma-separated MxKxN list")
    return p.parse_args()


def parse_shape(text):
    m, k, n = (int(v) for v in text.lower().split("x"))
    return m, k, n


def gflops_of(m, k, n, seconds, np):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)

    def call():
        np.dot(a, b, out=c)

    # Warm-up: page in the operands, spin up the BLAS threads.
    start = time.perf_counter()
    while time.perf_counter() - start < 0.25:
        call()

    # Time in blocks of about 20 ms, so the clock is read rarely even for small shapes.
    start = time.perf_counter()
    call()
    block = max(1, int(0.02 / max(time.perf_counter() - start, 1e-7)))
    calls = 0
    start = time.perf_counter()
    while True:
        for _ in range(block):
            call()
        calls += block
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return 2.0 * m * k * n * calls / elapsed / 1e9


def main():
    args = parse_args()
    pin_threads(args.threads)
    import numpy as np

    result = {"bench": "cpu_gemm_peak", "threads": args.threads, "numpy": np.__version__, "blas": loaded_blas(), "gflops": {}}
    for shape in args.shapes.split(","):
        m, k, n = parse_shape(shape)
        result["gflops"][shape] = round(gflops_of(m, k, n, args.seconds, np), 3)
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
