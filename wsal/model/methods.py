"""Which model and which loss a config names (``mil.method``): one place for train and load.

``"wsal"`` is :class:`wsal.model.wsal.WsalModel` with :func:`wsal.model.losses.mil_losses`;
``"basnet"`` and ``"cola"`` are the comparison methods of wsal.model.baselines. Every model has
``forward(features, mask) -> ModelOutput``, ``scores(out)`` and ``base_probs(out)`` (None where
the model has no unsuppressed CAS besides the one ``scores`` reads), so training, localization and
``--save-raw`` need nothing else.

What this module does not do: define models or losses.
"""

from __future__ import annotations

from torch import Tensor, nn

from wsal.config import ExperimentConfig
from wsal.model.baselines import BASNET_LOSS_KEYS, COLA_LOSS_KEYS, BasNetModel, ColaModel, basnet_losses, cola_losses
from wsal.model.losses import mil_loss_keys, mil_losses
from wsal.model.wsal import ModelOutput, WsalModel


def build_model(feature_dim: int, num_classes: int, config: ExperimentConfig) -> nn.Module:
    """The model ``config.mil.method`` names, on the CPU, in training mode."""
    method = config.mil.method
    if method == "basnet":
        return BasNetModel(feature_dim, num_classes, config.mil)
    if method == "cola":
        return ColaModel(feature_dim, num_classes, config.mil)
    if method == "wsal":
        return WsalModel(feature_dim, num_classes, config.mil, config.changepoint)
    raise ValueError(f"unknown mil.method {method!r}")


def loss_keys(config: ExperimentConfig) -> tuple[str, ...]:
    """The keys :func:`model_losses` returns for this config (the columns of log.csv), "loss/total" last."""
    return {"basnet": BASNET_LOSS_KEYS, "cola": COLA_LOSS_KEYS}.get(config.mil.method, mil_loss_keys(config.mil))


def model_losses(out: ModelOutput, labels: Tensor, mask: Tensor, config: ExperimentConfig, num_classes: int) -> dict[str, Tensor]:
    """The loss dict of the config's method for one batch; ``labels`` (B, C) multi-hot, ``mask`` (B, T)."""
    method = config.mil.method
    if method == "basnet":
        return basnet_losses(out, labels, mask)
    if method == "cola":
        return cola_losses(out, labels, mask, num_classes)
    return mil_losses(out, labels, mask, config.mil)
