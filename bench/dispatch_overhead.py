"""Per-op cost of small tensor ops, eager vs TorchScript: the search tree on a CPU is bound by it.

    python bench/dispatch_overhead.py

A loop of 100 x (add, where, gather, scaled sum) on [256, 11] tensors, the size of one
simulation's per-root tables at B = 256, K = 10; one thread, 3 warm-up calls, mean of 20."""
from __future__ import annotations

import time
import warnings

import torch


def small_ops(a: torch.Tensor, b: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    for _ in range(100):
        c = a + b
        d = torch.where(c > 0, c, b)
        e = d.gather(1, idx)
        a = a * 0.999 + e.sum(1, keepdim=True) * 1e-6
    return a


def per_op_us(fn, *args, calls: int = 20, ops_per_call: int = 400) -> float:
    for _ in range(3):
        fn(*args)
    start = time.perf_counter()
    for _ in range(calls):
        fn(*args)
    return (time.perf_counter() - start) / calls / ops_per_call * 1e6


def main() -> None:
    torch.set_num_threads(1)
    args = (torch.randn(256, 11), torch.randn(256, 11), torch.randint(0, 11, (256, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated in torch >= 2.5
        scripted = torch.jit.script(small_ops)
    print(f"torch {torch.__version__}, 1 thread")
    print(f"eager:       {per_op_us(small_ops, *args):.2f} us/op")
    print(f"TorchScript: {per_op_us(scripted, *args):.2f} us/op")


if __name__ == "__main__":
    main()
