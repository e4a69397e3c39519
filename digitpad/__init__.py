"""digitpad: draw a digit, watch a CNN think."""
from importlib import import_module

__all__ = ["classify", "load_model", "preprocess", "teach"]
_HOMES = {"classify": ".inference", "load_model": ".weights", "preprocess": ".canvas",
          "teach": ".teaching"}


def __getattr__(name):
    # Imported on first use: `digitpad --help` must answer without loading torch. (So no module
    # may share a name with these four: importing it would bind the module in their place.)
    if name in _HOMES:
        return getattr(import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module 'digitpad' has no attribute {name!r}")
