"""Zero-shot references (spec section 10): rank by FLOPs, by parameters, or by the latencies of the
source device that correlates best with the target on its k samples. Nothing is trained."""
from __future__ import annotations

import numpy as np

from ..task_data import closest_source
from .base import PREDICTORS, Adaptation, FewShotPredictor


class _StaticRanking(FewShotPredictor):
    """Scores every architecture by a fixed per-architecture value; the k samples are not used."""

    pretrains = False
    deterministic = True

    def values(self) -> np.ndarray:
        raise NotImplementedError

    def pretrain(self, archs, seq, progress):
        return None

    def adapt(self, state, target, archs, eval_archs, seq, scored_epochs, keep_model, progress):
        values = np.asarray(self.values(), dtype=np.float64)
        return Adaptation([values[eval_archs]], sample_scores=values[archs])


@PREDICTORS.register("flops")
class FlopsReference(_StaticRanking):
    """Rank by the analytic FLOPs of each architecture."""

    name = "flops"
    display_name = "FLOPs ranking"
    table_order = 80

    def values(self) -> np.ndarray:
        return self.data.space.flops


@PREDICTORS.register("params")
class ParamsReference(_StaticRanking):
    """Rank by the analytic parameter count of each architecture."""

    name = "params"
    display_name = "params ranking"
    table_order = 90

    def values(self) -> np.ndarray:
        return self.data.space.params


@PREDICTORS.register("closest_device")
class ClosestDeviceReference(FewShotPredictor):
    """Predict with the latencies of the source device whose ranking of the k samples agrees best
    (Spearman) with the target's. Architectures that source did not measure (a few hundred on some
    LatBench devices) get its median latency."""

    name = "closest_device"
    display_name = "closest source device"
    table_order = 70
    pretrains = False
    deterministic = True

    def pretrain(self, archs, seq, progress):
        return None

    def adapt(self, state, target, archs, eval_archs, seq, scored_epochs, keep_model, progress):
        source = closest_source(self.data, target, archs)
        latency = self.data.table.values[source].astype(np.float64)
        latency = np.where(np.isnan(latency), np.nanmedian(latency), latency)
        return Adaptation([latency[eval_archs]], hw_source=self.data.device_name(source),
                          sample_scores=latency[archs])
