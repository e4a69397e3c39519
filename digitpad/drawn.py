"""Drawn-digit accuracy: pen strokes rendered as canvases or sent as the pad sends them, read by
preprocess + classify."""
import numpy as np
import torch
from PIL import Image

from . import pendigits
from .data import normalize
from .inference import tta_probs
from .canvas import ink_map
from .weights import Loaded

BLANK = -1  # the prediction recorded when preprocess saw nothing drawn


def sample(drawings: list, count: int | None, seed: int = 0) -> list:
    """A seeded subset (all when count is None), the same on every machine."""
    return [drawings[i] for i in sample_indices(len(drawings), count, seed)]


def sample_indices(n: int, count: int | None, seed: int = 0) -> list[int]:
    if count is None or count >= n:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n, count, replace=False).tolist())


def sample_inputs(drawings: list, count: int, seed: int = 0) -> torch.Tensor:
    """`count` seeded drawings rendered and preprocessed [count, 1, 28, 28], none blank: a fixed
    set to check the heat maps on, in the tests and in the bench."""
    x = pendigits.inputs(sample(drawings, count + count // 10, seed), seed=seed)
    return x[~x.isnan().flatten(1).any(1)][:count]


def unseen_writers(model: Loaded, writers) -> list[int]:
    """The writers among `writers` that the model did not train on (its checkpoint records them)."""
    trained = set(model.meta.get("pen_writers", []))
    return sorted(set(int(w) for w in writers) - trained)


def per_writer(labels: torch.Tensor, preds: torch.Tensor, writers: torch.Tensor) -> dict[int, float]:
    """Accuracy of each writer's digits."""
    return {int(w): accuracy(labels[writers == w], preds[writers == w]) for w in writers.unique()}


def shrunk_inputs(drawings: list, variant: str = "white", seed: int = 0) -> torch.Tensor:
    """What most demos do, for comparison: the whole canvas shrunk to 28x28, no crop or centring."""
    rng = np.random.default_rng(seed)
    out = torch.empty((len(drawings), 1, 28, 28))
    for i, d in enumerate(drawings):
        ink = Image.fromarray(ink_map(pendigits.render(d, rng, variant)))
        out[i, 0] = normalize(torch.from_numpy(np.asarray(ink.resize((28, 28), Image.Resampling.BOX))))
    return out


@torch.inference_mode()
def single_pass(model, x: torch.Tensor) -> torch.Tensor:
    """Predictions from one plain forward pass each, without classify's rotations; BLANK where blank."""
    blank = x.isnan().flatten(1).any(1)
    return torch.where(blank, BLANK, model.eval()(torch.nan_to_num(x)).argmax(1))


@torch.inference_mode()
def probabilities(model, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """classify's probabilities for each preprocessed input, in batches: [N, 10], zeros where blank."""
    probs = torch.zeros(len(x), 10)
    drawn = ~x.isnan().flatten(1).any(1)
    probs[drawn] = torch.cat([tta_probs(model, chunk) for chunk in x[drawn].split(batch_size)]
                             or [torch.zeros(0, 10)])
    return probs


def digits(probs: torch.Tensor) -> torch.Tensor:
    """The digit each row of `probabilities` names; BLANK for the all-zero rows of blank inputs."""
    return torch.where(probs.sum(1) > 0, probs.argmax(1), BLANK)


def predict(model, x: torch.Tensor) -> torch.Tensor:
    """Predicted digits for preprocessed inputs; BLANK where the input was blank."""
    return digits(probabilities(model, x))


def accuracy(labels, preds) -> float:
    return (torch.as_tensor(labels) == preds).float().mean().item()
