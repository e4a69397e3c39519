"""classify: one forward pass giving the digit, all ten probabilities and every named activation."""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .data import denormalize, normalize

# Test-time augmentation: the image and slightly rotated copies go through the model as one
# batch and their probabilities are averaged; hand-drawn digits lean more than MNIST's do.
TTA_DEGREES = (0.0, -10.0, 10.0)


@dataclass
class Result:
    digit: int
    probs: list[float]                    # ten floats summing to 1
    activations: dict[str, torch.Tensor]  # layer name -> [C, H, W] for the image as drawn


def rotations(x: torch.Tensor, degrees=TTA_DEGREES) -> torch.Tensor:
    """[B, 1, 28, 28] normalized -> [B * len(degrees), 1, 28, 28]: each image's rotated copies
    about the centre, next to each other."""
    a = (torch.tensor(degrees) * math.pi / 180).repeat(len(x))
    zero = torch.zeros_like(a)
    theta = torch.stack([torch.stack([a.cos(), -a.sin(), zero], 1),
                         torch.stack([a.sin(), a.cos(), zero], 1)], 1)
    grid = F.affine_grid(theta, [len(a), 1, 28, 28], align_corners=False)
    ink = denormalize(x).repeat_interleave(len(degrees), 0)
    return normalize(F.grid_sample(ink, grid, align_corners=False))


def tta_probs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """[B, 1, 28, 28] -> [B, 10]: softmax averaged over each image's rotated copies."""
    probs = torch.softmax(model.eval()(rotations(x)), 1)
    return probs.view(len(x), len(TTA_DEGREES), 10).mean(1)


def classify(model: nn.Module, x: torch.Tensor) -> Result:
    """Classify one preprocessed image [1, 1, 28, 28], capturing the model's feature layers."""
    if x.shape != (1, 1, 28, 28):
        raise ValueError(f"expected a preprocessed image of shape [1, 1, 28, 28], got {list(x.shape)}")
    activations = {}
    hooks = [getattr(model, name).register_forward_hook(
        lambda module, inputs, out, name=name: activations.__setitem__(name, out[0]))
        for name in model.feature_layers]
    try:
        with torch.inference_mode():
            probs = tta_probs(model, x)[0]
    finally:
        for hook in hooks:
            hook.remove()
    return Result(int(probs.argmax()), probs.tolist(), activations)
