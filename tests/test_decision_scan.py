"""The decision scan: the device path (Triton kernel) gives today's host decisions.

The kernel is checked three ways: under Triton's CPU interpreter (skipped where Triton is not
installed), on CUDA (skipped without a GPU), and through the whole detector on CUDA. Inputs are
random and also the real scan inputs of the detector on generated videos, recorded on CPU.
Decisions must be equal; scores agree to 1e-9 relative (the two sum a KL's terms in different
orders, and the running average carries the rounding along the video).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import wsal.model.changepoint as changepoint_module
from wsal.config import ChangePointConfig
from wsal.model.changepoint import ChangePointDetector
from wsal.model.decision_scan import initial_average, scan_decisions, scan_decisions_numpy
from research.piecewise import piecewise_sequence

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _has_triton() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def random_inputs(seed: int, b: int = 4, t: int = 60, z: int = 5, dtype=torch.float32) -> dict:
    """Scan inputs with blocked snippets, a video without candidates and a short video (padding)."""
    g = torch.Generator().manual_seed(seed)
    cand = torch.rand(b, t, generator=g) < 0.7
    cand[:, 0] = False
    cand[1, t // 2 :] = False  # a short video: padding after T/2
    cand[2] = False  # no candidate at all
    return {
        "mu": torch.randn(b, t, z, generator=g).to(dtype),
        "logvar": (0.5 * torch.randn(b, t, z, generator=g)).to(dtype),
        "kl_change": (3.0 * torch.rand(b, t, generator=g)).to(dtype),
        "candidates": cand,
    }


def recorded_inputs(seed: int = 3, t: int = 150) -> list[dict]:
    """The inputs of every level's scan when the detector runs (CPU, eval mode) on generated videos."""
    rng = np.random.default_rng(seed)
    seqs = [piecewise_sequence(rng, num_snippets=t, feature_dim=24) for _ in range(4)]
    x = torch.from_numpy(np.stack([s.features for s in seqs]))
    mask = torch.ones(x.shape[:2], dtype=torch.bool)
    mask[1, t - 40 :] = False
    torch.manual_seed(seed)
    det = ChangePointDetector(24, ChangePointConfig(), hidden_dim=32, latent_dim=8).eval()
    seen: list[dict] = []
    real = changepoint_module.scan_decisions

    def record(mu, logvar, kl_change, candidates, *args):
        seen.append({"mu": mu.clone(), "logvar": logvar.clone(), "kl_change": kl_change.clone(), "candidates": candidates.clone()})
        return real(mu, logvar, kl_change, candidates, *args)

    changepoint_module.scan_decisions = record
    try:
        with torch.no_grad():
            det(x, mask)
    finally:
        changepoint_module.scan_decisions = real
    assert len(seen) == 3 and all(int(s["candidates"].sum()) > 0 for s in seen)
    return seen


def reference(inputs: dict, use_change_prior: bool, segment_mean: bool):
    return scan_decisions_numpy(
        inputs["mu"].double().numpy(),
        inputs["logvar"].double().numpy(),
        inputs["kl_change"].double().numpy(),
        inputs["candidates"].numpy(),
        2.0,
        0.9,
        use_change_prior,
        segment_mean,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_initial_average_is_numpys_nanmedian(seed):
    inputs = random_inputs(seed, b=5, t=41)
    inputs["candidates"][3, 1:] = False
    inputs["candidates"][3, 7] = True  # a single candidate (odd count 1)
    inputs["candidates"][4, 1:] = False
    inputs["candidates"][4, [5, 9]] = True  # two candidates (even count): their mean
    mu, logvar = inputs["mu"].double().numpy(), inputs["logvar"].double().numpy()
    var = np.exp(logvar)
    adjacent = 0.5 * (logvar[:, :-1] - logvar[:, 1:] + (var[:, 1:] + (mu[:, 1:] - mu[:, :-1]) ** 2) / var[:, :-1] - 1.0).sum(-1)
    got = initial_average(inputs["mu"], inputs["logvar"], inputs["candidates"]).numpy()
    for b in range(5):
        cand = inputs["candidates"][b, 1:].numpy()
        want = float(np.median(adjacent[b][cand])) if cand.any() else 0.0
        assert got[b] == pytest.approx(want, rel=1e-14, abs=0.0)  # torch and numpy sum the Z terms in different orders
    assert got[2] == 0.0 and got[4] == pytest.approx((adjacent[4, 4] + adjacent[4, 8]) / 2, rel=1e-14)
    assert got[3] == pytest.approx(adjacent[3, 6], rel=1e-14)


def test_scan_decisions_on_cpu_is_the_reference():
    inputs = random_inputs(4)
    change, score = scan_decisions(**inputs, gamma=2.0, momentum=0.9, use_change_prior=True, segment_mean=True)
    want_change, want_score = reference(inputs, True, True)
    assert change.dtype == torch.bool and score.dtype == torch.float64
    assert np.array_equal(change.numpy(), want_change) and np.array_equal(score.numpy(), want_score)


_INTERPRETER_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import torch
    from test_decision_scan import random_inputs, recorded_inputs, reference
    from wsal.model.decision_scan import initial_average
    from wsal.model.decision_scan_triton import scan_decisions_cuda

    cases = [random_inputs(seed) for seed in range(3)] + [random_inputs(5, dtype=torch.bfloat16)] + recorded_inputs()
    checked = 0
    for inputs in cases:
        for use_change_prior in (False, True):
            for segment_mean in (False, True):
                want_change, want_score = reference(inputs, use_change_prior, segment_mean)
                avg = initial_average(inputs["mu"], inputs["logvar"], inputs["candidates"])
                change, score = scan_decisions_cuda(**inputs, avg=avg, gamma=2.0, momentum=0.9,
                                                    use_change_prior=use_change_prior, segment_mean=segment_mean)
                assert np.array_equal(change.numpy(), want_change), (use_change_prior, segment_mean)
                np.testing.assert_allclose(score.numpy(), want_score, rtol=1e-9, atol=1e-12)
                assert (score.numpy() == 0).sum() == (want_score == 0).sum()
                checked += int(want_change.sum())
    print("changes checked", checked)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not _has_triton(), reason="needs Triton (its CPU interpreter runs the kernel)")
@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU runs the compiled kernel instead (the CUDA tests below)")
def test_triton_kernel_under_the_interpreter_matches_the_reference(tmp_path):
    script = tmp_path / "run_kernel.py"
    script.write_text(_INTERPRETER_SCRIPT)
    tests = Path(__file__).parent  # the script imports this file's helpers, and they the research helpers
    paths = [str(tests), str(tests.parent / "bench"), os.environ.get("PYTHONPATH")]
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=os.pathsep.join(filter(None, paths)))
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    checked = int(done.stdout.split("changes checked")[1])
    assert checked > 100  # the cases do fire: decisions were compared, not only empty outputs


@needs_cuda
@pytest.mark.parametrize("case", ["random", "bf16", "recorded"])
def test_cuda_scan_matches_the_reference(case):
    cases = {"random": [random_inputs(7)], "bf16": [random_inputs(8, dtype=torch.bfloat16)], "recorded": recorded_inputs()}[case]
    for inputs in cases:
        for use_change_prior in (False, True):
            for segment_mean in (False, True):
                want_change, want_score = reference(inputs, use_change_prior, segment_mean)
                on_gpu = {k: v.cuda() for k, v in inputs.items()}
                change, score = scan_decisions(**on_gpu, gamma=2.0, momentum=0.9, use_change_prior=use_change_prior, segment_mean=segment_mean)
                assert change.is_cuda and score.is_cuda
                assert np.array_equal(change.cpu().numpy(), want_change)
                np.testing.assert_allclose(score.cpu().numpy(), want_score, rtol=1e-9, atol=1e-12)


@needs_cuda
def test_detector_on_cuda_decides_like_cpu_on_the_same_posteriors():
    """The whole detector on CUDA in float32 (TF32 off): its scan inputs moved back to the CPU
    reference give its own decisions, and its change points match the CPU run's almost everywhere."""
    rng = np.random.default_rng(11)
    seqs = [piecewise_sequence(rng, num_snippets=300, feature_dim=24) for _ in range(6)]
    x = torch.from_numpy(np.stack([s.features for s in seqs]))
    mask = torch.ones(x.shape[:2], dtype=torch.bool)
    mask[2, 200:] = False
    torch.manual_seed(0)
    det = ChangePointDetector(24, ChangePointConfig(), hidden_dim=32, latent_dim=8).eval()
    with torch.no_grad():
        cpu = det(x, mask)
    det = det.cuda()
    seen: list = []
    real = changepoint_module.scan_decisions

    def record(mu, logvar, kl_change, candidates, *args):
        out = real(mu, logvar, kl_change, candidates, *args)
        seen.append(((mu, logvar, kl_change, candidates, *args), out))
        return out

    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    changepoint_module.scan_decisions = record
    try:
        with torch.no_grad():
            gpu = det(x.cuda(), mask.cuda())
    finally:
        changepoint_module.scan_decisions = real
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
    for (mu, logvar, kl_change, candidates, *args), (change, score) in seen:
        want_change, want_score = scan_decisions_numpy(
            mu.double().cpu().numpy(), logvar.double().cpu().numpy(), kl_change.double().cpu().numpy(), candidates.cpu().numpy(), *args
        )
        assert np.array_equal(change.cpu().numpy(), want_change)
        np.testing.assert_allclose(score.cpu().numpy(), want_score, rtol=1e-9, atol=1e-12)
    agree = (gpu.change_points.cpu() == cpu.change_points).float().mean()
    assert agree > 0.995  # float32 convolutions on two devices round differently; decisions follow them
