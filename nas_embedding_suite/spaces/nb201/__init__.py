"""The NAS-Bench-201 search space, all in this folder.

- :mod:`.cells`: cells, arch strings, NASLib / LatBench op tuples, graphs;
- :mod:`.space`: :class:`NB201Space` (registered as "nb201");
- :mod:`.network`: the CIFAR-10 network of a cell; :mod:`.costs`: its closed-form params and FLOPs;
  :mod:`.cost_features`: its per-op cost features;
- :mod:`.proxies`: the 13 zero-cost proxies computed here; :mod:`.metrics`: published accuracies
  and NASWOT scores;
- :mod:`.devices`: HELP's and LatBench's devices; ``tasks.yaml``: the NB201 tasks.
"""
from .space import NB201Space

__all__ = ["NB201Space"]
