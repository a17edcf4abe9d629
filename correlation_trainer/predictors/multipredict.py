"""``--predictor multipredict``: the MultiPredict baseline (spec section 10).

Pretrained with the L1 loss on min-max scaled latencies of the source devices (AdamW, lr 4e-4,
cosine schedule, ``--epochs`` and ``--batch_size``). To transfer, the target's device embedding
starts as a copy of the source device that correlates best with it on the k samples; the model is
fine-tuned ``--transfer_epochs`` on the k samples, 10 times with different seeds, and the 10
predictions are averaged.

Its per-architecture vector is the published zero-cost-proxy encoding on FBNet; on NB201, log
params and FLOPs (``pf``) stand in, so that its results do not depend on the proxies this project
computes itself (the space's ``multipredict_encoding``; the comparison table was measured this way).
"""
from __future__ import annotations

import copy
from dataclasses import replace
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F

from nas_embedding_suite.encodings import load_encoding

from ..models.multipredict import MultiPredictModel
from ..task_data import closest_source
from ..training import FitSettings, fit, predict
from .base import PREDICTORS, Adaptation, FewShotPredictor, seeded_generator

LEARNING_RATE = 4e-4
FINETUNES = 10


def l1_loss(scores: torch.Tensor, targets: torch.Tensor, generator=None) -> torch.Tensor:
    """Mean absolute error (``generator`` is unused; it keeps the loss interface of ``fit``)."""
    return F.l1_loss(scores, targets.to(scores.dtype))


@PREDICTORS.register("multipredict")
class MultiPredictPredictor(FewShotPredictor):
    """MultiPredict: regression of scaled latency with a learned device embedding."""

    name = "multipredict"
    display_name = "MultiPredict"
    table_order = 60
    help_source_budget = True

    def __init__(self, config, data, torch_device):
        super().__init__(config, data, torch_device)
        self.encoding = data.space.multipredict_encoding
        self.encoder = data.space.baseline_encoder
        vectors = torch.from_numpy(load_encoding(self.encoding, data.space)).to(torch_device)
        self.data = replace(data, supplementary=vectors)

    def settings(self) -> Dict[str, object]:
        return {"lr": LEARNING_RATE, "finetunes": FINETUNES, "encoder": self.encoder,
                "encoding": self.encoding, "loss": "l1"}

    def build_model(self) -> MultiPredictModel:
        """A freshly initialised model (seed torch before calling)."""
        return MultiPredictModel(
            num_ops=len(self.data.space.node_op_names), num_nodes=self.data.op_ids.shape[1],
            num_devices=len(self.data.task.devices), supp_dim=self.data.supplementary.shape[1],
            encoder=self.encoder,
        ).to(self.torch_device)

    def pretrain_epochs(self) -> int:
        return self.config.epochs

    def adapt_epochs(self) -> int:
        return FINETUNES * self.config.transfer_epochs

    def pretrain(self, archs, seq, progress):
        c = self.config
        torch.manual_seed(int(seq.generate_state(1)[0]))
        model = self.build_model()
        if len(archs) > 0:
            sources = self.data.source_devices
            settings = FitSettings(c.epochs, LEARNING_RATE, c.batch_size, c.weight_decay, c.eta_min)
            fit(model, self.data, np.tile(archs, len(sources)), np.repeat(sources, len(archs)),
                settings, seeded_generator(seq), progress=progress, loss_fn=l1_loss)
        return copy.deepcopy(model.state_dict())

    def adapt(self, state, target, archs, eval_archs, seq, scored_epochs, keep_model, progress):
        c = self.config
        k = len(archs)
        source = closest_source(self.data, target, archs)
        totals: Dict[int, np.ndarray] = {}
        sample_total = np.zeros(k)
        for child in seq.spawn(FINETUNES):
            torch.manual_seed(int(child.generate_state(1)[0]))
            model = self.build_model()
            model.load_state_dict(state)
            model.copy_device_embedding(source, target)

            def evaluate(epoch: int) -> None:
                if epoch >= c.transfer_epochs - scored_epochs:
                    scores = predict(model, self.data, eval_archs, target).astype(np.float64)
                    totals[epoch] = totals.get(epoch, 0.0) + scores

            settings = FitSettings(c.transfer_epochs, LEARNING_RATE, c.transfer_batch_size or k,
                                   c.weight_decay, c.eta_min)
            fit(model, self.data, archs, np.full(k, target), settings, seeded_generator(child),
                on_epoch_end=evaluate, progress=progress, loss_fn=l1_loss)
            if c.transfer_epochs == 0:
                totals[0] = totals.get(0, 0.0) + predict(model, self.data, eval_archs, target)
            sample_total += predict(model, self.data, archs, target)
        scores: List[np.ndarray] = [totals[e] / FINETUNES for e in sorted(totals)]
        return Adaptation(scores, hw_source=self.data.device_name(source),
                          sample_scores=sample_total / FINETUNES)
