"""The models the page serves: every zoo model that ships (or --weights for the chosen one), then
those trained on the page."""
from . import runs
from .models import MODELS
from .weights import Loaded, load, shipped_path


def load_models(default: str, weights: str | None) -> dict[str, Loaded]:
    """The chosen model (from --weights if given) first, every other zoo model that ships, then
    the models trained on the page, oldest first: picker label -> model."""
    models = {default: load(default, weights)}
    for name in MODELS:
        if name not in models and shipped_path(name).is_file():
            models[name] = load(name)
    return {**models, **runs.trained_models()}
