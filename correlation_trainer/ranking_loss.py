"""The pairwise hinge ranking loss of NASFLAT, computed from one score per example."""
from __future__ import annotations

from typing import Optional

import torch


def pairwise_hinge_loss(
    scores: torch.Tensor,
    targets: torch.Tensor,
    margin: float = 0.1,
    max_pairs_per_example: int = 4,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Mean of ``max(0, margin - sign(y_i - y_j) (s_i - s_j))`` over random pairs with ``y_i != y_j``.

    At most ``max_pairs_per_example * n`` pairs are drawn (with replacement) from the batch of
    ``n``; pairs with equal targets are dropped. With fewer than ``max_pairs_per_example * n``
    distinct pairs available, every ordered pair ``i < j`` is used instead. Returns 0 (with a
    gradient path) when no pair has different targets.
    """
    n = scores.shape[0]
    budget = max_pairs_per_example * n
    if n * (n - 1) // 2 <= budget:
        first, second = torch.triu_indices(n, n, offset=1, device=scores.device)
    else:
        first = torch.randint(n, (budget,), generator=generator).to(scores.device)
        second = torch.randint(n, (budget,), generator=generator).to(scores.device)
    sign = torch.sign(targets[first] - targets[second])
    # Pairs with equal targets are weighted 0 rather than dropped: boolean indexing would make
    # the host wait for the device on every batch.
    keep = (sign != 0).to(scores.dtype)
    hinge = torch.clamp(margin - sign * (scores[first] - scores[second]), min=0.0)
    return (hinge * keep).sum() / keep.sum().clamp(min=1.0)
