"""Batch-norm statistics for random-weight I3D, so that its features vary between clips.

An I3D with random weights and batch-norm statistics at their initial values (mean 0, variance 1)
gives features that hardly vary between clips; :func:`calibrate_batch_norm` sets the statistics to
the averages over some clips, leaving the convolution weights random. Benchmarks that compare
features (bench/sampler_distill.py, bench/tvl1_agreement.py) use it; a Kinetics checkpoint needs
none of it.

What this module does not do: load or save checkpoints (wsal.features.i3d).
"""

from __future__ import annotations

import torch


def calibrate_batch_norm(model: torch.nn.Module, clips: torch.Tensor, batch_size: int = 16) -> None:
    """Set every batch-norm layer's running mean/variance to the averages over ``clips`` (N, C, L, H, W)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches
    model.train()
    with torch.no_grad():
        for first in range(0, len(clips), batch_size):
            model(clips[first : first + batch_size])
    model.eval()
