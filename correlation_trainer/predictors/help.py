"""``--predictor help``: the HELP baseline (Lee et al. 2021; spec section 10).

- Hardware embedding: the device's latencies on HELP's 10 reference architectures, min-max scaled
  over those 10. On a target device they are 10 measurements beyond the k samples: they are
  excluded from the honest evaluation, and ``reference_archs`` in the result rows says how many.
- Meta-training (``--meta_episodes``, 2000): each episode takes 8 source devices; on each, Meta-SGD
  adapts the regressor in 2 second-order inner steps (learned per-parameter step sizes) on 10
  support architectures, and the loss on 200 query architectures (plus 0.1 x the modulator's KL
  term) trains the initial weights, the step sizes (starting at 1e-3) and the modulator. Support
  and query come from the shared source set (``--sample_sizes``); targets are min-max scaled into
  [0.05, 0.95] by the range of the support and reference latencies (what a target device has
  measured at test time). Adam with HELP's meta learning rate, 1e-4, on both spaces.
- Adaptation: the same 2 inner steps on the target's k samples (scaled alike), 10 times with
  a sampled modulation z; the 10 predictions are averaged.
"""
from __future__ import annotations

import copy
from typing import Dict, List

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from ..models.graph_layers import self_and_predecessor_sum
from ..models.help_regressor import HardwareModulator, HelpRegressor
from .base import PREDICTORS, Adaptation, FewShotPredictor, PredictorOption, seeded_generator

INNER_STEPS = 2
INNER_LR_INIT = 1e-3
META_LR = 1e-4
DEVICES_PER_EPISODE = 8
SUPPORT = 10
QUERY = 200
KL_WEIGHT = 0.1
ADAPT_SAMPLES = 10
LOW, HIGH = 0.05, 0.95

#: FBNet block name -> HELP's per-layer features (kernel 3, kernel 5, expansion 1, 3, 6, groups 2)
FBNET_LAYER_FEATURES = {
    "k3_e1": [1, 0, 1, 0, 0, 0], "k3_e1_g2": [1, 0, 1, 0, 0, 1], "k3_e3": [1, 0, 0, 1, 0, 0],
    "k3_e6": [1, 0, 0, 0, 1, 0], "k5_e1": [0, 1, 1, 0, 0, 0], "k5_e1_g2": [0, 1, 1, 0, 0, 1],
    "k5_e3": [0, 1, 0, 1, 0, 0], "k5_e6": [0, 1, 0, 0, 1, 0], "skip": [0, 0, 0, 0, 0, 0],
}


def global_node_graph(adjacency: torch.Tensor, op_ids: torch.Tensor, mask: torch.Tensor,
                      num_ops: int) -> Dict[str, torch.Tensor]:
    """HELP's NB201 graph input: the cell plus a global node (last) that every valid node feeds.

    ``incoming[a, i, j] = 1`` where node i sums node j: itself, its predecessors and, for the
    global node, every valid node. Node features: the op one-hot plus a global-node flag.
    """
    count, nodes = op_ids.shape
    incoming = torch.zeros(count, nodes + 1, nodes + 1, dtype=torch.float32, device=adjacency.device)
    incoming[:, :nodes, :nodes] = self_and_predecessor_sum(adjacency, mask)
    incoming[:, nodes, :nodes] = mask
    incoming[:, nodes, nodes] = 1.0
    onehot = torch.zeros(count, nodes + 1, num_ops + 1, dtype=torch.float32, device=adjacency.device)
    onehot[:, :nodes, :num_ops] = F.one_hot(op_ids, num_ops).to(torch.float32) * mask.unsqueeze(-1)
    onehot[:, nodes, num_ops] = 1.0
    return {"onehot": onehot, "incoming": incoming}


def scale_into_range(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Min-max scale ``values`` by ``reference``'s range into [0.05, 0.95] (NaN-safe)."""
    low, high = np.nanmin(reference), np.nanmax(reference)
    span = high - low if high > low else 1.0
    return LOW + (HIGH - LOW) * (values - low) / span


class MetaLearner(nn.Module):
    """Everything meta-learned: the regressor's initial weights, Meta-SGD step sizes, modulator."""

    def __init__(self, regressor: HelpRegressor, hw_dim: int):
        super().__init__()
        self.regressor = regressor
        self.step_sizes = nn.ParameterDict({
            name.replace(".", "__"): nn.Parameter(torch.full_like(p, INNER_LR_INIT))
            for name, p in regressor.named_parameters()
        })
        self.modulator = HardwareModulator(hw_dim, regressor.modulated_widths)

    def adapted(self, inputs, hw, targets, modulation, second_order: bool) -> Dict[str, torch.Tensor]:
        """The regressor's parameters after the inner steps on (inputs, targets)."""
        params = dict(self.regressor.named_parameters())
        for _ in range(INNER_STEPS):
            loss = F.mse_loss(functional_call(self.regressor, params, (inputs, hw, modulation)), targets)
            grads = torch.autograd.grad(loss, list(params.values()), create_graph=second_order)
            params = {name: p - self.step_sizes[name.replace(".", "__")] * g
                      for (name, p), g in zip(params.items(), grads)}
        return params


@PREDICTORS.register("help")
class HelpPredictor(FewShotPredictor):
    """HELP: a hardware-conditioned, meta-learned latency regressor."""

    name = "help"
    display_name = "HELP"
    table_order = 50
    options = (PredictorOption("meta_episodes", 2000, "meta-training episodes (8 source devices each)", type=int),)
    help_source_budget = True

    def __init__(self, config, data, torch_device):
        super().__init__(config, data, torch_device)
        self.references = self.reference_archs(data.space)
        self.encoder = data.space.baseline_encoder
        self.inputs = self._architecture_inputs()
        values = data.table.values
        embeddings = np.stack([scale_into_range(values[d, self.references], values[d, self.references])
                               for d in range(values.shape[0])])
        embeddings = np.where(np.isnan(embeddings), np.nanmean(embeddings, axis=1, keepdims=True), embeddings)
        self.hw = torch.as_tensor(embeddings, dtype=torch.float32, device=torch_device)

    def _architecture_inputs(self) -> Dict[str, torch.Tensor]:
        """Encoder inputs of every architecture of the space."""
        d = self.data
        mask = d.node_mask.to(torch.float32)
        if self.encoder == "mlp":
            names = d.space.node_op_names
            table = torch.tensor([FBNET_LAYER_FEATURES.get(n, [0] * 6) for n in names], dtype=torch.float32)
            features = table.to(d.op_ids.device)[d.op_ids[:, 1:-1]]  # the 22 searchable layers
            return {"features": features.flatten(1)}
        return global_node_graph(d.adjacency.to(torch.float32), d.op_ids, mask, len(d.space.node_op_names))

    def _take(self, archs) -> Dict[str, torch.Tensor]:
        index = torch.as_tensor(np.asarray(archs, dtype=np.int64), device=self.torch_device)
        return {name: tensor[index] for name, tensor in self.inputs.items()}

    def scaled_targets(self, device: int, archs: np.ndarray, known: np.ndarray) -> torch.Tensor:
        """Latencies of ``archs`` on ``device`` scaled into [0.05, 0.95] by the range of what is
        measured there at adaptation time: the ``known`` samples and the reference archs. Meta-training
        scales its episodes the same way as a target is scaled at test time."""
        latency = self.data.table.values[device]
        reference = latency[np.concatenate((known, self.references))]
        return torch.as_tensor(scale_into_range(latency[archs], reference), dtype=torch.float32,
                               device=self.torch_device)

    def settings(self) -> Dict[str, object]:
        return {"encoder": self.encoder, "reference_archs": len(self.references), "inner_steps": INNER_STEPS,
                "meta_lr": META_LR, "devices_per_episode": DEVICES_PER_EPISODE, "support": SUPPORT,
                "query": QUERY, "kl_weight": KL_WEIGHT, "adapt_samples": ADAPT_SAMPLES}

    @classmethod
    def reference_archs(cls, space) -> np.ndarray:
        return np.asarray(space.help_reference_archs)

    def build_learner(self) -> MetaLearner:
        """A freshly initialised meta-learner (seed torch before calling)."""
        first = next(iter(self.inputs.values()))
        in_features = first.shape[-1]
        return MetaLearner(HelpRegressor(self.encoder, in_features, hw_dim=len(self.references)),
                           len(self.references)).to(self.torch_device)

    def pretrain_epochs(self) -> int:
        return self.config.meta_episodes

    def pretrain(self, archs, seq, progress):
        torch.manual_seed(int(seq.generate_state(1)[0]))
        learner = self.build_learner()
        if len(archs) == 0:
            return copy.deepcopy(learner.state_dict())
        rng = np.random.default_rng(seq.spawn(1)[0])
        generator = seeded_generator(seq)
        sources = np.asarray(self.data.source_devices)
        optimiser = torch.optim.Adam(learner.parameters(), lr=META_LR)
        learner.train()
        for _ in range(self.config.meta_episodes):
            devices = rng.choice(sources, size=min(DEVICES_PER_EPISODE, len(sources)), replace=False)
            total = 0.0
            for device in devices:
                chosen = rng.choice(archs, size=min(SUPPORT + QUERY, len(archs)), replace=False)
                support, query = chosen[:SUPPORT], chosen[SUPPORT:]
                if len(query) == 0:
                    query = support
                y = self.scaled_targets(device, np.concatenate((support, query)), support)
                hw = self.hw[device]
                modulation, kl = learner.modulator(hw, generator)
                params = learner.adapted(self._take(support), hw, y[:len(support)], modulation, second_order=True)
                predicted = functional_call(learner.regressor, params, (self._take(query), hw, modulation))
                total = total + F.mse_loss(predicted, y[len(support):]) + KL_WEIGHT * kl
            optimiser.zero_grad(set_to_none=True)
            (total / len(devices)).backward()
            optimiser.step()
            progress()
        return copy.deepcopy(learner.state_dict())

    def adapt(self, state, target, archs, eval_archs, seq, scored_epochs, keep_model, progress):
        learner = self.build_learner()
        learner.load_state_dict(state)
        learner.eval()
        generator = seeded_generator(seq)
        y = self.scaled_targets(target, archs, archs)
        hw = self.hw[target]
        support, evaluate = self._take(archs), self._take(eval_archs)
        total = np.zeros(len(eval_archs))
        sample_total = np.zeros(len(archs))
        for _ in range(ADAPT_SAMPLES):
            modulation, _ = learner.modulator(hw, generator)
            modulation = [(scale.detach(), shift.detach()) for scale, shift in modulation]
            params = learner.adapted(support, hw, y, modulation, second_order=False)
            detached = {n: p.detach() for n, p in params.items()}
            with torch.no_grad():
                predicted = functional_call(learner.regressor, detached, (evaluate, hw, modulation))
                on_samples = functional_call(learner.regressor, detached, (support, hw, modulation))
            total += predicted.double().cpu().numpy()
            sample_total += on_samples.double().cpu().numpy()
        scores: List[np.ndarray] = [total / ADAPT_SAMPLES]
        return Adaptation(scores, sample_scores=sample_total / ADAPT_SAMPLES)
