"""Checkpoints: atomic save with metadata, safe load (weights_only), the shipped weights."""
import os
import pickle
import tempfile
import warnings
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import torch
from torch import nn

from . import home
from .models import MODELS, build_model
from .names import DEFAULT_MODEL

# The checkout's weights/, installed as the package digitpad.shipped (see pyproject.toml).
WEIGHTS_DIR = Path(str(files("digitpad.shipped")))


class WeightsError(ValueError):
    """A weights file that is missing, unreadable, or for another model."""


def shipped_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.pt"


def write_atomic(path: str | Path, write) -> Path:
    """Call write(file) on a temp file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_atomic(obj, path: str | Path) -> None:
    """torch.save, atomically."""
    write_atomic(path, lambda f: torch.save(obj, f))


def save_weights(model: nn.Module, name: str, path: str | Path, **meta) -> None:
    save_atomic({"model": name, "state_dict": model.state_dict(), "meta": meta}, path)


def read_checkpoint(path: str | Path, hint: str = "", key: str = "state_dict") -> dict:
    """Load a checkpoint dict holding `key` with weights_only=True: no code in the file ever runs."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no weights file at {path}. {hint}".strip())
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of files it then refuses
            warnings.simplefilter("ignore", UserWarning)
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's own message suggests weights_only=False: never, a weights file must not run code.
        raise WeightsError(
            f"{path} is not a readable digitpad checkpoint: it is not a file of tensors that "
            f"torch loads safely, and digitpad never runs code from a weights file. {hint}".strip()) from e
    except Exception as e:
        raise WeightsError(
            f"{path} is not a readable digitpad checkpoint ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no detail'}). {hint}".strip()) from e
    if not isinstance(ckpt, dict) or key not in ckpt:
        raise WeightsError(f"{path} is a torch file but not a digitpad checkpoint. {hint}".strip())
    return ckpt


@dataclass(frozen=True, eq=False)  # compared and hashed by identity, as the module is
class Loaded:
    """A model with its weights loaded, where they came from and what their checkpoint says."""
    name: str  # the architecture, whatever the page calls this copy
    module: nn.Module  # in eval mode
    path: Path
    meta: dict  # what train.py (or a teach) recorded of the run


def load(name: str | None = None, weights: str | Path | None = None) -> Loaded:
    """A zoo model with trained weights: the shipped ones unless `weights` is given."""
    name = name or DEFAULT_MODEL
    if name not in MODELS:
        raise WeightsError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    path = Path(weights) if weights else shipped_path(name)
    # The hint names the runs folder in digitpad's home, never the weights' own (it may be "/").
    hint = (f"Train them with: python scripts/train.py --model {name}, which writes "
            f"{home.runs_dir() / f'{name}.pt'}; then pass that file to --weights")
    ckpt = read_checkpoint(path, hint)
    if ckpt.get("model", name) != name:
        raise WeightsError(f"{path} holds weights for {ckpt['model']!r}, not {name!r}.")
    model = build_model(name)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise WeightsError(f"{path} does not fit the {name} architecture: "
                           f"{str(e).splitlines()[0]}. {hint}") from e
    return Loaded(name, model.eval(), path, ckpt.get("meta", {}))


def load_model(name: str | None = None, weights: str | Path | None = None) -> nn.Module:
    """A zoo model in eval mode with trained weights: the shipped ones unless `weights` is given."""
    return load(name, weights).module
