"""The 13 zero-cost proxies of an untrained network, computed with plain PyTorch.

Each proxy scores a freshly initialised network from one small batch. Here the batch is synthetic
(seeded Gaussian images with balanced random labels: no CIFAR data is needed or used), so the
scores rank architectures by their structure and initialisation alone; NASLib computed its
published file on real CIFAR-10 batches, and the agreement with it is reported by
``python -m nas_embedding_suite encode --space nb201 --kind zcp --validate``.

Definitions (``W``: the weight of every convolution and linear layer; ``g``: its gradient of the
cross-entropy loss on the batch; ``a``, ``da``: a layer's output activation and its gradient):

- ``params``: parameters in millions; ``flops``: MFLOPs of one 32x32 image (analytic, passed in);
- ``l2_norm``: sum of ``||W||_2``; ``grad_norm``: sum of ``||g||_2``;
- ``plain``: sum of ``g * W``; ``snip``: sum of ``|g * W|``;
- ``grasp``: ``-sum(W * Hg)`` with ``H`` the loss Hessian (a Hessian-vector product);
- ``fisher``: per layer and channel, ``0.5 * mean_batch(sum_space(a * da))^2``, summed;
- ``jacov``: from the input Jacobians ``J`` of the summed outputs (one row per image), with ``v``
  the eigenvalues of their correlation matrix: ``-sum(log(v + 1e-5) + 1 / (v + 1e-5))``;
- ``epe_nas``: per label, ``s_c = sum(log(|corr(J_c)| + 1e-5))``; the score is the mean of
  ``|s_c - s_d|`` over label pairs;
- ``nwot``: ``log|det K|`` of the binary-code kernel of the ReLU inputs (NASWOT);
- ``synflow``: with absolute weights, batch norm in inference mode, double precision and an input
  of ones, ``sum(|W * dR/dW|)`` for ``R`` the sum of the outputs;
- ``zen``: with Gaussian weights, ``log E|f(x) - f(x + 0.01 e)|`` of the feature map before the
  global pooling, plus ``sum log sqrt(mean batch-norm input variance)`` over batch norms.

One forward pass serves ``jacov``, ``epe_nas``, ``nwot``, ``grad_norm``, ``plain``, ``snip``,
``fisher`` and ``grasp``; ``synflow`` and ``zen`` need their own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ZCP_NAMES = [
    "epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "params",
    "plain", "snip", "synflow", "zen",
]


@dataclass(frozen=True)
class ProxyBatch:
    """The fixed synthetic batch every network is scored on."""

    images: torch.Tensor  # [B, 3, H, W]
    labels: torch.Tensor  # [B], balanced over ``num_labels`` labels
    noise: torch.Tensor  # [B, 3, H, W], zen's perturbation direction

    @classmethod
    def synthetic(cls, seed: int = 0, batch_size: int = 16, num_labels: int = 4,
                  resolution: int = 32) -> "ProxyBatch":
        """Seeded Gaussian images; each of ``num_labels`` labels appears equally often."""
        generator = torch.Generator().manual_seed(seed)
        shape = (batch_size, 3, resolution, resolution)
        images = torch.randn(shape, generator=generator)
        labels = torch.arange(batch_size) % num_labels
        labels = labels[torch.randperm(batch_size, generator=generator)]
        return cls(images, labels, torch.randn(shape, generator=generator))


def _weighted_layers(model: nn.Module) -> List[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _jacobian_scores(jacobians: torch.Tensor, labels: torch.Tensor) -> Dict[str, float]:
    flat = jacobians.reshape(len(jacobians), -1).double()
    eps = 1e-5
    corr = torch.nan_to_num(torch.corrcoef(flat))
    eigenvalues = torch.linalg.eigvalsh(corr).clamp_min(0.0)
    jacov = -torch.sum(torch.log(eigenvalues + eps) + 1.0 / (eigenvalues + eps)).item()
    per_label = []
    for label in torch.unique(labels):
        rows = flat[labels == label]
        if len(rows) > 1:
            per_label.append(torch.log(torch.nan_to_num(torch.corrcoef(rows)).abs() + eps).sum())
    gaps = [abs(a - b) for i, a in enumerate(per_label) for b in per_label[i + 1:]]
    epe = torch.stack(gaps).mean().item() if gaps else 0.0
    return {"jacov": jacov, "epe_nas": epe}


def naswot_score(codes: List[torch.Tensor]) -> float:
    """NASWOT: ``log|det K|``, ``K[i, j]`` = positions where images i and j agree in ReLU sign.

    ``codes``: one [B, units] 0/1 tensor per ReLU (1 where its input is positive); a network
    without ReLUs scores 0."""
    if not codes:
        return 0.0
    kernel = sum(c @ c.t() + (1 - c) @ (1 - c).t() for c in codes)
    return torch.slogdet(kernel.double())[1].item()


def _gradient_scores(model: nn.Module, batch: ProxyBatch) -> Dict[str, float]:
    """jacov, epe_nas, nwot, grad_norm, plain, snip, fisher and grasp from one forward pass."""
    layers = _weighted_layers(model)
    weights = [m.weight for m in layers]
    codes: List[torch.Tensor] = []
    fisher_terms: List[torch.Tensor] = []
    capture = {"fisher": False}

    def relu_hook(module, inputs, output):
        codes.append((inputs[0].detach() > 0).flatten(1).float())

    def layer_hook(module, inputs, output):
        activation = output.detach()

        def on_grad(grad):
            if capture["fisher"]:
                product = activation * grad.detach()
                if product.dim() == 4:
                    product = product.sum((2, 3))
                fisher_terms.append((0.5 * product.pow(2).mean(0)).sum())

        output.register_hook(on_grad)

    handles = [m.register_forward_hook(relu_hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    handles += [m.register_forward_hook(layer_hook) for m in layers]
    try:
        model.train()
        images = batch.images.clone().requires_grad_(True)
        outputs = model(images)
        jacobians = torch.autograd.grad(outputs.sum(), images, retain_graph=True)[0]
        loss = F.cross_entropy(outputs, batch.labels)
        capture["fisher"] = True
        grads = torch.autograd.grad(loss, weights, create_graph=True)
        capture["fisher"] = False
        z = sum((g.detach() * g).sum() for g in grads)
        hessian_grads = torch.autograd.grad(z, weights)
    finally:
        for handle in handles:
            handle.remove()
    scores = _jacobian_scores(jacobians, batch.labels)
    with torch.no_grad():
        scores["nwot"] = naswot_score(codes)
        scores["grad_norm"] = sum(g.norm() for g in grads).item()
        scores["plain"] = sum((g * w).sum() for g, w in zip(grads, weights)).item()
        scores["snip"] = sum((g * w).abs().sum() for g, w in zip(grads, weights)).item()
        scores["grasp"] = -sum((w * h).sum() for w, h in zip(weights, hessian_grads)).item()
        scores["fisher"] = sum(fisher_terms).item() if fisher_terms else 0.0
    return scores


def _synflow(model: nn.Module, resolution: int) -> float:
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()  # inference-mode batch norm, untouched by earlier passes
    model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad()
    model(torch.ones(1, 3, resolution, resolution, dtype=torch.float64)).sum().backward()
    with torch.no_grad():
        score = sum((m.weight * m.weight.grad).abs().sum() for m in _weighted_layers(model))
    model.float()
    return float(score)


def _zen(model: nn.Module, batch: ProxyBatch, pooling: nn.Module) -> float:
    features: List[torch.Tensor] = []
    variances: List[torch.Tensor] = []
    handles = [pooling.register_forward_hook(lambda m, i, o: features.append(i[0]))]
    handles += [m.register_forward_hook(lambda m, i, o: variances.append(i[0].var((0, 2, 3)).mean()))
                for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    try:
        model.train()
        with torch.no_grad():
            for m in _weighted_layers(model):
                m.weight.normal_()
            model(batch.images)
            count = len(variances)
            model(batch.images + 0.01 * batch.noise)
    finally:
        for handle in handles:
            handle.remove()
    gap = (features[0] - features[1]).abs().mean().clamp_min(1e-30)
    return float(torch.log(gap) + sum(0.5 * torch.log(v.clamp_min(1e-30)) for v in variances[:count]))


def compute_proxies(model: nn.Module, batch: ProxyBatch, pooling: nn.Module,
                    flops: float) -> Dict[str, float]:
    """All 13 proxies of ``model`` (freshly initialised; it is modified: use it once).

    ``pooling`` is the model's global-pooling module (zen reads its input); ``flops`` is the
    model's analytic MFLOPs (the ``flops`` proxy)."""
    weights = [m.weight for m in _weighted_layers(model)]
    scores = {
        "params": sum(p.numel() for p in model.parameters()) / 1e6,
        "flops": float(flops),
        "l2_norm": float(sum(w.detach().norm() for w in weights)),
    }
    scores.update(_gradient_scores(model, batch))
    scores["synflow"] = _synflow(model, batch.images.shape[-1])
    scores["zen"] = _zen(model, batch, pooling)
    return scores


def proxy_vector(scores: Dict[str, float]) -> np.ndarray:
    """The scores in :data:`ZCP_NAMES` order."""
    return np.array([scores[name] for name in ZCP_NAMES], dtype=np.float64)
