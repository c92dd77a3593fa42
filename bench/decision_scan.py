"""Time of the change-point detector's decision scan: host numpy vs the device kernel, same inputs.

Random posteriors of ``--batch`` videos x ``--snippets`` x ``--latent`` (the THUMOS training batch
and the detector's default Z), every snippet after the first a candidate (level 0's case, the
slowest), both held-state modes. Prints milliseconds per scan (median of ``--repeats``) for the
numpy reference on the host, including the copies a device tensor needs to get there, and for
:func:`wsal.model.decision_scan.scan_decisions` on ``--device`` (synchronised), and whether the
decisions agree.

    python bench/decision_scan.py --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from wsal.model.decision_scan import scan_decisions, scan_decisions_numpy
from wsal.devices import resolve_device


def _median_ms(fn, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--snippets", type=int, default=750)
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    g = torch.Generator().manual_seed(0)
    shape = (args.batch, args.snippets, args.latent)
    mu, logvar = torch.randn(shape, generator=g), 0.3 * torch.randn(shape, generator=g)
    kl_change = 20.0 * torch.rand(shape[:2], generator=g)
    candidates = torch.ones(shape[:2], dtype=torch.bool)
    candidates[:, 0] = False
    on_device = [t.to(device) for t in (mu, logvar, kl_change, candidates)]
    print(f"device {device}, B {args.batch}, T {args.snippets}, Z {args.latent}, every snippet a candidate")
    for segment_mean in (False, True):

        def host() -> tuple[np.ndarray, np.ndarray]:
            arrays = [t.detach().cpu().double().numpy() for t in on_device[:3]]
            return scan_decisions_numpy(*arrays, on_device[3].cpu().numpy(), 2.0, 0.9, True, segment_mean)

        def dev() -> tuple[torch.Tensor, torch.Tensor]:
            return scan_decisions(*on_device, 2.0, 0.9, True, segment_mean)

        host_ms = _median_ms(host, args.repeats, device)
        dev()  # compile / warm up
        dev_ms = _median_ms(dev, args.repeats, device)
        want, _ = host()
        got, _ = dev()
        agree = np.array_equal(got.cpu().numpy(), want)
        print(f"state {'mean' if segment_mean else 'last':<4}  host numpy {host_ms:8.2f} ms   scan_decisions on {device} "
              f"{dev_ms:8.2f} ms   ratio {host_ms / dev_ms:6.1f}x   decisions equal: {agree} ({int(want.sum())} changes)")


if __name__ == "__main__":
    main()
