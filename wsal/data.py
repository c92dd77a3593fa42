"""Training data: a torch Dataset over a feature store and a ground truth, with weak labels only.

Each item is one training video (subset ``DataConfig.train_subset`` of the GT, THUMOS-14 trains on
"validation"): its features shaped to exactly ``num_snippets`` rows, a mask (True = real snippet)
and its video-level multi-hot labels over ``GroundTruth.classes``. Segment times never leave this
module -- they are not even read -- so supervision is weak by construction.

Shaping to N = ``num_snippets`` (``DataConfig.sampling``):

* ``random``: a video longer than N is cut into N consecutive bins (integer edges
  ``floor(i * T / N)``) and one random snippet is taken from each, so temporal order is kept; shorter videos keep all snippets, padded with
  zeros and mask False at the end.
* ``uniform``: the same bins, always their centre snippet (no randomness).
* ``interpolate``: linear interpolation of the (T, D) sequence to exactly N rows, for longer and
  shorter videos alike (ActivityNet-style short sequences); nothing is padded.

**Sampler stand-ins and the kept mask.** A store made with ``wsal extract --sampler`` has, per
video, a ``kept`` mask (features/README.md, section Sampler): skipped snippets hold stand-in
features (the zero-flow feature, and with scope ``all`` the nearest kept rgb row). Consistent
handling means training sees exactly what localization sees: the stand-in rows are real time
positions, so they stay in the sequence with ``mask`` True (localization scores every row of the
store, stand-ins included; dropping them in training only would train on a distribution the
model never meets at test time). The kept mask travels with the features: it is shaped by the
very same indices (``random``/``uniform``; False on padding) or, for ``interpolate``, an output
row counts as kept only when every source row it blends with non-zero weight is kept
(:func:`interpolate_kept`). Each item carries it as ``kept`` (N,) bool and a batch as
:attr:`Batch.kept` (B, N), for losses or diagnostics that want to tell measured rows from
stand-ins; a store without masks gives all True (every snippet had the full pass).

Randomness is a pure function of (seed, step, slot): :class:`StepBatchSampler` yields, for each
optimisation step, the videos of that step (an epoch-wise permutation seeded by (seed, epoch)) and
the seed of each item's sampling. The batch of step s is thus the same whatever the number of
workers, whether the store is preloaded, and whether training was resumed.

**Batches of similar length** (``group_batches`` = G > 1, :data:`GROUP_BATCHES` in training): each epoch's permutation is
cut, on the grid of batch boundaries, into pools of G batches; a pool is sorted by video length
(min(T, N), rounded up to the batch width grid, so that videos of one width stay in random order
and batches differ from epoch to epoch) and its batches are served in a seeded random order
(:func:`epoch_order`). Every video
still comes once per epoch; a batch then holds videos of similar length, and :func:`collate_batch`
crops the padding that all its videos share (to a multiple of :data:`WIDTH_MULTIPLE`), so a batch
of short videos costs a short step. The crop changes no output: the model gives padded snippets no influence on valid ones
(wsal.model.mil, wsal.model.changepoint), and every loss is masked.

**Preloading** (:class:`ResidentVideos`): when the training videos fit in the training device's
memory, they are read once into one tensor there and each batch is gathered on the device from
indices drawn on the host with the same generators as :meth:`WeakVideoDataset.__getitem__`: the
same batches as reading the store, without an HDF5 read or a host-to-device copy of features per
step.

GT training videos missing from the store are a :class:`WsalError` (count and an example),
unless ``skip_missing`` is set, in which case they are listed in ``WeakVideoDataset.skipped``
(and ``wsal train`` prints their count).

What this module does not do: batch inference over whole videos (wsal.inference)
or read segment times.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset, Sampler

from wsal.annotations import GroundTruth
from wsal.errors import WsalError
from wsal.features.store import FeatureStore, StoreMeta

SAMPLING_MODES: tuple[str, ...] = ("random", "uniform", "interpolate")

# A key of the dataset: (video index, seed, step, slot in the batch).
ItemKey = tuple[int, int, int, int]


def sample_indices(num_in: int, num_out: int, mode: str, rng: np.random.Generator | None = None) -> NDArray[np.int64]:
    """Snippet indices that shape a T = ``num_in`` video for ``random``/``uniform`` sampling.

    At most ``num_out`` indices, strictly increasing; all of ``0..num_in-1`` when the video is not longer.

    >>> sample_indices(4, 8, "uniform").tolist()
    [0, 1, 2, 3]
    >>> sample_indices(10, 5, "uniform").tolist()  # centres of bins [0,2), [2,4), ...
    [1, 3, 5, 7, 9]
    """
    if num_in < 1 or num_out < 1:
        raise ValueError(f"num_in and num_out must be >= 1, got {num_in}, {num_out}")
    if num_in <= num_out:
        return np.arange(num_in, dtype=np.int64)
    # Integer bin edges: bins are disjoint and at least one snippet wide, so indices strictly increase.
    edges = (np.arange(num_out + 1, dtype=np.int64) * num_in) // num_out  # (N+1,)
    if mode == "uniform":
        return (edges[:-1] + edges[1:]) // 2
    if mode == "random":
        if rng is None:
            raise ValueError("random sampling needs an rng")
        return rng.integers(edges[:-1], edges[1:]).astype(np.int64)
    raise ValueError(f"sample_indices: mode must be 'random' or 'uniform', got {mode!r}")


def interpolation_grid(num_in: int, num_out: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Where each of ``num_out`` evenly spaced rows falls on a ``num_in``-row sequence (num_in >= 2):
    the left source row (N,) and the weight of the row after it (N,), in [0, 1].

    >>> left, frac = interpolation_grid(2, 3)
    >>> left.tolist(), frac.tolist()
    ([0, 0, 0], [0.0, 0.5, 1.0])
    """
    positions = np.linspace(0.0, num_in - 1, num_out)  # (N,)
    left = np.minimum(np.floor(positions).astype(np.int64), num_in - 2)
    return left, positions - left


def interpolate_sequence(features: NDArray[np.floating], num_out: int) -> NDArray[np.float32]:
    """Linear interpolation of a (T, D) sequence to (num_out, D); first and last rows are kept.

    >>> interpolate_sequence(np.array([[0.0], [2.0]]), 3).ravel().tolist()
    [0.0, 1.0, 2.0]
    """
    feats = np.asarray(features, dtype=np.float32)
    num_in = feats.shape[0]
    if num_in == 1:
        return np.repeat(feats, num_out, axis=0)
    left, frac64 = interpolation_grid(num_in, num_out)
    frac = frac64.astype(np.float32)[:, None]
    return feats[left] * (1.0 - frac) + feats[left + 1] * frac


def interpolate_kept(kept: NDArray[np.bool_], num_out: int) -> NDArray[np.bool_]:
    """The kept mask (T,) -> (num_out,) for :func:`interpolate_sequence`: an output row is kept when
    every source row it blends with non-zero weight is kept.

    >>> interpolate_kept(np.array([True, False, True, True]), 7).astype(int).tolist()
    [1, 0, 0, 0, 1, 1, 1]
    """
    kept = np.asarray(kept, dtype=bool)
    num_in = kept.shape[0]
    if num_in == 1:
        return np.repeat(kept, num_out)
    left, frac = interpolation_grid(num_in, num_out)  # the grid of interpolate_sequence
    eps = 1e-6  # a weight this small is float noise of linspace, not a blend
    return (kept[left] | (frac > 1 - eps)) & (kept[left + 1] | (frac < eps))


@dataclass
class ShapedVideo:
    """One video shaped to N rows (what :func:`shape_video` returns)."""

    features: NDArray[np.float32]  # (N, D)
    mask: NDArray[np.bool_]  # (N,) True = a real snippet (stand-ins included), False = padding
    kept: NDArray[np.bool_]  # (N,) True = the snippet had the sampler's full pass; False on padding


def shape_video(
    features: NDArray[np.floating],
    kept: NDArray[np.bool_] | None,
    num_out: int,
    mode: str,
    rng: np.random.Generator | None = None,
) -> ShapedVideo:
    """Features (T, D) and kept mask (T,) (None = all kept) -> N = ``num_out`` rows (module docstring)."""
    feats = np.asarray(features, dtype=np.float32)
    kept_in = np.ones(feats.shape[0], dtype=bool) if kept is None else np.asarray(kept, dtype=bool)
    if kept_in.shape != (feats.shape[0],):
        raise ValueError(f"kept must be ({feats.shape[0]},), got {kept_in.shape}")
    if mode == "interpolate":
        return ShapedVideo(
            interpolate_sequence(feats, num_out), np.ones(num_out, dtype=bool), interpolate_kept(kept_in, num_out)
        )
    idx = sample_indices(feats.shape[0], num_out, mode, rng)
    out = np.zeros((num_out, feats.shape[1]), dtype=np.float32)
    out[: idx.size] = feats[idx]
    mask = np.zeros(num_out, dtype=bool)
    mask[: idx.size] = True
    kept_out = np.zeros(num_out, dtype=bool)
    kept_out[: idx.size] = kept_in[idx]
    return ShapedVideo(out, mask, kept_out)


def shape_sequence(
    features: NDArray[np.floating], num_out: int, mode: str, rng: np.random.Generator | None = None
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Features (T, D) -> (num_out, D) and mask (num_out,), per the sampling mode (module docstring)."""
    shaped = shape_video(features, None, num_out, mode, rng)
    return shaped.features, shaped.mask


def multi_hot(labels: tuple[str, ...] | list[str], classes: tuple[str, ...]) -> NDArray[np.float32]:
    """Video-level multi-hot vector over ``classes`` (a label seen twice counts once).

    >>> multi_hot(("b", "b", "c"), ("a", "b", "c")).tolist()
    [0.0, 1.0, 1.0]
    """
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros(len(classes), dtype=np.float32)
    for label in labels:
        out[index[label]] = 1.0
    return out


@dataclass
class Batch:
    """One training batch (what collate_batch returns)."""

    features: torch.Tensor  # (B, N, D) float32
    mask: torch.Tensor  # (B, N) bool
    labels: torch.Tensor  # (B, C) float32 multi-hot
    video_index: torch.Tensor  # (B,) int64 index into WeakVideoDataset.video_ids
    kept: torch.Tensor | None = None  # (B, N) bool: rows that had the sampler's full pass (module docstring)

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(
            self.features.to(device, non_blocking=True),
            self.mask.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
            self.video_index.to(device),
            None if self.kept is None else self.kept.to(device, non_blocking=True),
        )


# Training pools this many batches and sorts each pool by video length (module docstring); held-out
# synthetic figures were the same as with random batches (experiments/README.md), steps shorter.
GROUP_BATCHES = 8

WIDTH_MULTIPLE = 32  # batch widths are multiples of this (or num_snippets): few distinct shapes, so the
# convolution and matmul plans that cuDNN, cuBLAS and oneDNN build per input shape are reused


def batch_width(longest: int, num_snippets: int) -> int:
    """Width of a batch whose longest video has ``longest`` valid rows (of at most ``num_snippets``).

    >>> batch_width(33, 750), batch_width(740, 750), batch_width(0, 750)
    (64, 750, 32)
    """
    return min(num_snippets, -(-max(longest, 1) // WIDTH_MULTIPLE) * WIDTH_MULTIPLE)


def collate_batch(items: list[dict]) -> Batch:
    """Stack items into a :class:`Batch`, cropped to :func:`batch_width` of its longest video."""
    width = batch_width(max(int(it["mask"].sum()) for it in items), items[0]["mask"].shape[0])
    return Batch(
        features=torch.stack([it["features"][:width] for it in items]),
        mask=torch.stack([it["mask"][:width] for it in items]),
        labels=torch.stack([it["labels"] for it in items]),
        video_index=torch.tensor([it["video_index"] for it in items], dtype=torch.int64),
        kept=torch.stack([it["kept"][:width] for it in items]),
    )


class WeakVideoDataset(Dataset):
    """Training videos of one GT subset that are in the store; items keyed by :data:`ItemKey`.

    The store is opened lazily in each process that reads (DataLoader workers included).
    """

    def __init__(
        self,
        store_path: str | os.PathLike,
        ground_truth: GroundTruth,
        subset: str,
        num_snippets: int,
        sampling: str,
        skip_missing: bool = False,
    ) -> None:
        if num_snippets < 1:
            raise WsalError(f"data.num_snippets must be >= 1, got {num_snippets}")
        if sampling not in SAMPLING_MODES:
            raise WsalError(f"data.sampling must be one of {', '.join(SAMPLING_MODES)}, got {sampling!r}")
        self.store_path = Path(store_path)
        self.num_snippets = num_snippets
        self.sampling = sampling
        self.classes: tuple[str, ...] = ground_truth.classes
        if not self.classes:
            raise WsalError(f"{ground_truth.path}: no labelled segments, so no classes to train")
        train_gt = ground_truth.subset(subset)
        with FeatureStore(self.store_path) as store:
            self.meta: StoreMeta = store.meta
            stored = set(store.video_ids)
            snippets = {vid: store.num_snippets(vid) for vid in train_gt.video_ids() if vid in stored}
        wanted = train_gt.video_ids()
        if not wanted:
            raise WsalError(f"{ground_truth.path}: subset {subset!r} has no videos")
        self.skipped: list[str] = [vid for vid in wanted if vid not in stored]
        if self.skipped and not skip_missing:
            raise WsalError(
                f"{self.store_path}: {len(self.skipped)} of {len(wanted)} {subset!r} videos of {ground_truth.path} "
                f"are not in the store (e.g. {self.skipped[0]!r}); pass --skip-missing (data.skip_missing = true) to train without them"
            )
        self.video_ids: list[str] = [vid for vid in wanted if vid in stored]
        if not self.video_ids:
            raise WsalError(f"{self.store_path}: none of the {len(wanted)} {subset!r} videos of {ground_truth.path} is in the store")
        self.labels = np.stack([multi_hot(train_gt.videos[vid].labels, self.classes) for vid in self.video_ids])  # (V, C)
        self.num_rows = np.array([snippets[vid] for vid in self.video_ids], dtype=np.int64)  # (V,) T in the store
        # (V,) valid rows of a shaped item: what a batch of similar length is sorted by
        self.lengths = np.full(len(self.video_ids), num_snippets) if sampling == "interpolate" else np.minimum(self.num_rows, num_snippets)
        self._store: FeatureStore | None = None

    def __len__(self) -> int:
        return len(self.video_ids)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_store"] = None  # an open HDF5 handle does not cross process boundaries
        return state

    def _open(self) -> FeatureStore:
        if self._store is None:
            self._store = FeatureStore(self.store_path)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __getitem__(self, key: ItemKey) -> dict:
        index, seed, step, slot = key
        vid = self.video_ids[index]
        video = self._open().read(vid)  # features (T, D), kept (T,) or None
        rng = np.random.default_rng([seed, step, slot]) if self.sampling == "random" else None
        shaped = shape_video(video.features, video.kept, self.num_snippets, self.sampling, rng)
        return {
            "features": torch.from_numpy(shaped.features),
            "mask": torch.from_numpy(shaped.mask),
            "kept": torch.from_numpy(shaped.kept),
            "labels": torch.from_numpy(self.labels[index]),
            "video_index": index,
        }


def available_memory_bytes(device: torch.device) -> int | None:
    """Free memory of ``device`` in bytes (CUDA: the driver's figure; CPU: available RAM), None if unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu" and hasattr(os, "sysconf") and "SC_AVPHYS_PAGES" in os.sysconf_names:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    return None


class ResidentVideos:
    """The training videos of a :class:`WeakVideoDataset` in one tensor on a device (module docstring).

    ``features`` (R + 1, D) float32 holds every video's rows one after another and a final zero
    row that padding reads; :meth:`batch` shapes items exactly as the dataset does (the same
    indices from the same generators, the same float32 interpolation arithmetic) and gathers them
    on the device. The only host-to-device traffic per step is the index arrays.
    """

    def __init__(self, dataset: WeakVideoDataset, device: torch.device | str) -> None:
        self.dataset = dataset
        self.device = torch.device(device)
        rows = dataset.num_rows
        self.offsets = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(np.int64)  # (V,) first row of each video
        self.pad_row = int(rows.sum())
        self.features = torch.zeros((self.pad_row + 1, dataset.meta.feature_dim), dtype=torch.float32, device=self.device)
        self.kept_host = np.zeros(self.pad_row + 1, dtype=bool)  # (R + 1,) False on the padding row
        from tqdm import tqdm

        with FeatureStore(dataset.store_path) as store:
            videos = zip(dataset.video_ids, self.offsets, rows)
            for vid, offset, count in tqdm(videos, total=len(rows), desc="preload", unit="video", leave=False):
                video = store.read(vid)
                self.features[offset : offset + count] = torch.from_numpy(video.features).to(self.device)
                self.kept_host[offset : offset + count] = True if video.kept is None else video.kept
        self.kept = torch.from_numpy(self.kept_host).to(self.device)
        self.labels = torch.from_numpy(dataset.labels).to(self.device)  # (V, C)

    @staticmethod
    def size_bytes(dataset: WeakVideoDataset) -> int:
        return (int(dataset.num_rows.sum()) + 1) * dataset.meta.feature_dim * 4

    @classmethod
    def load_if_fits(cls, dataset: WeakVideoDataset, device: torch.device, share: float = 0.5) -> "ResidentVideos | None":
        """Preload when the videos take at most ``share`` of the device's free memory, else None."""
        free = available_memory_bytes(device)
        if free is None or cls.size_bytes(dataset) > share * free:
            return None
        return cls(dataset, device)

    def _to_device(self, array: NDArray) -> torch.Tensor:
        # From pageable memory with non_blocking: staged at once, so the host never waits for the device.
        return torch.from_numpy(array).to(self.device, non_blocking=True)

    def batch(self, keys: list[ItemKey]) -> Batch:
        """The batch of these item keys: equal to ``collate_batch([dataset[k] for k in keys])``."""
        ds = self.dataset
        indices = np.array([k[0] for k in keys], dtype=np.int64)  # (B,)
        video_index = self._to_device(indices)
        if ds.sampling == "interpolate":
            n = ds.num_snippets
            left = np.zeros((len(keys), n), dtype=np.int64)
            right = np.zeros((len(keys), n), dtype=np.int64)
            frac = np.zeros((len(keys), n, 1), dtype=np.float32)
            kept = np.zeros((len(keys), n), dtype=bool)
            for b, index in enumerate(indices):
                count, offset = int(ds.num_rows[index]), int(self.offsets[index])
                kept[b] = interpolate_kept(self.kept_host[offset : offset + count], n)
                if count == 1:  # interpolate_sequence repeats the row: weight 1 on it, 0 on itself
                    left[b] = right[b] = offset
                    continue
                lo, weight_right = interpolation_grid(count, n)  # the arithmetic of interpolate_sequence
                frac[b] = weight_right.astype(np.float32)[:, None]
                left[b], right[b] = offset + lo, offset + lo + 1
            weight = self._to_device(frac)  # (B, N, 1)
            features = self.features[self._to_device(left)] * (1.0 - weight) + self.features[self._to_device(right)] * weight
            return Batch(
                features=features,
                mask=torch.ones((len(keys), n), dtype=torch.bool, device=self.device),
                labels=self.labels[video_index],
                video_index=video_index,
                kept=self._to_device(kept),
            )
        picks = []
        for index, seed, step, slot in keys:
            rng = np.random.default_rng([seed, step, slot]) if ds.sampling == "random" else None
            picks.append(self.offsets[index] + sample_indices(int(ds.num_rows[index]), ds.num_snippets, ds.sampling, rng))
        width = batch_width(max(len(p) for p in picks), ds.num_snippets)
        rows = np.full((len(keys), width), self.pad_row, dtype=np.int64)  # (B, W): padding reads the zero row
        for b, pick in enumerate(picks):
            rows[b, : len(pick)] = pick
        mask = rows != self.pad_row
        rows_dev = self._to_device(rows)
        return Batch(
            features=self.features[rows_dev],
            mask=self._to_device(mask),
            labels=self.labels[video_index],
            video_index=video_index,
            kept=self.kept[rows_dev],
        )


def epoch_order(
    num_videos: int, batch_size: int, seed: int, epoch: int, lengths: NDArray[np.int64] | None = None, group_batches: int = 0
) -> NDArray[np.int64]:
    """The video indices of one epoch in serving order (module docstring, batches of similar length).

    Without grouping (``lengths`` None or ``group_batches`` <= 1) the seeded permutation of
    (seed, epoch). With it, the same permutation is cut at the stream positions that are multiples
    of ``batch_size`` into pools of ``group_batches`` batches (the epoch's first and last pools
    may be shorter); each pool is sorted by length rounded up to :data:`WIDTH_MULTIPLE` (stable:
    videos of one width stay in the permutation's random order) and its batch-sized blocks are
    put in a random order seeded by (seed, epoch, pool).

    >>> epoch_order(6, 2, 0, 0).tolist() == np.random.default_rng([0, 0]).permutation(6).tolist()
    True
    >>> sorted(epoch_order(6, 2, 0, 0, np.array([5, 1, 4, 2, 6, 3]), 3).tolist())
    [0, 1, 2, 3, 4, 5]
    """
    perm = np.random.default_rng([seed, epoch]).permutation(num_videos)
    if lengths is None or group_batches <= 1:
        return perm
    first = epoch * num_videos  # stream position of the epoch's first video
    cuts = [0]  # pool edges in epoch positions, on the stream's batch grid
    edge = (-first) % batch_size
    if edge:
        cuts.append(min(edge, num_videos))
    while cuts[-1] < num_videos:
        cuts.append(min(cuts[-1] + group_batches * batch_size, num_videos))
    out = np.empty_like(perm)
    for pool, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])):
        # sorted by batch width, not exact length: videos of one width keep the epoch's random
        # order, so the same neighbours do not meet in every epoch
        widths = -(-np.maximum(lengths[perm[lo:hi]], 1) // WIDTH_MULTIPLE)
        members = perm[lo:hi][np.argsort(widths, kind="stable")]
        blocks = [members[i : i + batch_size] for i in range(0, hi - lo, batch_size)]
        order = np.random.default_rng([seed, epoch, pool]).permutation(len(blocks))
        full = [i for i in order if len(blocks[i]) == batch_size]
        partial = [i for i in order if len(blocks[i]) < batch_size]  # the epoch's tail stays at the end
        out[lo:hi] = np.concatenate([blocks[i] for i in full + partial])
    return out


def batch_plan(
    num_videos: int,
    batch_size: int,
    seed: int,
    step: int,
    lengths: NDArray[np.int64] | None = None,
    group_batches: int = 0,
) -> list[int]:
    """Video indices of 0-based optimisation step ``step``: epochs in :func:`epoch_order`.

    Position p = step * batch_size + j falls in epoch p // num_videos; batches may straddle epochs.

    >>> sorted(batch_plan(4, 2, 0, 0) + batch_plan(4, 2, 0, 1))  # one epoch = every video once
    [0, 1, 2, 3]
    """
    orders: dict[int, NDArray[np.int64]] = {}

    def order_of(epoch: int) -> NDArray[np.int64]:
        if epoch not in orders:
            orders[epoch] = epoch_order(num_videos, batch_size, seed, epoch, lengths, group_batches)
        return orders[epoch]

    return _step_videos(step, batch_size, num_videos, order_of)


def _step_videos(step: int, batch_size: int, num_videos: int, order_of: Callable[[int], NDArray[np.int64]]) -> list[int]:
    """Video indices at stream positions step * batch_size + j, from each epoch's serving order."""
    out = []
    for j in range(batch_size):
        position = step * batch_size + j
        out.append(int(order_of(position // num_videos)[position % num_videos]))
    return out


class StepBatchSampler(Sampler):
    """Yields the item keys of steps ``start_step .. stop_step - 1`` (0-based), one list per step.

    ``lengths`` (V,) and ``group_batches`` > 1 serve batches of similar length (:func:`epoch_order`).
    """

    def __init__(
        self,
        num_videos: int,
        batch_size: int,
        seed: int,
        start_step: int,
        stop_step: int,
        lengths: NDArray[np.int64] | None = None,
        group_batches: int = 0,
    ) -> None:
        if num_videos < 1 or batch_size < 1:
            raise ValueError(f"num_videos and batch_size must be >= 1, got {num_videos}, {batch_size}")
        if lengths is not None and len(lengths) != num_videos:
            raise ValueError(f"lengths must have num_videos = {num_videos} entries, got {len(lengths)}")
        self.num_videos = num_videos
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.stop_step = stop_step
        self.lengths = None if lengths is None else np.asarray(lengths, dtype=np.int64)
        self.group_batches = group_batches

    def __len__(self) -> int:
        return max(0, self.stop_step - self.start_step)

    def __iter__(self) -> Iterator[list[ItemKey]]:
        orders: dict[int, NDArray[np.int64]] = {}  # the epochs in use (at most two at a time)

        def order_of(epoch: int) -> NDArray[np.int64]:
            if epoch not in orders:
                for old in [e for e in orders if e < epoch - 1]:
                    del orders[old]
                orders[epoch] = epoch_order(self.num_videos, self.batch_size, self.seed, epoch, self.lengths, self.group_batches)
            return orders[epoch]

        for step in range(self.start_step, self.stop_step):
            plan = _step_videos(step, self.batch_size, self.num_videos, order_of)
            yield [(index, self.seed, step, slot) for slot, index in enumerate(plan)]
