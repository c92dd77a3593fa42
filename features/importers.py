"""Community I3D feature layouts -> the wsal feature store, written only through StoreWriter.

Three layouts are read (``LAYOUTS``); each gives per video a (T, D) matrix, rgb columns first then
flow, that goes into the store unchanged apart from the cast to float32:

* ``basnet``: ``SOURCE/{train,test}/{rgb,flow}/<video>.npy``, each (T, D_stream) (BaS-Net, UM).
* ``acmnet``: ``SOURCE/{train,test}/<video>.npy``, (T, D) with rgb then flow already joined (ACM-Net);
  the two streams are taken as the two halves of the columns.
* ``wtalc``: one pickled object array of per-video (T, D) matrices (W-TALC's
  ``*-JOINTFeatures.npy``), aligned with ``videoname.npy`` of its annotation folder.

The stream widths are not fixed: they are the most common ones among the source's files, and a
video with other widths is a bad video, like one with a missing stream, rgb/flow lengths that
differ, zero snippets, non-finite values or a file numpy cannot read.

:func:`import_features` checks every video that is not in the store yet *before* writing
anything: with bad videos and ``skip_bad`` off it raises one :class:`WsalError` and leaves the
disk untouched; with ``skip_bad`` on, bad videos are recorded as store failures. Videos already in
the store (or staged by a killed run) are skipped, so a re-run only adds what is new.

The snippet grid is not in these files: ``fps`` and ``snippet_frames`` (clip length = stride) are
the caller's statement of how the features were extracted, and a video's ``duration_s`` is the
length of its snippet grid, ``T * snippet_frames / fps``, not the true video length (that comes
from the ground truth).

What this module does not do: compute features, read labels or ground truth, or open HDF5 itself.
"""

from __future__ import annotations

import os
import pickle
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Protocol

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from wsal.errors import WsalError
from wsal.npyfile import load_npy
from wsal.timeline import SnippetGrid

if TYPE_CHECKING:
    from wsal.features.store import StoreMeta

LAYOUTS: tuple[str, ...] = ("basnet", "acmnet", "wtalc")
STREAMS: tuple[str, str] = ("rgb", "flow")
SPLITS: tuple[str, ...] = ("train", "test")
WTALC_NAMES_FILE = "videoname.npy"


class BadVideo(Exception):
    """One video that cannot be imported; the message names the file and the problem."""


@dataclass(frozen=True)
class ImportOptions:
    """How to import: the layout and the snippet grid the features were extracted on."""

    layout: str
    fps: float = 25.0  # frame rate the snippets were cut at
    snippet_frames: int = 16  # frames per snippet; clip length = stride (non-overlapping)
    skip_bad: bool = False  # record bad videos as store failures instead of stopping
    annotations_dir: Path | None = None  # wtalc only: folder with videoname.npy (default: SOURCE's)


@dataclass
class ImportSummary:
    """What one run did, in source order."""

    store: Path
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in the store or staged earlier
    bad: dict[str, str] = field(default_factory=dict)  # video -> reason (only with skip_bad)

    def line(self) -> str:
        """The one-line summary the command prints.

        >>> ImportSummary(Path("s.h5"), ["a", "b"], ["c"], {}).line()
        's.h5: 2 imported, 1 skipped (already present), 0 bad'
        """
        counts = f"{len(self.imported)} imported, {len(self.skipped)} skipped (already present), {len(self.bad)} bad"
        return f"{self.store}: {counts}"


class FeatureSource(Protocol):
    """A layout reader: lists videos and loads one video's checked (T, D) float32 features."""

    video_ids: list[str]

    def stream_dims(self) -> tuple[int, int]: ...

    def source_of(self, video_id: str) -> str: ...

    def load(self, video_id: str, stream_dims: tuple[int, int]) -> NDArray[np.float32]: ...


def most_common(values: Iterable[int]) -> int | None:
    """The most frequent value (ties: the smallest), or None for no values.

    >>> most_common([8, 6, 8, 6, 4]), most_common([]), most_common([3, 5, 5])
    (6, None, 5)
    """
    counts = Counter(values)
    if not counts:
        return None
    best = max(counts.values())
    return min(v for v, c in counts.items() if c == best)


def check_matrix(array: object, where: str, expected_dim: int) -> NDArray[np.float32]:
    """Return ``array`` as a (T>=1, expected_dim) finite float32 matrix or raise :class:`BadVideo`."""
    if not isinstance(array, np.ndarray):
        raise BadVideo(f"{where}: expected a (T, D) array, found {type(array).__name__}")
    if array.ndim != 2:
        raise BadVideo(f"{where}: expected a 2-D (T, D) array, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise BadVideo(f"{where}: dtype {array.dtype} is not a real number type")
    if array.shape[0] < 1:
        raise BadVideo(f"{where}: has zero snippets")
    if array.shape[1] != expected_dim:
        raise BadVideo(f"{where}: feature width {array.shape[1]}, expected {expected_dim} (the source's most common width)")
    with np.errstate(over="ignore"):  # values beyond float32 become inf and are reported below
        feats = array.astype(np.float32, copy=False)  # (T, D)
    bad = int(feats.size - np.count_nonzero(np.isfinite(feats)))
    if bad:
        raise BadVideo(f"{where}: {bad} non-finite values (NaN or inf, or too large for float32)")
    return feats


def check_video_id(video_id: str, where: str) -> None:
    """The store's naming rule, checked up front so a bad name is a bad video, not a crash later."""
    from wsal.features.store import is_valid_video_id

    if not is_valid_video_id(video_id):
        raise BadVideo(f"{where}: video name '{video_id}' cannot be stored (empty or contains '/')")


def _read_npy(path: Path) -> NDArray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise BadVideo(f"{path}: unreadable .npy file ({_one_line(err)})") from None


def _npy_width(path: Path) -> int | None:
    """Column count from the .npy header alone; None when the header is unreadable or not 2-D."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = read_header(f)
    except (OSError, ValueError, EOFError):
        return None
    return int(shape[1]) if len(shape) == 2 else None


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _split_dirs(root: Path, layout: str, expected: str) -> list[Path]:
    if not root.is_dir():
        raise WsalError(f"{root}: not a folder (the {layout} layout is {expected})")
    splits = [root / s for s in SPLITS if (root / s).is_dir()]
    if not splits:
        raise WsalError(f"{root}: no train/ or test/ folder (the {layout} layout is {expected})")
    return splits


class BasnetSource:
    """``SOURCE/{train,test}/{rgb,flow}/<video>.npy``: one file per stream and video."""

    LAYOUT_TEXT = "SOURCE/{train,test}/{rgb,flow}/<video>.npy"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, dict[str, Path]] = {}  # video -> stream -> file
        split_of: dict[str, Path] = {}
        for split in _split_dirs(root, "basnet", self.LAYOUT_TEXT):
            if not any((split / s).is_dir() for s in STREAMS):
                raise WsalError(f"{split}: has no rgb/ or flow/ folder (the basnet layout is {self.LAYOUT_TEXT})")
            for stream in STREAMS:
                for path in sorted((split / stream).glob("*.npy")):
                    vid = path.stem
                    if split_of.setdefault(vid, split) != split:
                        raise WsalError(f"{path}: video '{vid}' is also in {split_of[vid]}; a video must be in one split")
                    self._files.setdefault(vid, {})[stream] = path
        if not self._files:
            raise WsalError(f"{root}: no .npy files in {self.LAYOUT_TEXT}")
        self.video_ids = sorted(self._files)

    def stream_dims(self) -> tuple[int, int]:
        dims = []
        for stream in STREAMS:
            widths = [_npy_width(files[stream]) for files in self._files.values() if stream in files]
            dim = most_common(w for w in widths if w is not None)
            if dim is None:
                raise WsalError(f"{self.root}: no readable 2-D {stream} .npy file, cannot tell the {stream} feature width")
            dims.append(dim)
        return dims[0], dims[1]

    def source_of(self, video_id: str) -> str:
        return ";".join(str(p) for p in self._files[video_id].values())

    def load(self, video_id: str, stream_dims: tuple[int, int]) -> NDArray[np.float32]:
        files = self._files[video_id]
        missing = [s for s in STREAMS if s not in files]
        if missing:
            present = next(iter(files.values()))
            expected = present.parent.parent / missing[0] / present.name
            raise BadVideo(f"{present}: the matching {missing[0]} file {expected} is missing")
        check_video_id(video_id, str(files["rgb"]))
        parts = [check_matrix(_read_npy(files[s]), str(files[s]), d) for s, d in zip(STREAMS, stream_dims)]
        if parts[0].shape[0] != parts[1].shape[0]:
            raise BadVideo(
                f"{files['rgb']}: rgb has {parts[0].shape[0]} snippets but {files['flow']} has {parts[1].shape[0]}"
            )
        return np.concatenate(parts, axis=1)  # (T, D_rgb + D_flow)


class AcmnetSource:
    """``SOURCE/{train,test}/<video>.npy``: rgb and flow already joined; each stream is one half."""

    LAYOUT_TEXT = "SOURCE/{train,test}/<video>.npy"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, Path] = {}
        splits = _split_dirs(root, "acmnet", self.LAYOUT_TEXT)
        for split in splits:
            for path in sorted(split.glob("*.npy")):
                vid = path.stem
                if vid in self._files:
                    other = self._files[vid].parent
                    raise WsalError(f"{path}: video '{vid}' is also in {other}; a video must be in one split")
                self._files[vid] = path
        if not self._files:
            hint = ""
            if any((s / stream).is_dir() for s in splits for stream in STREAMS):
                hint = "; it has rgb/ or flow/ subfolders: is it --layout basnet?"
            raise WsalError(f"{root}: no .npy files in {self.LAYOUT_TEXT}{hint}")
        self.video_ids = sorted(self._files)

    def stream_dims(self) -> tuple[int, int]:
        widths = [_npy_width(p) for p in self._files.values()]
        width = most_common(w for w in widths if w is not None)
        return _halves(width, str(self.root))

    def source_of(self, video_id: str) -> str:
        return str(self._files[video_id])

    def load(self, video_id: str, stream_dims: tuple[int, int]) -> NDArray[np.float32]:
        path = self._files[video_id]
        check_video_id(video_id, str(path))
        return check_matrix(_read_npy(path), str(path), sum(stream_dims))


class WtalcSource:
    """W-TALC's joint feature file: an object array of (T, D) matrices, one per ``videoname.npy`` entry.

    The file is a pickle (numpy object array): it is read with wsal.npyfile's restricted
    unpickler, which builds arrays and refuses any other callable a crafted file names.
    """

    def __init__(self, path: Path, annotations_dir: Path | None) -> None:
        self.path = path
        if not path.is_file():
            raise WsalError(
                f"{path}: not a file (the wtalc layout is the joint features .npy, "
                "e.g. Thumos14reduced-I3D-JOINTFeatures.npy)"
            )
        from wsal.annotations import wtalc_video_ids

        names_dir = annotations_dir if annotations_dir is not None else path.parent
        names_path = names_dir / WTALC_NAMES_FILE
        if not names_path.is_file():
            raise WsalError(f"{names_path}: video names file not found")
        # The same ids `wsal annotations --format wtalc` writes (YouTube ids from url.npy when present).
        self.video_ids = wtalc_video_ids(names_dir)
        feats = _load_pickled(path, "features")
        if feats.dtype == object and feats.ndim == 1:
            self._arrays = list(feats)
        elif feats.dtype != object and feats.ndim == 3:  # every video the same length: numpy stacked them
            self._arrays = list(feats)
        else:
            raise WsalError(f"{path}: expected an object array of per-video (T, D) arrays, got {feats.dtype} {feats.shape}")
        if len(self._arrays) != len(self.video_ids):
            raise WsalError(f"{path}: {len(self._arrays)} feature arrays but {names_path} lists {len(self.video_ids)} videos")
        self._index = {vid: i for i, vid in enumerate(self.video_ids)}

    def stream_dims(self) -> tuple[int, int]:
        width = most_common(int(a.shape[1]) for a in self._arrays if isinstance(a, np.ndarray) and a.ndim == 2)
        return _halves(width, str(self.path))

    def source_of(self, video_id: str) -> str:
        return f"{self.path}[{self._index[video_id]}]"

    def load(self, video_id: str, stream_dims: tuple[int, int]) -> NDArray[np.float32]:
        where = f"{self.source_of(video_id)} (video '{video_id}')"
        check_video_id(video_id, where)
        return check_matrix(self._arrays[self._index[video_id]], where, sum(stream_dims))


def _load_pickled(path: Path, what: str) -> NDArray:
    if not path.is_file():
        raise WsalError(f"{path}: {what} file not found")
    try:
        # latin1: these files may be Python 2 pickles; numpy documents latin1 as safe for array data.
        return np.asarray(load_npy(path, encoding="latin1"))
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as err:
        raise WsalError(f"{path}: unreadable {what} .npy file ({_one_line(err)})") from None


def _halves(width: int | None, where: str) -> tuple[int, int]:
    if width is None:
        raise WsalError(f"{where}: no readable 2-D (T, D) feature array, cannot tell the feature width")
    if width % 2:
        raise WsalError(f"{where}: joint feature width {width} is odd, cannot split it into rgb and flow halves")
    return width // 2, width // 2


def open_source(layout: str, source: Path, annotations_dir: Path | None = None) -> FeatureSource:
    """The reader for ``layout``; raises :class:`WsalError` when SOURCE does not have that structure."""
    if layout not in LAYOUTS:
        raise WsalError(f"unknown layout '{layout}' (choose from {', '.join(LAYOUTS)})")
    if annotations_dir is not None and layout != "wtalc":
        raise WsalError("--annotations-dir applies only to --layout wtalc")
    if layout == "basnet":
        return BasnetSource(source)
    if layout == "acmnet":
        return AcmnetSource(source)
    return WtalcSource(source, annotations_dir)


def _present_ids(out: Path, meta: StoreMeta) -> set[str]:
    """Videos already in an existing store at ``out`` (whose settings must match ``meta``)."""
    from wsal.features.store import FeatureStore

    if not out.exists():
        return set()
    with FeatureStore(out) as store:
        store.meta.check_same(meta, str(out))
        return set(store.video_ids)


def import_features(
    source: str | os.PathLike, out: str | os.PathLike, options: ImportOptions, progress: bool = True
) -> ImportSummary:
    """Import every video of ``source`` that ``out`` does not hold yet; see the module docstring."""
    # h5py (via the store) is imported here, not at the top, so that `wsal --help` stays instant.
    from wsal.features.store import StoreMeta, StoreWriter

    try:
        grid = SnippetGrid(fps=options.fps, clip_len_frames=options.snippet_frames, stride_frames=options.snippet_frames)
    except ValueError as err:
        raise WsalError(str(err)) from None
    out_path = Path(out)
    src = open_source(options.layout, Path(source), options.annotations_dir)
    meta = StoreMeta(
        fps=grid.fps,
        clip_len_frames=grid.clip_len_frames,
        stride_frames=grid.stride_frames,
        streams=STREAMS,
        stream_dims=src.stream_dims(),
        backbone=f"i3d-imported:{options.layout}",
    )
    present = _present_ids(out_path, meta)
    todo = [v for v in src.video_ids if v not in present]
    summary = ImportSummary(store=out_path, skipped=[v for v in src.video_ids if v in present])

    # Check everything first, so that a bad video stops the run before anything is written.
    for vid in tqdm(todo, desc="checking", unit="video", disable=not progress):
        try:
            src.load(vid, meta.stream_dims)
        except BadVideo as err:
            summary.bad[vid] = str(err)
    if summary.bad and not options.skip_bad:
        first = next(iter(summary.bad.values()))
        more = f" (and {len(summary.bad) - 1} more bad videos)" if len(summary.bad) > 1 else ""
        raise WsalError(f"{first}{more}; nothing was written (fix the files, or pass --skip-bad to import the rest)")

    with StoreWriter(out_path, meta) as writer:
        for vid in tqdm(todo, desc="importing", unit="video", disable=not progress):
            if writer.is_done(vid):  # staged by an earlier, interrupted run
                summary.skipped.append(vid)
            elif vid in summary.bad:
                writer.add_failure(vid, summary.bad[vid])
            else:
                try:
                    feats = src.load(vid, meta.stream_dims)  # (T, D)
                except BadVideo as err:  # the file changed since the check
                    raise WsalError(
                        f"{err} (changed during the import; the videos imported so far are staged for a re-run)"
                    ) from None
                num_snippets = feats.shape[0]
                writer.add(
                    vid,
                    feats,
                    num_frames=num_snippets * grid.stride_frames,
                    duration_s=float(grid.end_s(num_snippets - 1)),
                    source=src.source_of(vid),
                )
                summary.imported.append(vid)
    return summary
