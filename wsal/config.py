"""Dataclass configs: TOML loading, ``--set a.b=v`` overrides, strict checking, TOML saving.

Each component owns one dataclass here with commented defaults; :class:`ExperimentConfig` nests
them. TOML files in experiments/ are short deltas over these defaults. Unknown keys and values of
the wrong type are :class:`ConfigError` (one line naming the file and the key). The resolved config
is written back as TOML (``config_to_toml``) into each run folder and stored in checkpoints.

This module knows nothing of torch; values that come from data (feature_dim, fps) are not config:
they are read from the feature store and checked.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar

from wsal.errors import WsalError

T = TypeVar("T")


class ConfigError(WsalError):
    """A config file or override that does not fit the dataclasses."""


# --------------------------------------------------------------------------- sections


@dataclass
class DataConfig:
    """Which videos train and test, and how sequences are shaped for training."""

    features: str = ""  # feature store (HDF5); `wsal train --features` overrides
    annotations: str = ""  # ground-truth JSON; `wsal train --annotations` overrides
    train_subset: str = "validation"  # THUMOS-14 trains on its validation videos
    test_subset: str = "test"
    num_snippets: int = 750  # training length T: longer videos are sampled down, shorter padded
    # How a video reaches num_snippets snippets. random: one random snippet from each of T equal
    # bins when longer (the usual WTAL training perturbation), all snippets + padding when shorter;
    # uniform: the same without randomness; interpolate: linear interpolation to exactly
    # num_snippets, longer or shorter (ActivityNet-style short sequences).
    sampling: Literal["random", "uniform", "interpolate"] = "random"
    # auto: read the training videos once into the training device's memory when they take at most
    # half of its free memory (same batches, no store read per step); never: read the store each step.
    preload: Literal["auto", "never"] = "auto"
    num_workers: int = 0  # DataLoader worker processes (when not preloaded)
    skip_missing: bool = False  # train without GT training videos absent from the store (else an error)


@dataclass
class MILConfig:
    """The attention multiple-instance-learning model (wsal.model.mil) and its loss weights."""

    # Which method trains: "wsal" (this model: three attention views, the change-point detector
    # when changepoint.enabled), or a re-implementation of a published one for comparison, on the
    # same embedding, data, optimiser and localization: "basnet" (background class and a
    # suppression branch) or "cola" (snippet contrast with easy / hard snippet mining); see
    # wsal.model.baselines. The comparison methods use no changepoint settings.
    method: Literal["wsal", "basnet", "cola"] = "wsal"
    embed_dim: int = 1024  # channels of the temporal embedding
    dropout: float = 0.5  # dropout on the embedding (training only)
    topk_ratio: int = 8  # each view pools the T_valid // topk_ratio best snippets per class (attention-weighted mean)
    # Background suppression (BaS-Net's principle on wsal's attention): the foreground view is the
    # classification of the features times the foreground attention (a second pass through the
    # embedding and heads), with background target 0, and the unsuppressed features are classified
    # as the video's classes *and* background ("loss/mil_base"). Localization reads the suppressed
    # CAS. On the hard synthetic benchmark's tuning subset it lifted average mAP well above the
    # unsuppressed model at the same steps (experiments/README.md); false: the foreground view
    # pools the CAS with the attention instead (wsal.model.mil.attention_topk_pool).
    suppression: bool = True
    # loss/sparsity (mean foreground attention) enters loss/total with this weight; every other
    # MIL term has weight 1 (wsal.model.losses). Lower it where actions fill most of a video.
    weight_sparsity: float = 0.1


@dataclass
class ChangePointConfig:
    """Hierarchical latent change-point detector (wsal.model.changepoint): sizes, event criterion, losses."""

    # Run the detector next to the attention MIL and train both together (needed for
    # localize.boundaries = "changepoint" and for segment pooling, pool_level below). Off by
    # default: on the hard synthetic benchmark's tuning subset it did not raise average mAP over
    # background suppression alone, and it makes every training step slower
    # (experiments/notes/2026-12-05-hard-benchmark.md; bench/train_speed.py measures the cost).
    enabled: bool = False
    # The detector reads the MIL embedding, detached (its loss does not reach the MIL; see
    # wsal.model.wsal), and holds the mean posterior since the last change (wsal.model.changepoint).
    num_levels: int = 3  # L: levels of latent states; higher levels change at slower rates
    gamma: float = 2.0  # a change when the surprise exceeds gamma x its running average (2: chosen on the synthetic training subset) ...
    # (an exponential average of the surprise at steps without a change), or when the change prior
    # explains the posterior better (from level 1 up): wsal.model.changepoint
    # "loss/changepoint" = cp_recon + KL_WEIGHT * cp_kl (wsal.model.changepoint), added to loss/total.
    # It has no weight of its own: the detector reads the embedding detached, so its loss reaches
    # only its own parameters, and AdamW's steps do not change (up to its epsilon) when a loss is scaled.
    def __post_init__(self) -> None:
        problems = []
        if self.num_levels < 1:
            problems.append(f"changepoint.num_levels must be >= 1, got {self.num_levels}")
        if not self.gamma > 0:
            problems.append(f"changepoint.gamma must be positive, got {self.gamma}")
        if problems:
            raise ConfigError("; ".join(problems))


@dataclass
class TrainConfig:
    """The fixed-step optimisation schedule (AdamW; learning rate by :func:`wsal.train.learning_rate`)."""

    max_steps: int = 5000
    batch_size: int = 16
    lr: float = 1e-4
    # constant: lr at every step; cosine: lr decays to 0 along half a cosine from the first step to
    # max_steps (so max_steps cannot change when such a run resumes)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    mixed_precision: bool = True  # bf16/fp16 autocast on CUDA only
    checkpoint_every: int = 1000  # steps between periodic checkpoints
    log_every: int = 10  # steps between rows of log.csv


@dataclass
class LocalizeConfig:
    """Post-processing from model outputs to segments in seconds."""

    boundaries: Literal["threshold", "changepoint"] = "threshold"  # how proposals are cut (wsal.localize)
    # class_threshold, act_thresholds, signal, outer_ratio (and the cp_* defaults below) were chosen on held-out
    # synthetic videos, neither trained on nor tested (bench/changepoint_grid.py): on real data,
    # choose them again on held-out videos with `wsal localize --from-raw`.
    class_threshold: float = 0.05  # keep classes whose video score exceeds this (none: the top-1 class)
    act_thresholds: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)  # on the proposal signal
    # What is thresholded: CAS*attention, CAS, or both. The CAS says which action (a softmax over the
    # action classes only, WsalModel.scores), the attention whether there is one, so their product is
    # the default (chosen on the held-out videos of bench/accuracy_synthetic.py).
    signal: Literal["cas_x_attention", "cas", "both"] = "cas_x_attention"
    # Also propose runs of the plain (unsuppressed) CAS of each kept class, scored at
    # BASE_PROPOSAL_WEIGHT of their contrast (wsal.localize, steps 2 and 4): short actions the
    # attention took for context keep a class score there. For models with background suppression
    # (WsalModel.base_probs); others, and raw files saved without it, have no plain CAS to read.
    # On the hard benchmark's tuning subsets it raised wsal's mAP at tIoU 0.1-0.3 with THUMOS
    # timing and changed little with ActivityNet timing (experiments/notes/2026-12-07-base-proposals.md).
    base_proposals: bool = True
    # Each proposal is extended by round(extend_ratio x its length) snippets on each side before it
    # is scored (wsal.localize, step 3): long actions whose detections stop at their most
    # discriminative part. 0 (off) suits short actions (THUMOS-14); on the hard benchmark's
    # ActivityNet-timed tuning subset it was chosen > 0 for every method (experiments/README.md).
    extend_ratio: float = 0.0
    outer_ratio: float = 0.5  # outer band width as a fraction of the proposal length (outer-inner contrast)
    # A proposal's score is its outer-inner contrast plus video_score_weight x its class's video
    # score (wsal.localize, step 4): how much the video-level evidence ranks one class's segments
    # against another's. The hard benchmark chose 0 on its ActivityNet-timed tuning subset (many
    # classes, long actions: clearly better than 0.2) and 0.1 with THUMOS timing (about as good as
    # 0.2) (experiments/README.md). Choose it on held-out videos (`wsal localize --from-raw`).
    video_score_weight: float = 0.2
    # Class-wise NMS (wsal.localize, step 6): hard suppression, or Gaussian soft-NMS, which keeps
    # every proposal at a decayed score, so close instances of one class (THUMOS-14 holds many) are
    # not dropped with their neighbour's duplicates. Soft was chosen for wsal on the hard
    # benchmark's tuning subsets, both timings (experiments/notes/2026-12-06-soft-nms.md).
    nms: Literal["hard", "soft"] = "soft"
    nms_iou: float = 0.6  # hard NMS drops a proposal whose tIoU with a kept one exceeds this
    # Keep at most this many segments per video, highest scores first (wsal.localize, step 7). Well
    # above the most instances one video holds: THUMOS-14's test subset has two videos with more
    # than 100 (329 instances between them, up to 218), and the official kit caps nothing, so a
    # cap of 100 made part of them unreachable (experiments/notes/2026-12-07-segments-per-video.md).
    max_per_video: int = 1000
    # "changepoint" boundaries (needs a model trained with changepoint.enabled): a segment between
    # change points of one level is foreground when its mean attention exceeds a value of
    # cp_attention (each value gives its own proposals; cp_select = "signal" instead thresholds
    # each class signal's segment means at act_thresholds) ...
    cp_attention: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7)
    # ... and two adjacent foreground segments merge unless the change score between them exceeds
    # cp_merge (a change point has score > 0.5, so 0.5 merges nothing; a list gives proposals for
    # each value).
    cp_merge: float | tuple[float, ...] = 0.9
    cp_select: Literal["attention", "signal"] = "attention"  # what picks foreground segments (see cp_attention)


@dataclass
class ExperimentConfig:
    """Everything `wsal train` needs besides the data files themselves."""

    name: str = "experiment"
    data: DataConfig = field(default_factory=DataConfig)
    mil: MILConfig = field(default_factory=MILConfig)
    changepoint: ChangePointConfig = field(default_factory=ChangePointConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    localize: LocalizeConfig = field(default_factory=LocalizeConfig)


# Keys that were settings and are now fixed, with the one value they may still have in a saved
# config (checkpoints, raw-output files written before): such a config loads, any other value is
# an error naming the key. A user's TOML or --set naming one is an unknown key, as for any other.
RETIRED_KEYS: dict[str, Any] = {
    "mil.context_label": "action_and_background",
    "changepoint.input": "embedding",
    "changepoint.context_snippets": 2,
    "changepoint.state": "mean",
    "changepoint.avg_momentum": 0.9,
    "changepoint.change_prior_criterion": True,
    "changepoint.change_prior_min_level": 1,
    "changepoint.logvar_min": -6.0,
    "changepoint.logvar_max": 2.0,
    "changepoint.recon_dim": 256,
    "changepoint.consistency_weight": 0.0,  # the attention-consistency loss lost (experiments/notes) and went
    "changepoint.consistency_level": 1,
    "mil.embed_layers": 1,  # the keys below were never set by a recipe; their values are constants now
    "mil.weight_fg": 1.0,
    "mil.weight_bg": 1.0,
    "mil.weight_ctx": 1.0,
    "changepoint.recon_weight": 1.0,
    "changepoint.weight": 1.0,
    "train.weight_decay": 5e-4,
    "localize.soft_nms_sigma": 0.3,
    "localize.cp_levels": [],
    "changepoint.kl_weight": 0.002,
    "changepoint.pool_mix": 0.2,  # mixes 0.1 and 1.0 lost on held-out synthetic videos
    "changepoint.hidden_dim": 128,  # sizes of the detector: constants of wsal.model.changepoint
    "changepoint.latent_dim": 32,
    "train.warmup_steps": 0,  # no experiment used a warm-up
    "train.checkpoint_minutes": 10.0,  # CHECKPOINT_MINUTES in wsal.train
    "mil.embed_kernel": 3,  # kernels 5 and 7 lost (experiments/notes/2026-12-06-completeness.md)
    "mil.weight_guide": 0.0,  # the attention-guidance loss trimmed actions to their cores and went
    "data.group_batches": 8,  # GROUP_BATCHES in wsal.data
    "changepoint.pool_level": 0,  # POOL_LEVEL in wsal.model.wsal; other levels and no pooling lost
}

# Retired keys that shaped training alone (loss weights, batch order, schedule, checkpoint timing),
# not the network or its outputs: a model trained at another value still loads and localizes as it
# was trained; only resuming its training is refused (this wsal cannot continue what it did).
TRAINING_ONLY_KEYS: frozenset[str] = frozenset({
    "mil.context_label",
    "changepoint.consistency_weight",
    "changepoint.consistency_level",
    "mil.weight_fg",
    "mil.weight_bg",
    "mil.weight_ctx",
    "changepoint.recon_weight",
    "changepoint.weight",
    "changepoint.kl_weight",
    "train.weight_decay",
    "train.warmup_steps",
    "train.checkpoint_minutes",
    "mil.weight_guide",
    "data.group_batches",
})  # fmt: skip


def without_retired_keys(saved: Mapping[str, Any], where: str, *, resuming: bool) -> dict[str, Any]:
    """A copy of a saved (nested) config without the :data:`RETIRED_KEYS` it holds at their fixed
    value; a retired key at another value raises ConfigError (this wsal cannot do what it asked),
    unless it is one of :data:`TRAINING_ONLY_KEYS` and the config is not ``resuming`` training.

    >>> without_retired_keys({"localize": {"soft_nms_sigma": 0.3, "nms": "hard"}}, "m.pt", resuming=True)
    {'localize': {'nms': 'hard'}}
    >>> without_retired_keys({"mil": {"weight_guide": 1.0}}, "m.pt", resuming=False)
    {'mil': {}}
    """
    out = _deep_copy(saved)
    for dotted, fixed in RETIRED_KEYS.items():
        section, key = dotted.split(".")
        table = out.get(section)
        if not isinstance(table, dict) or key not in table:
            continue
        value = table.pop(key)
        if value != fixed and (resuming or dotted not in TRAINING_ONLY_KEYS):
            raise ConfigError(f"{where}: {dotted} = {value!r} is no longer supported (this wsal always uses {fixed!r})")
    return out


# --------------------------------------------------------------------------- mechanism


def config_from_dict(cls: type[T], data: Mapping[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from a (nested) mapping; unknown keys and wrong types raise."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(hints[name], value, f"{where}.{name}" if where else name)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return config_from_dict(tp, value, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(option, value, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        item_type = args[0] if args else Any
        items = [_convert(item_type, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {type(value).__name__} {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {type(value).__name__} {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported config type {tp}")


def config_to_dict(obj: Any) -> dict[str, Any]:
    """Plain nested dict of a config dataclass (tuples become lists, as TOML has them)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = config_to_dict(value)
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        else:
            out[f.name] = value
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b=v`` into (["a", "b"], value); v is read as a TOML value, else as a bare string.

    >>> parse_override("train.lr=3e-4")
    (['train', 'lr'], 0.0003)
    >>> parse_override("localize.boundaries=threshold")
    (['localize', 'boundaries'], 'threshold')
    """
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. train.max_steps=100")
    key, raw = text.split("=", 1)
    path = [p for p in key.strip().split(".")]
    if not all(path):
        raise ConfigError(f"--set {text!r}: empty key part")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of the nested dict with each ``a.b=v`` override set."""
    result = _deep_copy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = result
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: '{part}' is a value, not a section")
            node = child
        node[path[-1]] = value
    return result


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def load_toml(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: not valid TOML ({err})") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{p}: not UTF-8 text (byte {err.start})") from None


def load_config(
    cls: type[T],
    path: str | os.PathLike | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    saved: bool = False,
) -> T:
    """Defaults of ``cls``, updated by the TOML file at ``path`` (if any), then by overrides.
    ``saved``: the file was written by wsal (the config.toml of a run being resumed), so
    :data:`RETIRED_KEYS` at their fixed values are dropped first (:func:`without_retired_keys`)."""
    data = load_toml(path) if path else {}
    where = str(path) if path else "config"
    if saved:
        data = without_retired_keys(data, where, resuming=True)
    data = apply_overrides(data, list(overrides))
    return config_from_dict(cls, data, where)


def config_to_toml(obj: Any) -> str:
    """Serialize a config dataclass as TOML (round-trips through :func:`load_config`)."""
    lines: list[str] = []
    _emit_table(config_to_dict(obj), [], lines)
    return "\n".join(lines).strip() + "\n"


def _emit_table(data: dict[str, Any], prefix: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if prefix:
        lines.append(f"\n[{'.'.join(prefix)}]")
    for k, v in scalars.items():
        if v is None:
            continue  # TOML has no null; absent means the default (None)
        lines.append(f"{k} = {_toml_value(v)}")
    for k, v in tables.items():
        _emit_table(v, prefix + [k], lines)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        escaped = v.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise ConfigError(f"cannot write {v!r} as TOML")


def save_config(obj: Any, path: str | os.PathLike) -> None:
    """Write the resolved config as TOML (atomically: wsal.outputs.write_text_atomic)."""
    from wsal.outputs import write_text_atomic

    write_text_atomic(config_to_toml(obj), path)
