"""Latency-predictor models: the NASFLAT predictor and its gated graph layers."""

from .graph_layers import (
    DenseGraphFlow,
    EnsembleGraphLayer,
    GatedGraphAttention,
    build_graph_layer,
    incoming_matrix,
)
from .nasflat import NASFLATModel

__all__ = [
    "DenseGraphFlow",
    "EnsembleGraphLayer",
    "GatedGraphAttention",
    "NASFLATModel",
    "build_graph_layer",
    "incoming_matrix",
]
