"""The FBNet search space (HELP's 5,000 architectures), all in this folder.

- :mod:`.space`: layer choices, arch strings, chain graphs and :class:`FBNetSpace` (registered as
  "fbnet");
- :mod:`.network`: the HW-NAS-Bench network; :mod:`.costs`: its closed-form params and FLOPs;
  :mod:`.cost_features`: its per-op cost features;
- :mod:`.proxies`: NASFLAT's published zero-cost proxies;
- :mod:`.devices`: HELP's devices; ``tasks.yaml``: the FBNet tasks.
"""
from .space import FBNetSpace

__all__ = ["FBNetSpace"]
