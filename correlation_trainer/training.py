"""Training loops shared by pretraining and few-shot fine-tuning."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from .ranking_loss import pairwise_hinge_loss
from .task_data import TaskData


@dataclass(frozen=True)
class FitSettings:
    """Optimiser settings of one training stage (AdamW + cosine annealing per epoch)."""

    epochs: int
    lr: float
    batch_size: int
    weight_decay: float = 1e-5
    eta_min: float = 1e-6


def _node_features(data: TaskData, arch: torch.Tensor) -> dict:
    """The model's ``node_features`` keyword for a batch, when the data carries them."""
    return {} if data.node_features is None else {"node_features": data.node_features[arch]}


def predict(model: torch.nn.Module, data: TaskData, archs: np.ndarray, device: int,
            batch_size: int = 4096, offsets: Optional[np.ndarray] = None) -> np.ndarray:
    """Scores of ``archs`` on device index ``device`` (eval mode, no gradients), plus
    ``offsets[i]`` for ``archs[i]`` when given (a residual base)."""
    model.eval()
    scores = []
    where = data.adjacency.device
    idx = torch.as_tensor(np.asarray(archs, dtype=np.int64), device=where)
    with torch.inference_mode():
        for start in range(0, len(idx), batch_size):
            chunk = idx[start:start + batch_size]
            supp = data.supplementary[chunk] if data.supplementary is not None else None
            out = model(
                data.adjacency[chunk], data.op_ids[chunk], data.node_mask[chunk],
                torch.full((len(chunk),), device, dtype=torch.long, device=where), supp,
                **_node_features(data, chunk),
            )
            scores.append(out.float().cpu().numpy())
    result = np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)
    return result if offsets is None else result + np.asarray(offsets, dtype=result.dtype)


def fit(
    model: torch.nn.Module,
    data: TaskData,
    archs: np.ndarray,
    devices: np.ndarray,
    settings: FitSettings,
    generator: torch.Generator,
    on_epoch_end: Optional[Callable[[int], None]] = None,
    progress: Optional[Callable[[], None]] = None,
    loss_fn: Callable[..., torch.Tensor] = pairwise_hinge_loss,
    offsets: Optional[np.ndarray] = None,
) -> None:
    """Train on examples (archs[i] measured on devices[i]) against their min-max scaled latencies.

    Each batch is scored once; ``loss_fn(scores, targets, generator=...)`` (default: the pairwise
    hinge loss, which forms its pairs from those scores). ``on_epoch_end(epoch)`` runs after every
    epoch (the paper protocol evaluates there). ``offsets[i]``, when given, is added to example
    i's score: the model then learns a correction to that base.
    """
    where = data.adjacency.device
    archs_t = torch.as_tensor(np.asarray(archs, dtype=np.int64), device=where)
    devices_t = torch.as_tensor(np.asarray(devices, dtype=np.int64), device=where)
    targets_t = torch.as_tensor(
        data.targets[np.asarray(devices), np.asarray(archs)], dtype=torch.float32, device=where
    )
    offsets_t = None if offsets is None else torch.as_tensor(offsets, dtype=torch.float32, device=where)
    # The fused kernel updates every parameter in one call (the default loops over them in Python).
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay,
                                  fused=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=max(settings.epochs, 1), eta_min=settings.eta_min
    )
    count = len(archs_t)
    for epoch in range(settings.epochs):
        model.train()
        order = torch.randperm(count, generator=generator)
        for start in range(0, count, settings.batch_size):
            batch = order[start:start + settings.batch_size].to(where)
            if len(batch) < 2:
                continue  # a single example has no pair
            arch = archs_t[batch]
            supp = data.supplementary[arch] if data.supplementary is not None else None
            scores = model(
                data.adjacency[arch], data.op_ids[arch], data.node_mask[arch], devices_t[batch], supp,
                **_node_features(data, arch),
            )
            if offsets_t is not None:
                scores = scores + offsets_t[batch]
            loss = loss_fn(scores, targets_t[batch], generator=generator)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        schedule.step()
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        if progress is not None:
            progress()
