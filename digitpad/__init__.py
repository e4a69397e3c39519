"""digitpad: draw a digit, watch a CNN think."""
from .weights import load_model

__all__ = ["load_model"]
