"""Videos -> I3D snippet features in a feature store: a pipeline of decode/flow workers and inference.

Per video (:func:`process_video`, run in worker processes): decode to ``fps`` by timestamps and
resize/crop (features/decode.py), cut snippets under the tail policy and compute the optical flow
each snippet needs (features/snippets.py, features/flow.py), and send the snippets on as
messages. The main process (:func:`extract_store`) runs I3D on them (features/i3d.py) while the
workers decode the next ones. Each worker has its own pipe and is handed one video at a time;
its ``send`` blocks until the main process reads, so at most about one message (``chunk_frames``
frames' worth of snippets) per worker is in flight: decoding, flow and inference overlap and
memory stays bounded. Each finished video is staged through
:class:`wsal.features.store.StoreWriter` and the store is committed at the end.

**Snippets and tail policy.** Snippet ``i`` is frames ``[i*stride, i*stride + clip_len)`` at
``fps`` (default 25, 16, 16: 0.64 s), as in :class:`wsal.timeline.SnippetGrid`. The last,
partial snippet is kept when it has at least half a clip of frames (8 of 16), padded by
repeating the last frame; a video shorter than that still gets one snippet. A 60 s video at 25
fps (1500 frames) gives 93 full snippets and a 12-frame tail: 94 rows. Flow: snippet ``i`` uses
the flow fields from frame ``j`` to ``j + 1`` for its 16 frames (17 frames), the fields past the
video's end repeat the last one (all zero for a one-frame video).

**Model inputs.** RGB: pixel / 127.5 - 1. Flow: clipped to +-20 px and divided by 20
(``flow_to_i3d_input``), sent from the workers as float16. Inference batches are consecutive
snippets of one video, ``batch_size`` at a time from the video's first snippet, so a video's
features do not depend on which other videos ran, in what order, in how many shards or with how
many workers. Feature columns: rgb 1024, then flow 1024 (rgb only with ``flow="none"``).

**Sampler** (``sampler="motion"``, or ``"learned"`` with a skim model of features/skim.py as
the scorer): the worker first runs the coarse pass and budget policy of features/sampler.py;
flow is then computed only for fields that kept snippets use, the flow I3D runs on kept snippets only, and skipped snippets get the feature of an all-zero flow clip; with
``sampler_scope="all"`` the rgb I3D also runs on kept snippets only and skipped rows copy the
nearest kept row, and (``seek_min_s`` > 0) the decoder skips frames no kept snippet uses,
seeking over skipped stretches that save at least ``seek_min_s`` seconds of decoding and
stopping after the last needed frame (:class:`~wsal.features.decode.SeekPlan`; kept snippets
get the same frames and flow fields as without it, skipped ones all-zero placeholder frames,
which nothing uses). The mask is stored as the video's ``kept``.

**Robustness.** A video that cannot be decoded (:class:`~wsal.features.decode.DecodeError`) is
recorded in the store's failure list and the run goes on; so is a video whose worker process
dies (e.g. FFmpeg crashing on a broken file); the worker is replaced. Any other error in a worker
is a bug: the run stops with its traceback, keeping the staged videos. Videos already in the
store or staged by an interrupted run are skipped; failed ones are retried.

What this module does not do: parse the command line, choose devices from the environment, or
write HDF5 itself.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import multiprocessing
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Union

import numpy as np
from numpy.typing import NDArray

from wsal.errors import WsalError
from wsal.features.store import is_valid_video_id
from wsal.timeline import SnippetGrid

if TYPE_CHECKING:  # heavy modules (PyAV, OpenCV, h5py, torch) are imported where used: `wsal --help` stays fast
    from multiprocessing.connection import Connection

    import torch

    from wsal.features.decode import DecodeConfig, SeekPlan, VideoDecoder
    from wsal.features.sampler import CoarseSignals
    from wsal.features.skim import Skim
    from wsal.features.snippets import SnippetAssembler, SnippetBatch
    from wsal.features.store import StoreMeta, StoreWriter

FLOW_METHODS = ("tvl1", "farneback", "dis", "none")
FLOW_DEVICES = ("opencv", "cpu", "cuda")  # where TV-L1 runs: OpenCV, or features/tvl1.py in torch on that device (or cuda:N)
VIDEO_EXTENSIONS = (
    ".mp4", ".avi", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".m4v", ".flv", ".wmv", ".3gp", ".ogv", ".ts",
)  # fmt: skip
I3D_FEATURE_DIM = 1024
PRECISIONS = ("bf16", "fp16", "fp32")
SAMPLERS = ("none", "motion", "learned")
SAMPLER_SCOPES = ("flow", "all")


@dataclass(frozen=True)
class ExtractConfig:
    """Everything that shapes the features or the run (the CLI's defaults come from here)."""

    fps: float = 25.0  # frame rate snippets are cut at
    snippet_frames: int = 16  # frames per snippet (I3D clip length)
    stride_frames: int = 0  # frames between snippet starts; 0 = snippet_frames (no overlap)
    resize_short: int = 256  # shorter side after resizing, pixels
    crop: int = 224  # centre crop, pixels
    flow: str = "tvl1"  # tvl1 | farneback | dis | none (rgb stream only)
    # opencv | cpu | cuda[:N]: OpenCV's TV-L1 (and every other method), or the torch TV-L1 of
    # features/tvl1.py on that device, run in the decode workers (tvl1 only; the CLI's "auto" picks)
    flow_device: str = "opencv"
    batch_size: int = 32  # snippets per I3D forward pass
    workers: int = 2  # decode/flow processes; 0 = decode in the main process (no overlap)
    precision: str = "bf16"  # CUDA autocast dtype: bf16 | fp16 | fp32 (CPU always runs fp32)
    chunk_frames: int = 128  # decoded frames per chunk (bounds worker memory)
    sampler: str = "none"  # none | motion | learned: a coarse pass picks the snippets that get the fine pass (features/sampler.py)
    budget: float = 0.5  # sampler: largest share of a video's snippets that get the fine pass
    sampler_model: str = ""  # learned sampler: skim model file of `wsal sampler-fit` (features/skim.py)
    sampler_scope: str = "flow"  # flow: skip flow for unkept snippets; all: skip rgb I3D too (nearest kept row)
    seek_min_s: float = 2.0  # scope all: seek over skipped stretches that save decoding at least this long, seconds; 0 = never seek

    def __post_init__(self) -> None:
        if self.flow not in FLOW_METHODS:
            raise WsalError(f"unknown flow method '{self.flow}' (choose from {', '.join(FLOW_METHODS)})")
        if self.flow_device.split(":")[0] not in FLOW_DEVICES:
            raise WsalError(f"unknown flow device '{self.flow_device}' (choose from {', '.join(FLOW_DEVICES)})")
        if self.flow_device != "opencv" and self.flow != "tvl1":
            raise WsalError(f"flow device '{self.flow_device}' runs TV-L1 only; --flow {self.flow} runs in OpenCV (--flow-device opencv)")
        if self.precision not in PRECISIONS:
            raise WsalError(f"unknown precision '{self.precision}' (choose from {', '.join(PRECISIONS)})")
        if self.snippet_frames < 1 or self.stride_frames < 0:
            raise WsalError(f"snippet_frames must be >= 1 and stride_frames >= 0, got {self.snippet_frames}, {self.stride_frames}")
        if self.sampler not in SAMPLERS or self.sampler_scope not in SAMPLER_SCOPES:
            raise WsalError(f"sampler must be one of {SAMPLERS} and sampler_scope one of {SAMPLER_SCOPES}")
        if not 0 < self.budget <= 1:
            raise WsalError(f"budget must be in (0, 1], got {self.budget}")
        if not 0 <= self.seek_min_s < float("inf"):
            raise WsalError(f"seek_min_s must be a number of seconds >= 0 (0 = never seek), got {self.seek_min_s}")
        if self.sampler != "none" and self.flow == "none" and self.sampler_scope == "flow":
            raise WsalError("the motion sampler with flow 'none' has nothing to skip: use sampler scope 'all' (--sampler-scope all)")
        if (self.sampler == "learned") != bool(self.sampler_model):
            raise WsalError("the learned sampler needs a skim model (sampler_model, from `wsal sampler-fit`), and only it takes one")
        if self.batch_size < 1 or self.workers < 0 or self.chunk_frames < 1:
            raise WsalError("batch_size and chunk_frames must be >= 1, workers >= 0")
        try:
            self.decode_config()
            self.grid()
        except ValueError as err:
            raise WsalError(str(err)) from None

    @property
    def streams(self) -> tuple[str, ...]:
        return ("rgb",) if self.flow == "none" else ("rgb", "flow")

    def grid(self) -> SnippetGrid:
        return SnippetGrid(self.fps, self.snippet_frames, self.stride_frames or self.snippet_frames)

    def decode_config(self) -> "DecodeConfig":
        from wsal.features.decode import DecodeConfig

        return DecodeConfig(fps=self.fps, resize_short=self.resize_short, crop=self.crop, chunk_frames=self.chunk_frames)

    def store_meta(self, backbone: str) -> "StoreMeta":
        from wsal.features.store import StoreMeta

        grid = self.grid()
        return StoreMeta(
            fps=grid.fps,
            clip_len_frames=grid.clip_len_frames,
            stride_frames=grid.stride_frames,
            streams=self.streams,
            stream_dims=(I3D_FEATURE_DIM,) * len(self.streams),
            backbone=backbone,
        )


@dataclass(frozen=True)
class VideoTask:
    video_id: str
    path: Path


# Messages from process_video (and the worker loop) to the inference loop.
@dataclass
class Snippets:
    video_id: str
    first_index: int
    rgb: NDArray[np.uint8]  # (n, L, H, W, 3)
    flow: NDArray[np.float16] | None  # (n, L, H, W, 2) in [-1, 1], None without flow
    kept: NDArray[np.bool_] | None = None  # (n,) the sampler's choice, None without a sampler


@dataclass
class Finished:
    video_id: str
    num_frames: int
    duration_s: float
    num_snippets: int


@dataclass
class Failed:
    video_id: str
    reason: str


@dataclass
class Crashed:
    video_id: str
    traceback: str


Message = Union[Snippets, Finished, Failed, Crashed]


@dataclass
class ExtractSummary:
    """What a run did."""

    done: list[str] = field(default_factory=list)  # videos extracted in this run
    skipped: list[str] = field(default_factory=list)  # already in the store or staged
    failed: dict[str, str] = field(default_factory=dict)  # video -> reason
    snippets: int = 0
    seconds: float = 0.0
    stored: int = 0  # videos in the committed store


def find_videos(inputs: Iterable[str | os.PathLike]) -> list[VideoTask]:
    """Files given by name, plus files with a video extension found (recursively) in folders.

    Sorted by video id (= file stem). A missing input, no video at all, a duplicate stem or a stem
    the store cannot hold (starting with ``_``) is a WsalError.
    """
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths.extend(
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS and not f.name.startswith(".")
            )
        elif p.is_file():
            paths.append(p)
        else:
            raise WsalError(f"{p}: no such file or folder")
    if not paths:
        raise WsalError(
            f"no videos found in {', '.join(str(i) for i in inputs)} (extensions: {' '.join(VIDEO_EXTENSIONS)})"
        )
    by_id: dict[str, Path] = {}
    for p in paths:
        vid = p.stem
        if vid in by_id and by_id[vid].resolve() != p.resolve():
            raise WsalError(f"two videos have the id '{vid}' (ids are file stems): {by_id[vid]} and {p}")
        if not is_valid_video_id(vid):
            raise WsalError(f"{p}: video id '{vid}' (the file stem) cannot be stored")
        by_id[vid] = p
    return [VideoTask(vid, by_id[vid]) for vid in sorted(by_id)]


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``.

    >>> parse_shard("1/4")
    (1, 4)
    """
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise WsalError(f"--shard must look like I/N (e.g. 0/4), got '{text}'") from None
    if count < 1 or not 0 <= index < count:
        raise WsalError(f"--shard {text}: need N >= 1 and 0 <= I < N")
    return index, count


def select_shard(videos: list[VideoTask], index: int, count: int) -> list[VideoTask]:
    """Every ``count``-th video of the sorted list, starting at ``index``."""
    return videos[index::count]


def file_digest(path: str | os.PathLike) -> str:
    """First 12 hex digits of the file's SHA-256 (names weights in the store's backbone note)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise WsalError(f"{path}: file not found") from None
    return digest.hexdigest()[:12]


def backbone_note(config: ExtractConfig, rgb_weights: Path, flow_weights: Path | None) -> str:
    """The store's ``backbone``: I3D, the weights' digests, flow method and frame geometry.

    Resuming or merging with other weights or settings is then refused by the store.
    """
    parts = [f"i3d rgb:{file_digest(rgb_weights)}"]
    if flow_weights is not None:
        method = config.flow if config.flow_device == "opencv" else f"{config.flow}-torch"  # the two differ slightly
        parts.append(f"flow:{method}:{file_digest(flow_weights)}")
    parts.append(f"short{config.resize_short}/crop{config.crop}")
    if config.sampler != "none":
        parts.append(f"sampler:{config.sampler}/budget{config.budget:g}/scope-{config.sampler_scope}")
    if config.sampler_model:
        parts.append(f"skim:{file_digest(config.sampler_model)}")
    return " ".join(parts)


def process_video(task: VideoTask, config: ExtractConfig) -> Iterator[Message]:
    """Decode one video and yield its snippets (Snippets...), then Finished, or Failed on a DecodeError."""
    from wsal.features.decode import DecodeError, VideoDecoder
    from wsal.features.snippets import SnippetAssembler

    grid = config.grid()
    flow_fn = None
    if config.flow != "none":
        from wsal.features.flow import compute_flow

        flow_device = None if config.flow_device == "opencv" else config.flow_device
        flow_fn = functools.partial(compute_flow, method=config.flow, device=flow_device)
    try:
        kept = None
        seek = None
        if config.sampler != "none":
            from wsal.features.sampler import FieldMaskedFlow, SamplerConfig, flow_fields_needed, plan_video

            if config.sampler == "learned":
                skim = _load_skim(config.sampler_model)
                sampler_config = dataclasses.replace(skim.sampler, budget=config.budget)
                plan = plan_video(task.path, grid, sampler_config, skim.scores)
            else:
                plan = plan_video(task.path, grid, SamplerConfig(budget=config.budget))
            kept = plan.kept
            if flow_fn is not None:  # flow only where a kept snippet needs it; the rest stays zero (unused)
                flow_fn = FieldMaskedFlow(flow_fn, flow_fields_needed(kept, grid, plan.signals.num_frames))
            if config.sampler_scope == "all" and config.seek_min_s > 0:  # skipped snippets need no pixels
                seek = seek_plan_for(plan.kept, grid, plan.signals, flow_fn is not None, config.seek_min_s)
        with VideoDecoder(task.path, config.decode_config(), seek) as decoder:
            assembler = SnippetAssembler(grid, flow_fn)
            count = 0
            for batch in _batches(decoder, assembler):
                if kept is not None and count + len(batch) > len(kept):
                    raise RuntimeError(f"{task.path}: the sampler planned {len(kept)} snippets, decoding gives more")
                yield _snippets_message(task.video_id, batch, None if kept is None else kept[count : count + len(batch)])
                count += len(batch)
            result = decoder.result
        if kept is not None and count != len(kept):
            raise RuntimeError(f"{task.path}: the sampler planned {len(kept)} snippets, decoding gave {count}")
    except DecodeError as err:
        yield Failed(task.video_id, str(err))
        return
    yield Finished(task.video_id, result.num_frames, result.duration_s, count)


def seek_plan_for(kept: NDArray[np.bool_], grid: SnippetGrid, signals: "CoarseSignals", flow: bool, min_skip_s: float) -> "SeekPlan":
    """The decoder's seek plan for a sampled video: the frames kept snippets use, the coarse pass's keyframes."""
    from wsal.features.decode import SeekPlan
    from wsal.features.sampler import frames_needed

    wanted = frames_needed(kept, grid, signals.num_frames, flow)
    return SeekPlan(wanted, signals.seek_points_s, signals.num_frames, signals.duration_s, min_skip_s)


@functools.lru_cache(maxsize=2)
def _load_skim(path: str) -> "Skim":
    """The learned sampler's model, loaded once per process."""
    from wsal.features.skim import load_skim

    return load_skim(path)


def _batches(decoder: "VideoDecoder", assembler: "SnippetAssembler") -> Iterator["SnippetBatch"]:
    for chunk in decoder.chunks():
        batch = assembler.push(chunk)
        if batch is not None:
            yield batch
    batch = assembler.finish()
    if batch is not None:
        yield batch


def _snippets_message(video_id: str, batch: "SnippetBatch", kept: NDArray[np.bool_] | None) -> Snippets:
    flow = None
    if batch.flow is not None:
        from wsal.features.flow import flow_to_i3d_input

        flow = flow_to_i3d_input(batch.flow).astype(np.float16)
    return Snippets(video_id, batch.first_index, batch.rgb, flow, kept)


def _worker_main(conn: "Connection", config: ExtractConfig, cv_threads: int) -> None:
    """Worker process: receive a VideoTask, send its messages back, repeat until it receives None.

    ``conn.send`` is synchronous (no feeder thread), so every message sent before a crash reaches
    the main process, and a worker blocked in ``send`` is what bounds the memory in flight.
    """
    import cv2

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C and stops us
    cv2.setNumThreads(cv_threads)
    while (task := conn.recv()) is not None:
        try:
            for message in process_video(task, config):
                conn.send(message)
        except Exception:  # a bug, not a bad video: report it with its traceback
            conn.send(Crashed(task.video_id, traceback.format_exc()))


class _WorkerPool:
    """Spawned decode/flow processes, one pipe each; videos are handed out one at a time.

    The pool knows which video each worker holds, so when a worker dies (e.g. FFmpeg crashes on
    a broken file) its video comes back as Failed and a new worker takes its place. ``target`` is
    the worker function (``_worker_main``; tests pass a stand-in with its signature).
    """

    def __init__(self, tasks: list[VideoTask], config: ExtractConfig, target: Callable[..., None] = _worker_main) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._config = config
        self._target = target
        self._todo = list(reversed(tasks))  # popped from the end: first task first
        # OpenCV threads per worker: the cores shared among all workers on this machine (torchrun
        # starts LOCAL_WORLD_SIZE extraction processes per machine, each with its own workers).
        processes = config.workers * int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        self._cv_threads = max(1, (os.cpu_count() or 1) // processes)
        self._workers: list[_Worker] = []
        for _ in range(min(config.workers, len(tasks))):
            self._workers.append(self._start())

    def _start(self) -> "_Worker":
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=self._target, args=(child, self._config, self._cv_threads), daemon=True)
        proc.start()
        child.close()
        worker = _Worker(proc, parent)
        self._assign(worker)
        return worker

    def _assign(self, worker: "_Worker") -> None:
        """Send the next video (None = exit). If the worker is already gone the video goes back."""
        worker.task = self._todo.pop() if self._todo else None
        try:
            worker.conn.send(worker.task)
        except OSError:
            if worker.task is not None:
                self._todo.append(worker.task)
            worker.task = None
            raise

    def messages(self) -> Iterator[Message]:
        """Messages as they arrive, until every video is finished or failed."""
        from multiprocessing.connection import wait

        while any(w.task is not None for w in self._workers):
            busy = [w for w in self._workers if w.task is not None]
            ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy]))
            for worker in busy:
                if worker.conn in ready or worker.proc.sentinel in ready:
                    yield from self._read(worker)

    def _read(self, worker: "_Worker") -> Iterator[Message]:
        try:
            while worker.task is not None and worker.conn.poll():
                message = worker.conn.recv()
                yield message
                if isinstance(message, (Finished, Failed)):
                    self._assign(worker)
            if worker.task is not None or worker.proc.is_alive():
                return
        except (EOFError, OSError):
            pass
        # The worker is gone and everything it sent has been read.
        worker.proc.join(timeout=5)
        self._workers.remove(worker)
        worker.conn.close()
        if self._todo:
            self._workers.append(self._start())
        if worker.task is not None:
            code = worker.proc.exitcode
            yield Failed(worker.task.video_id, f"worker process died (exit code {code}) while decoding {worker.task.path}")

    def close(self) -> None:
        for worker in self._workers:
            if worker.proc.is_alive():
                worker.proc.terminate()
        for worker in self._workers:
            worker.proc.join(timeout=5)
            worker.conn.close()


@dataclass
class _Worker:
    proc: multiprocessing.process.BaseProcess
    conn: "Connection"
    task: VideoTask | None = None


class _Embedder:
    """Runs the I3D models over one video's snippets, ``batch_size`` snippets per forward pass.

    With a sampler mask, flow features are computed for kept snippets only and unkept ones get the
    feature of an all-zero flow clip (computed once); with ``skip_rgb`` the rgb stream is computed
    for kept snippets only and unkept rows are left NaN, to be filled per video (``fill_skipped``).
    """

    def __init__(
        self, models: dict[str, "torch.nn.Module"], device: str, batch_size: int, precision: str, skip_rgb: bool = False
    ) -> None:
        import torch

        self.models = models
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.skip_rgb = skip_rgb
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[precision]
        self._zero_flow: NDArray[np.float32] | None = None  # (1024,)
        for model in models.values():
            model.to(self.device).eval()

    def __call__(
        self, rgb: NDArray[np.uint8], flow: NDArray[np.float16] | None, kept: NDArray[np.bool_] | None = None
    ) -> NDArray[np.float32]:
        """(n, L, H, W, 3) uint8, (n, L, H, W, 2) float16, (n,) bool -> (n, 1024 * streams) float32."""
        import torch

        n = len(rgb)
        rows = np.arange(n) if kept is None else np.flatnonzero(kept)
        rgb_rows = rows if self.skip_rgb else np.arange(n)
        rgb_feats = np.full((n, I3D_FEATURE_DIM), np.nan, np.float32)
        with torch.inference_mode():
            if len(rgb_rows):
                # (n, L, H, W, C) -> (n, C, L, H, W); the uint8 -> float step runs on the device.
                clips = torch.from_numpy(rgb[rgb_rows]).to(self.device).permute(0, 4, 1, 2, 3).float().div_(127.5).sub_(1.0)
                rgb_feats[rgb_rows] = self._run("rgb", clips)
            if "flow" not in self.models:
                return rgb_feats
            if flow is None:
                raise RuntimeError("flow model given but the snippets carry no flow")
            flow_feats = np.empty((n, I3D_FEATURE_DIM), np.float32)
            if len(rows) < n:
                flow_feats[:] = self._zero_flow_feature(flow.shape[1:])
            if len(rows):
                clips = torch.from_numpy(flow[rows]).to(self.device).permute(0, 4, 1, 2, 3).float()
                flow_feats[rows] = self._run("flow", clips)
        return np.concatenate([rgb_feats, flow_feats], axis=1)

    def _zero_flow_feature(self, shape: tuple[int, ...]) -> NDArray[np.float32]:
        """The flow feature of a motionless clip: the stand-in for snippets the sampler skipped."""
        import torch

        if self._zero_flow is None:
            length, height, width, channels = shape
            zeros = torch.zeros((1, channels, length, height, width), device=self.device)
            self._zero_flow = self._run("flow", zeros)[0]
        return self._zero_flow

    def _run(self, stream: str, clips: "torch.Tensor") -> NDArray[np.float32]:
        from wsal.features.i3d import extract_clip_features

        return extract_clip_features(self.models[stream], clips, len(clips), self.device, self.autocast_dtype)


class _VideoAccumulator:
    """Collects one video's snippets into full inference batches and their features."""

    def __init__(self) -> None:
        self.rgb: list[NDArray[np.uint8]] = []
        self.flow: list[NDArray[np.float16]] = []
        self.kept: list[NDArray[np.bool_]] = []  # all of the video's, kept to store them
        self.pending = 0
        self.next_index = 0
        self.features: list[NDArray[np.float32]] = []

    def add(self, message: Snippets, embed: _Embedder, batch_size: int) -> int:
        if message.first_index != self.next_index:
            raise RuntimeError(f"video '{message.video_id}': snippet {message.first_index} arrived, expected {self.next_index}")
        self.next_index += len(message.rgb)
        self.rgb.append(message.rgb)
        if message.flow is not None:
            self.flow.append(message.flow)
        if message.kept is not None:
            self.kept.append(message.kept)
        self.pending += len(message.rgb)
        done = 0
        while self.pending >= batch_size:
            done += self._run(embed, batch_size)
        return done

    def flush(self, embed: _Embedder) -> int:
        return self._run(embed, self.pending) if self.pending else 0

    def _run(self, embed: _Embedder, size: int) -> int:
        rgb = np.concatenate(self.rgb)
        flow = np.concatenate(self.flow) if self.flow else None
        done = sum(len(f) for f in self.features)
        kept = np.concatenate(self.kept)[done : done + size] if self.kept else None
        self.features.append(embed(rgb[:size], None if flow is None else flow[:size], kept))
        self.rgb = [rgb[size:]] if size < len(rgb) else []
        self.flow = [flow[size:]] if flow is not None and size < len(flow) else []
        self.pending -= size
        return size


def extract_store(
    videos: list[VideoTask],
    out: str | os.PathLike,
    config: ExtractConfig,
    models: dict[str, "torch.nn.Module"],
    device: str,
    backbone: str,
    progress_desc: str = "extract",
) -> ExtractSummary:
    """Extract every video not yet in ``out`` and commit the store; see the module docstring.

    ``models``: ``{"rgb": I3D(3 channels)}`` plus ``"flow": I3D(2 channels)`` unless ``config.flow``
    is "none". A KeyboardInterrupt or an error leaves the finished videos staged for a re-run.
    """
    from tqdm import tqdm

    from wsal.features.store import StoreWriter

    if set(models) != set(config.streams):
        raise ValueError(f"models {sorted(models)} do not match streams {config.streams}")
    if config.sampler == "learned":  # a bad model file is a user error here, before any worker starts
        skim_grid = _load_skim(config.sampler_model).grid
        if skim_grid != config.grid():
            raise WsalError(f"{config.sampler_model}: the skim model was fitted on snippets {skim_grid}, extraction uses {config.grid()}")
    start = time.perf_counter()
    writer = StoreWriter(out, config.store_meta(backbone))
    todo = [task for task in videos if not writer.is_done(task.video_id)]
    summary = ExtractSummary(skipped=[task.video_id for task in videos if writer.is_done(task.video_id)])
    skip_rgb = config.sampler != "none" and config.sampler_scope == "all"
    embed = _Embedder(models, device, config.batch_size, config.precision, skip_rgb)
    collector = _Collector(writer, embed, todo, summary)
    bar = tqdm(total=len(todo), desc=progress_desc, unit="video", dynamic_ncols=True)
    pool = _WorkerPool(todo, config) if config.workers > 0 and todo else None
    try:
        messages = pool.messages() if pool is not None else (m for t in todo for m in process_video(t, config))
        for message in messages:
            if collector.handle(message):  # the video is finished (stored or failed)
                rate = summary.snippets / (time.perf_counter() - start)
                bar.set_postfix_str(f"{rate:.1f} snippets/s, {len(summary.failed)} failed", refresh=False)
                bar.update(1)
                if not collector.remaining:
                    break
        if collector.remaining:
            raise RuntimeError(f"workers stopped with {len(collector.remaining)} videos unprocessed: {sorted(collector.remaining)[:3]}")
        summary.stored = writer.commit()  # only after a clean run: an error or Ctrl-C keeps the staged videos
    finally:
        bar.close()
        if pool is not None:
            pool.close()
        writer.close()
    summary.seconds = time.perf_counter() - start
    return summary


class _Collector:
    """Inference side: embeds each video's snippets as they come and stages finished videos."""

    def __init__(self, writer: "StoreWriter", embed: _Embedder, todo: list[VideoTask], summary: ExtractSummary) -> None:
        self.writer = writer
        self.embed = embed
        self.paths = {t.video_id: t.path for t in todo}
        self.remaining = set(self.paths)
        self.summary = summary
        self.open: dict[str, _VideoAccumulator] = {}

    def handle(self, message: Message) -> bool:
        """Process one message; True when it finished a video."""
        vid = message.video_id
        if isinstance(message, Crashed):
            raise RuntimeError(f"extracting {self.paths[vid]} failed with an unexpected error:\n{message.traceback}")
        if vid not in self.remaining:
            return False  # a late message for a video already declared failed
        if isinstance(message, Snippets):
            acc = self.open.setdefault(vid, _VideoAccumulator())
            self.summary.snippets += acc.add(message, self.embed, self.embed.batch_size)
            return False
        if isinstance(message, Finished):
            acc = self.open.pop(vid, _VideoAccumulator())
            self.summary.snippets += acc.flush(self.embed)
            features = np.concatenate(acc.features)  # (T, D)
            kept = np.concatenate(acc.kept) if acc.kept else None  # (T,)
            if len(features) != message.num_snippets:
                raise RuntimeError(f"{vid}: {len(features)} feature rows for {message.num_snippets} snippets")
            if self.embed.skip_rgb and kept is not None:
                from wsal.features.sampler import fill_skipped

                features[:, :I3D_FEATURE_DIM] = fill_skipped(features[:, :I3D_FEATURE_DIM], kept)
            self.writer.add(
                vid,
                features,
                num_frames=message.num_frames,
                duration_s=message.duration_s,
                source=str(self.paths[vid]),
                kept=kept,
            )
            self.summary.done.append(vid)
        elif isinstance(message, Failed):
            from tqdm import tqdm

            self.open.pop(vid, None)
            self.writer.add_failure(vid, message.reason)
            self.summary.failed[vid] = message.reason
            tqdm.write(f"failed video {vid}: {message.reason}", file=sys.stderr)
        else:
            raise RuntimeError(f"unexpected message {type(message).__name__}")
        self.remaining.discard(vid)
        return True
