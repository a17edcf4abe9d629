"""``--predictor nasflat``: the NASFLAT GNN (spec sections 3-4), pretrained with the pairwise
hinge loss on the source devices and fine-tuned on the target's k samples."""
from __future__ import annotations

import copy
from typing import Dict, List

import numpy as np
import torch

from ..models import NASFLATModel
from ..models.graph_layers import FUSE_METHODS, GNN_TYPES
from ..task_data import TaskData, closest_source
from ..training import FitSettings, fit, predict
from .base import PREDICTORS, Adaptation, FewShotPredictor, PredictorOption, seeded_generator

#: The GNN's options (NASFLAT and NASFLAT+). They were in every run key before predictors declared
#: their options, and stay there so that earlier results keep their keys.
GNN_OPTIONS = (
    PredictorOption("gnn_type", "ensemble", "graph layer type", choices=GNN_TYPES, in_every_run_key=True),
    PredictorOption("ensemble_fuse_method", "add", "how the ensemble layer fuses its two branches",
                    choices=FUSE_METHODS, in_every_run_key=True),
    PredictorOption("transfer_hwemb", True, "initialise the target's hardware embedding from the most "
                    "correlated source", boolean=True, in_every_run_key=True),
    PredictorOption("hwemb_to_mlp", False, "feed the hardware embedding to the head instead of every op "
                    "embedding", boolean=True, in_every_run_key=True),
    PredictorOption("dropout", None, "dropout of the head and encoding MLP. Default: the space's "
                    "(0 nb201, 0.1 fbnet)", type=float, space_default=True, in_every_run_key=True),
    PredictorOption("supp_dropout", None, "dropout of the encoding MLP alone (adj_gin_<encoding> "
                    "representations). Default: the same as --dropout", type=float, in_every_run_key=True),
)


def build_nasflat_model(config, data: TaskData, num_devices: int) -> NASFLATModel:
    """A freshly initialised NASFLAT model for ``config`` on ``data``'s space and encoding."""
    supp_dim = 0 if data.supplementary is None else data.supplementary.shape[1]
    return NASFLATModel(
        num_ops=len(data.space.node_op_names),
        num_devices=num_devices,
        gnn_type=config.gnn_type,
        ensemble_fuse_method=config.ensemble_fuse_method,
        hwemb_to_mlp=config.hwemb_to_mlp,
        supp_dim=supp_dim,
        node_feature_dim=0 if data.node_features is None else data.node_features.shape[-1],
        dropout=config.dropout,
        supp_dropout=config.supp_dropout,
    )


@PREDICTORS.register("nasflat")
class NasflatPredictor(FewShotPredictor):
    """NASFLAT: every setting comes from the ExperimentConfig (the CLI flags)."""

    name = "nasflat"
    display_name = "NASFLAT"
    table_order = 20
    options = GNN_OPTIONS
    reads_representation = True
    checkpoint_kind = "weights"

    def build_model(self) -> NASFLATModel:
        """A freshly initialised model (seed torch before calling)."""
        model = build_nasflat_model(self.config, self.data, len(self.data.task.devices))
        return model.to(self.torch_device)

    def pretrain_epochs(self) -> int:
        return self.config.epochs

    def source_offsets(self, archs: np.ndarray, examples: np.ndarray, devices: np.ndarray):
        """Per-example score offsets while pretraining (none: NASFLAT+ adds a residual base)."""
        return None

    def target_offsets(self, target: int, archs: np.ndarray, eval_archs: np.ndarray):
        """Score offsets of the k samples and of the evaluated archs on ``target`` (none)."""
        return None, None

    def adapt_epochs(self) -> int:
        return self.config.transfer_epochs

    def pretrain(self, archs, seq, progress) -> Dict[str, torch.Tensor]:
        c = self.config
        torch.manual_seed(int(seq.generate_state(1)[0]))
        model = self.build_model()
        if len(archs) > 0:
            sources = self.data.source_devices
            devices = np.repeat(sources, len(archs))
            settings = FitSettings(c.epochs, c.lr, c.batch_size, c.weight_decay, c.eta_min)
            examples = np.tile(archs, len(sources))
            fit(model, self.data, examples, devices, settings, seeded_generator(seq), progress=progress,
                offsets=self.source_offsets(archs, examples, devices))
        return copy.deepcopy(model.state_dict())

    def adapt(self, state, target, archs, eval_archs, seq, scored_epochs, keep_model,
              progress) -> Adaptation:
        c = self.config
        k = len(archs)
        torch.manual_seed(int(seq.generate_state(1)[0]))
        model = self.build_model()
        model.load_state_dict(state)
        hw_source = "-"
        if c.transfer_hwemb:
            source = closest_source(self.data, target, archs)
            model.copy_hardware_embedding(source, target)
            hw_source = self.data.device_name(source)

        scores: List[np.ndarray] = []
        train_offsets, eval_offsets = self.target_offsets(target, archs, eval_archs)

        def evaluate(epoch: int) -> None:
            if epoch >= c.transfer_epochs - scored_epochs:
                scores.append(predict(model, self.data, eval_archs, target, offsets=eval_offsets))

        settings = FitSettings(c.transfer_epochs, c.transfer_lr, c.transfer_batch_size or k,
                               c.weight_decay, c.eta_min)
        fit(model, self.data, archs, np.full(k, target), settings, seeded_generator(seq),
            on_epoch_end=evaluate, progress=progress, offsets=train_offsets)
        if not scores:  # zero fine-tuning epochs: score the pretrained model
            scores.append(predict(model, self.data, eval_archs, target, offsets=eval_offsets))
        model_state = None
        if keep_model:
            model_state = {n: t.detach().cpu().clone() for n, t in model.state_dict().items()}
        sample_scores = predict(model, self.data, archs, target, offsets=train_offsets)
        return Adaptation(scores, hw_source, model_state, sample_scores)
