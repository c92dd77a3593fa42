"""The training loop: a fixed number of AdamW steps, checkpoints, exact resume, CSV log.

``train(config, features_path, annotations_path, out_dir)`` writes into RUN = ``out_dir``:

* ``config.toml`` -- the resolved config (data paths, device and all defaults filled in);
* ``log.csv`` -- one row every ``train.log_every`` steps: step, each loss key (mean over the
  steps since the previous row), lr, steps/s;
* ``checkpoints/step_N.pt`` every ``train.checkpoint_every`` steps, and whenever
  :data:`CHECKPOINT_MINUTES` have passed since the last one (a kill loses minutes, not hours),
  and ``model.pt`` at the end.

A non-finite mean loss at a log row, or before a checkpoint is written, stops training with an
error naming the steps and the last checkpoint saved with finite losses (losses are read from the
device only there, never inside a step). A run stopped before its first checkpoint starts again
from step 0 on ``resume``.

A checkpoint stands alone: resolved config dict, class list, the store's attributes (feature_dim,
fps, snippet grid), model weights, step, optimizer / grad-scaler state and torch RNG states. Files
are written to a temporary name and renamed. ``resume=True`` continues from the checkpoint with
the highest step in RUN: batches are a pure function of (seed, step) (wsal.data) and the RNG
states are restored, so N steps in one go and N/2 + resume N/2 give the same weights (on CPU).

The schedule is fixed in advance: there is no evaluation on any test data during training and no
checkpoint is ever selected by a test score; the final ``model.pt`` is simply the last step.

Data: batches come from :class:`wsal.data.ResidentVideos` when the training videos fit in the
device's memory (``data.preload``), else from a DataLoader over the store; the same batches either
way. The loss terms are summed on the device and read once per log row, so a step never waits for
the device.

What the user sees: a one-line progress bar of fixed width (under 80 characters: steps done, steps/s,
ETA and the last log row's total loss; every loss term is in log.csv), then one summary line on
stderr: steps trained, wall time, s/step, final total loss (the last log row's mean) and the
model's path. ``resume`` of a run whose model.pt already reached ``train.max_steps`` trains nothing,
says so, and leaves model.pt byte for byte as it was.

Devices: ``auto`` is CUDA when available (with bf16 autocast, or fp16 + grad scaling where bf16 is
not supported, if ``train.mixed_precision``), else CPU. Seeds: ``train.seed`` seeds torch (model
init, dropout), the batch plan and each item's sampling (numpy Generators derived from it) and the
DataLoader's own generator.

What this module does not do: define the model or losses, localize, or evaluate.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from wsal.annotations import load_ground_truth
from wsal.config import ExperimentConfig, TrainConfig, config_from_dict, config_to_dict, save_config, without_retired_keys
from wsal.data import GROUP_BATCHES, ResidentVideos, StepBatchSampler, WeakVideoDataset, collate_batch
from wsal.devices import resolve_device
from wsal.errors import WsalError
from wsal.features.store import StoreMeta
from wsal.locks import folder_lock
from wsal.model.methods import build_model, loss_keys, model_losses
from wsal.outputs import atomic_path
from wsal.torchfile import load_torch_file

CHECKPOINT_FORMAT = "wsal-checkpoint"
CHECKPOINT_VERSION = 1
WEIGHT_DECAY = 5e-4  # AdamW decoupled weight decay, the same for every method
_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")
# The progress line: fixed bar width instead of the terminal's (dynamic_ncols stretched the bar over
# a wide terminal), so the line stays under 80 characters; postfix is the total loss.
_PROGRESS_FORMAT = "{desc} {n_fmt}/{total_fmt} |{bar:12}| {rate_fmt}, ETA {remaining}{postfix}"

# A checkpoint is also written once this many minutes have passed since the last one, whatever
# train.checkpoint_every says: a killed run loses minutes of work, not hours.
CHECKPOINT_MINUTES = 10.0

# Config keys that may differ between the original run and its resume (they do not change the
# optimisation path), besides the whole [localize] section. Everything else must match.
_RESUME_FREE_KEYS: frozenset[str] = frozenset(
    {
        "name",
        "data.features",
        "data.annotations",
        "data.num_workers",
        "data.preload",
        "train.max_steps",
        "train.device",
        "train.checkpoint_every",
        "train.log_every",
    }
)


@dataclass
class LoadedModel:
    model: nn.Module  # eval mode, on the requested device (wsal.model.methods.build_model)
    config: ExperimentConfig
    classes: tuple[str, ...]
    store_meta: dict  # StoreMeta.to_attrs() of the training store
    step: int


def _autocast_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    if device.type != "cuda" or not enabled:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _save_atomic(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _read_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict:
    ckpt = load_torch_file(path, "wsal checkpoint", map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise WsalError(f"{path}: not a wsal checkpoint (no '{CHECKPOINT_FORMAT}' format tag)")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise WsalError(f"{path}: checkpoint version {ckpt.get('version')} is not supported (this wsal reads {CHECKPOINT_VERSION})")
    step = ckpt.get("step")
    if type(step) is not int or step < 0:
        raise WsalError(f"{path}: checkpoint step must be a non-negative integer, got {step!r}")
    return ckpt


def load_checkpoint(path: str | os.PathLike, device: str = "cpu") -> LoadedModel:
    """A trained model ready for inference (eval mode) with everything needed to use it."""
    p = Path(path)
    ckpt = _read_checkpoint(p)
    try:
        saved = with_older_values(ckpt["config"], f"{p}: config", resuming=False)
        config = config_from_dict(ExperimentConfig, saved, f"{p}: config")
        classes = tuple(str(c) for c in ckpt["classes"])
        store_meta = dict(ckpt["store_meta"])
        meta = StoreMeta.from_attrs(store_meta, f"{p}: store_meta")
        model = build_model(meta.feature_dim, len(classes), config)
        model.load_state_dict(ckpt["model"])
    except KeyError as err:
        raise WsalError(f"{p}: checkpoint lacks {err}") from None
    except RuntimeError as err:
        raise WsalError(f"{p}: weights do not fit the model ({str(err).splitlines()[0]})") from None
    model.to(resolve_device(device)).eval()
    return LoadedModel(model=model, config=config, classes=classes, store_meta=store_meta, step=int(ckpt["step"]))


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint of RUN with the highest step (model.pt or checkpoints/step_N.pt), or None.

    On a tie model.pt wins: a run resumed to the step of one of its checkpoints has finished there.
    """
    candidates: list[tuple[int, Path]] = []
    step_dir = run_dir / "checkpoints"
    if step_dir.is_dir():
        for p in step_dir.iterdir():
            match = _STEP_FILE.match(p.name)
            if match:
                candidates.append((int(match.group(1)), p))
    final = run_dir / "model.pt"
    if final.is_file():
        candidates.append((int(_read_checkpoint(final)["step"]), final))
    return max(candidates, key=lambda c: (c[0], c[1] == final))[1] if candidates else None


# Keys that checkpoints of older wsal versions lack, with the value that reproduces what those runs
# did: such a run resumes with --set KEY=VALUE instead of never, and loads as it was trained.
# (Runs from before batches of similar length, wsal.data.GROUP_BATCHES, lack that retired key too:
# they resume with this wsal's batch order from the step they reached.)
_OLDER_RUN_VALUES: dict[str, Any] = {
    "mil.method": "wsal",
    "mil.suppression": False,
    "train.lr_schedule": "constant",
}


def learning_rate(tc: TrainConfig, step: int) -> float:
    """The learning rate of training step ``step`` (1-based) under ``tc``'s schedule.

    A pure function of the step, so a resumed run follows the same schedule without saved
    scheduler state. ``constant`` keeps ``lr``; ``cosine`` decays from ``lr`` along half a cosine,
    reaching 0 one step after ``max_steps``.

    >>> tc = TrainConfig(max_steps=10, lr=1.0, lr_schedule="cosine")
    >>> [round(learning_rate(tc, s), 3) for s in (1, 2, 6, 10)]
    [1.0, 0.976, 0.5, 0.024]
    """
    if tc.lr_schedule == "constant":
        return tc.lr
    progress = min((step - 1) / tc.max_steps, 1.0)
    return tc.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def _log_columns(log_path: Path, header: list[str]) -> list[str]:
    """The columns of an existing log.csv: rows appended on resume follow its header, so a run
    begun by an older wsal (another set of loss terms) keeps aligned columns; a term it lacks is
    left out, one it has and this wsal no longer computes stays empty."""
    with log_path.open(newline="", encoding="utf-8") as f:
        existing = next(csv.reader(f), None)
    return existing if existing and existing[0] == "step" else header


def with_older_values(saved: dict, where: str, *, resuming: bool) -> dict:
    """A saved (nested) config with the keys it lacks set to :data:`_OLDER_RUN_VALUES`: what the
    older wsal that wrote it did, not today's default; then keys that are no longer settings
    dropped (:func:`wsal.config.without_retired_keys`, which refuses one at another value when
    ``resuming``). A copy; ``saved`` is not changed."""
    out = {name: dict(table) if isinstance(table, dict) else table for name, table in saved.items()}  # sections are one level deep
    for dotted, value in _OLDER_RUN_VALUES.items():
        *sections, key = dotted.split(".")
        table = out
        for name in sections:
            table = table.setdefault(name, {})
        table.setdefault(key, value)
    return without_retired_keys(out, where, resuming=resuming)


def _check_resume_config(saved: dict, config: ExperimentConfig, where: Path) -> None:
    old, new = _flatten(with_older_values(saved, f"{where}: config", resuming=True)), _flatten(config_to_dict(config))
    for key in sorted(set(old) | set(new)):
        if key in _RESUME_FREE_KEYS or key.startswith("localize."):
            if key == "train.max_steps" and config.train.lr_schedule == "cosine" and old.get(key) != new.get(key):
                raise WsalError(
                    f"{where}: cannot resume: train.max_steps was {old.get(key)!r}, now {new.get(key)!r}, and the "
                    "cosine learning-rate schedule ends at max_steps (train a new run to train longer)"
                )
            continue
        if old.get(key) != new.get(key):
            raise WsalError(
                f"{where}: cannot resume: config {key} was {old.get(key)!r}, now {new.get(key)!r} "
                "(only max_steps, device, logging/checkpoint intervals and paths may change)"
            )


def format_duration(seconds: float) -> str:
    """Wall time as the summary line writes it: seconds under a minute, else h/m/s.

    >>> format_duration(4.25), format_duration(751.4), format_duration(11532)
    ('4.2s', '12m31s', '3h12m12s')
    """
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _trim_log(log_path: Path, last_step: int) -> None:
    """Drop rows after ``last_step`` (written after the checkpoint a resume starts from)."""
    if not log_path.is_file():
        return
    with log_path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= last_step]
    with atomic_path(log_path) as tmp, tmp.open("w", newline="") as fh:
        csv.writer(fh).writerows(kept)


def train(
    config: ExperimentConfig,
    features_path: str | os.PathLike | None,
    annotations_path: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    resume: bool = False,
    device: str | None = None,
) -> Path:
    """Train per ``config``; paths given here override ``config.data``; returns RUN/model.pt."""
    if resume and latest_checkpoint(Path(out_dir)) is None and not (Path(out_dir) / "config.toml").is_file():
        raise WsalError(f"{out_dir}: --resume given but there is no run here (no checkpoint, no config.toml)")
    features = str(features_path) if features_path else config.data.features
    annotations = str(annotations_path) if annotations_path else config.data.annotations
    if not features:
        raise WsalError("no feature store: pass --features or set data.features in the config")
    if not annotations:
        raise WsalError("no ground truth: pass --annotations or set data.annotations in the config")
    config = dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, features=features, annotations=annotations),
        train=dataclasses.replace(config.train, device=device or config.train.device),
    )
    tc = config.train
    if tc.max_steps < 1 or tc.batch_size < 1 or tc.checkpoint_every < 1 or tc.log_every < 1:
        raise WsalError("train.max_steps, batch_size, checkpoint_every and log_every must be >= 1")
    if not (math.isfinite(tc.lr) and tc.lr > 0):
        raise WsalError(f"train.lr must be finite and > 0, got {tc.lr}")
    run = Path(out_dir)
    dev = resolve_device(tc.device)
    run.mkdir(parents=True, exist_ok=True)
    with folder_lock(run, "training run"):  # a second `wsal train` into RUN fails at once
        return _train_in_run(config, features, annotations, run, resume, dev)


def _train_in_run(
    config: ExperimentConfig, features: str, annotations: str, run: Path, resume: bool, dev: torch.device
) -> Path:
    """The body of :func:`train` once its inputs are checked and RUN is locked."""
    tc = config.train
    final_path = run / "model.pt"
    log_path = run / "log.csv"
    resume_from = latest_checkpoint(run) if resume else None
    if resume and resume_from is None:
        # stopped before its first checkpoint: nothing finished to keep, so it starts again
        print(f"wsal train: {run} has no checkpoint yet (stopped before the first): training from step 0", file=sys.stderr)
        log_path.unlink(missing_ok=True)
    if not resume and (final_path.exists() or log_path.exists() or (run / "checkpoints").exists()):
        raise WsalError(f"{run}: already holds a run; pass --resume to continue it or choose a new --out")

    dataset = WeakVideoDataset(
        features,
        load_ground_truth(annotations),
        config.data.train_subset,
        config.data.num_snippets,
        config.data.sampling,
        skip_missing=config.data.skip_missing,
    )
    if dataset.skipped:
        print(
            f"wsal train: skipping {len(dataset.skipped)} {config.data.train_subset!r} videos not in {features} "
            f"(e.g. {dataset.skipped[0]!r})",
            file=sys.stderr,
        )

    torch.manual_seed(tc.seed)
    model = build_model(dataset.meta.feature_dim, len(dataset.classes), config).to(dev)
    # fused: one kernel for all parameters on CUDA instead of a few per parameter group of tensors
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=WEIGHT_DECAY, fused=dev.type == "cuda")
    amp_dtype = _autocast_dtype(dev, tc.mixed_precision)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    start_step = 0
    if resume_from is not None:
        ckpt = _read_checkpoint(resume_from, map_location=dev)
        _check_resume_config(ckpt["config"], config, resume_from)
        if tuple(ckpt["classes"]) != dataset.classes:
            raise WsalError(f"{resume_from}: cannot resume: the class list differs from {annotations}")
        if ckpt["store_meta"] != dataset.meta.to_attrs():
            raise WsalError(f"{resume_from}: cannot resume: {features} has different store settings")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"]["torch"].cpu())
        if dev.type == "cuda" and ckpt["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"].cpu(), dev)
        start_step = int(ckpt["step"])
        if start_step >= tc.max_steps and resume_from == final_path:
            longer = (
                "a cosine schedule ends at train.max_steps: train a new run to train longer"
                if tc.lr_schedule == "cosine"
                else "raise --set train.max_steps=N to train on"
            )
            done = (
                f"{start_step} of {tc.max_steps} steps"
                if start_step == tc.max_steps
                else f"{start_step} steps (train.max_steps {tc.max_steps})"
            )
            print(
                f"wsal train: {run}: already trained {done}; nothing to train ({longer}); "
                f"model: {final_path} (unchanged)",
                file=sys.stderr,
            )
            dataset.close()
            return final_path
        _trim_log(log_path, start_step)

    run.mkdir(parents=True, exist_ok=True)
    save_config(config, run / "config.toml")

    def checkpoint(step: int) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "step": step,
            "config": config_to_dict(config),
            "classes": list(dataset.classes),
            "store_meta": dataset.meta.to_attrs(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
            },
        }

    sampler = StepBatchSampler(
        len(dataset), tc.batch_size, tc.seed, start_step, tc.max_steps, dataset.lengths, GROUP_BATCHES
    )
    resident = ResidentVideos.load_if_fits(dataset, dev) if config.data.preload == "auto" else None
    if resident is not None:
        print(
            f"wsal train: {len(dataset)} training videos preloaded to {dev} "
            f"({ResidentVideos.size_bytes(dataset) / 2**30:.2f} GiB)",
            file=sys.stderr,
        )
        loader: Any = (resident.batch(keys) for keys in sampler)
    else:
        loader = DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=collate_batch,
            num_workers=config.data.num_workers,
            pin_memory=dev.type == "cuda",
            generator=torch.Generator().manual_seed(tc.seed),
        )
    keys = loss_keys(config)
    header = ["step", *keys, "lr", "steps_per_s"]
    new_log = not log_path.is_file()
    columns = header if new_log else _log_columns(log_path, header)
    # Loss sums stay on the device between log rows: reading a value every step would make the
    # host wait for the device each step.
    sums = torch.zeros(len(keys), dtype=torch.float64, device=dev)
    count = 0
    last_time = started = last_saved = time.perf_counter()
    last_total = float("nan")  # total loss of the last log row, for the summary
    good = resume_from  # the newest checkpoint written with finite losses

    def check_finite(means: list[float], step: int) -> None:
        """Stop at the first log row or checkpoint whose mean losses are not finite."""
        bad = [f"{k} {m}" for k, m in zip(keys, means) if not math.isfinite(m)]
        if bad:
            raise WsalError(
                f"{run}: non-finite loss in steps {step - count + 1}-{step} ({', '.join(bad)}): training stopped; "
                f"last good checkpoint: {good if good is not None else 'none'} "
                "(lower train.lr, or check the features for NaN / inf)"
            )
    model.train()
    with log_path.open("a", newline="") as log_fh, tqdm(
        total=tc.max_steps, initial=start_step, desc="wsal train", unit="step", bar_format=_PROGRESS_FORMAT
    ) as bar:
        writer = csv.writer(log_fh)
        if new_log:
            writer.writerow(header)
        for step, batch in enumerate(loader, start=start_step + 1):
            batch = batch.to(dev)
            lr = learning_rate(tc, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast(dev.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                out = model(batch.features, batch.mask)
                losses = model_losses(out, batch.labels, batch.mask, config, len(dataset.classes))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(losses["loss/total"]).backward()
            scaler.step(optimizer)
            scaler.update()
            sums += torch.stack([losses[k].detach().double() for k in keys])
            count += 1
            bar.update(1)
            save = step != tc.max_steps and (
                step % tc.checkpoint_every == 0
                or time.perf_counter() - last_saved >= 60 * CHECKPOINT_MINUTES
            )
            log_row = step % tc.log_every == 0 or step == tc.max_steps
            if save or log_row:
                means = (sums / count).tolist()  # the one host synchronisation per log row or checkpoint
                check_finite(means, step)  # never log on, nor save a diverged model as "good"
            if log_row:
                now = time.perf_counter()
                rate = count / max(now - last_time, 1e-9)
                values = dict(zip(header, [step, *(f"{m:.6g}" for m in means), f"{lr:.6g}", f"{rate:.4g}"]))
                writer.writerow([values.get(column, "") for column in columns])
                log_fh.flush()
                last_total = float(values["loss/total"])  # as logged, so the line and log.csv round alike
                bar.set_postfix_str(f"loss {last_total:.4f}", refresh=False)
                sums.zero_()
                count = 0
                last_time = now
            if save:
                good = run / "checkpoints" / f"step_{step}.pt"
                _save_atomic(checkpoint(step), good)
                last_saved = time.perf_counter()
    dataset.close()
    final_step = max(start_step, tc.max_steps)
    _save_atomic(checkpoint(final_step), final_path)
    done, took_s = tc.max_steps - start_step, time.perf_counter() - started
    if done > 0:
        trained = f"trained {done} steps" if start_step == 0 else f"trained {done} steps ({start_step + 1}-{tc.max_steps})"
        print(
            f"wsal train: {trained} in {format_duration(took_s)} ({took_s / done:.3g} s/step); "
            f"final total loss {last_total:.4f}; model: {final_path}",
            file=sys.stderr,
        )
    else:  # a checkpoint at or past max_steps without model.pt: written from it, nothing trained
        print(f"wsal train: trained 0 steps (checkpoint at step {start_step}); model: {final_path}", file=sys.stderr)
    return final_path
