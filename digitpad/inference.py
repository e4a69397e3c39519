"""classify: one forward pass giving the digit, all ten probabilities and every named activation."""
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Result:
    digit: int
    probs: list[float]                    # ten floats summing to 1
    activations: dict[str, torch.Tensor]  # layer name -> [C, H, W] for the one image


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
            probs = torch.softmax(model.eval()(x), 1)[0]
    finally:
        for hook in hooks:
            hook.remove()
    return Result(int(probs.argmax()), probs.tolist(), activations)
