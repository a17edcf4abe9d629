"""PyTorch builders for the networks behind the search spaces, and a hook-based cost counter."""
from .cost_counting import count_params_flops
from .fbnet_network import FBNET_CHOICES, build_fbnet_network
from .nb201_network import NB201_OPS, build_nb201_network

__all__ = [
    "FBNET_CHOICES",
    "NB201_OPS",
    "build_fbnet_network",
    "build_nb201_network",
    "count_params_flops",
]
