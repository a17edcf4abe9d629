"""Hook-based parameter and FLOP counting, shared by the networks of every search space (each
space's network builder lives in its own folder, e.g. ``spaces/nb201/network.py``)."""
from .cost_counting import CONVENTIONS, count_params_flops, module_flops

__all__ = ["CONVENTIONS", "count_params_flops", "module_flops"]
