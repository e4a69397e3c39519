"""Checkpoints: atomic save with metadata, safe load (weights_only), the shipped weights."""
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from .models import DEFAULT_MODEL, MODELS, build_model

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


class WeightsError(ValueError):
    """A weights file that is missing, unreadable, or for another model."""


def shipped_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.pt"


def save_atomic(obj, path: str | Path) -> None:
    """torch.save to a temp file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; weights are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_weights(model: nn.Module, name: str, path: str | Path, **meta) -> None:
    save_atomic({"model": name, "state_dict": model.state_dict(), "meta": meta}, path)


def read_checkpoint(path: str | Path, hint: str = "") -> dict:
    """Load a checkpoint dict with weights_only=True: no code in the file ever runs."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no weights file at {path}. {hint}".strip())
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(
            f"{path} is not a readable digitpad checkpoint ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no detail'}). {hint}".strip()) from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise WeightsError(f"{path} is a torch file but not a digitpad checkpoint. {hint}".strip())
    return ckpt


def load_model(name: str | None = None, weights: str | Path | None = None) -> nn.Module:
    """A zoo model in eval mode with trained weights: the shipped ones unless `weights` is given."""
    name = name or DEFAULT_MODEL
    if name not in MODELS:
        raise WeightsError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    path = Path(weights) if weights else shipped_path(name)
    hint = f"Train them with: python scripts/train.py --model {name} --out {path.parent}"
    ckpt = read_checkpoint(path, hint)
    if ckpt.get("model", name) != name:
        raise WeightsError(f"{path} holds weights for {ckpt['model']!r}, not {name!r}.")
    model = build_model(name)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise WeightsError(f"{path} does not fit the {name} architecture: "
                           f"{str(e).splitlines()[0]}. {hint}") from e
    model.meta = ckpt.get("meta", {})
    return model.eval()
