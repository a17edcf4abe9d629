"""Few-shot latency predictors behind one interface (``--predictor``).

- ``nasflat``: the NASFLAT GNN (the project's method);
- ``help``, ``multipredict``: the HELP and MultiPredict baselines;
- ``flops``, ``params``, ``closest_device``: zero-shot references;
- ``roofline``, ``roofline_prior``: linear regression of latency on cost totals;
- ``nasflat_plus``: NASFLAT with cost features and a roofline residual base.
"""
from .base import PREDICTORS, Adaptation, FewShotPredictor, list_predictors, predictor_class, seeded_generator
from . import help, multipredict, nasflat, nasflat_plus, references, roofline  # noqa: F401  (register the predictors)
from .nasflat import build_nasflat_model

__all__ = ["PREDICTORS", "Adaptation", "FewShotPredictor", "build_nasflat_model", "list_predictors",
           "predictor_class", "seeded_generator"]
