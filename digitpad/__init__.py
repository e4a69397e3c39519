"""digitpad: draw a digit, watch a CNN think."""
from .inference import classify
from .preprocess import preprocess
from .weights import load_model

__all__ = ["classify", "load_model", "preprocess"]
