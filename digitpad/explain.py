"""Why this answer: which input pixels pushed the network toward a digit (integrated gradients
from the blank canvas), and the arithmetic of one conv1 unit on the user's own drawing."""
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .data import normalize
from .models import layer_facts

STEPS = 16  # integrated-gradient steps: each adds a forward and a backward of one image per digit


def blank() -> torch.Tensor:
    """The empty canvas as the model sees it: no ink, which is not zero once normalized."""
    return normalize(torch.zeros(1, 1, 28, 28))


def attribution(model: nn.Module, x: torch.Tensor, digits: list[int], steps: int = STEPS) -> torch.Tensor:
    """Integrated gradients of each digit's logit along the straight path from the blank canvas
    to `x` [1, 1, 28, 28]: [len(digits), 28, 28], positive where ink pushed toward that digit.

    Each map sums to that digit's logit at `x` minus its logit on the blank canvas, up to the
    error of `steps` midpoint steps. The steps are spaced as u^2 (u evenly spaced, each
    weighted 2u): a model trained with label smoothing does most of its rising in the first
    fifth of the path, where even steps put too few of them."""
    base = blank()
    u = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
    alphas, weights = u ** 2, 2 * u / steps
    path = (base + alphas.view(-1, 1, 1, 1) * (x - base)).repeat(len(digits), 1, 1, 1)  # [D*S, 1, 28, 28]
    path.requires_grad_(True)
    with torch.enable_grad():
        logits = model.eval()(path)                                                  # [D*S, 10]
        picked = logits[torch.arange(len(path)), torch.tensor(digits).repeat_interleave(steps)]
        (grads,) = torch.autograd.grad(picked.sum(), path)
    summed = (grads.view(len(digits), steps, 28, 28) * weights.view(1, -1, 1, 1)).sum(1)
    return (summed * (x - base)[0]).detach()


def completeness_error(model: nn.Module, x: torch.Tensor, steps: int = STEPS) -> float:
    """How far the ten maps of x [1, 1, 28, 28] miss adding up to their logits' change from the
    blank canvas, as a share of the largest change: 0 for exact integrated gradients."""
    with torch.inference_mode():
        gap = (model.eval()(x) - model(blank()))[0]
    return float((attribution(model, x, list(range(10)), steps).sum((1, 2)) - gap).abs().max() / gap.abs().max())


def blanking_drops(model: nn.Module, inputs: torch.Tensor, count: int = 20, seed: int = 0):
    """How far each input's answer probability falls when its `count` reddest pixels are blanked,
    and when `count` random ink pixels are: two arrays [N]. Good maps make the first larger."""
    rng = np.random.default_rng(seed)
    empty = blank().flatten()
    reddest, random = [], []
    with torch.inference_mode():
        probs = torch.softmax(model.eval()(inputs), 1)
    for x, p in zip(inputs, probs):
        digit = int(p.argmax())
        attr = attribution(model, x[None], [digit])[0].flatten()
        ink = (x.flatten() > empty[0] + 0.1).nonzero()[:, 0].numpy()
        for chosen, drops in ((attr.topk(count).indices, reddest),
                              (torch.from_numpy(rng.choice(ink, count, replace=False)), random)):
            erased = x.flatten().clone()
            erased[chosen] = empty[chosen]
            with torch.inference_mode():
                drops.append(float(p[digit] - torch.softmax(model(erased.view(1, 1, 28, 28)), 1)[0, digit]))
    return np.array(reddest), np.array(random)


def separating(maps: torch.Tensor, top: int, second: int) -> str:
    """A sentence naming where two digits' attributions [2, 28, 28] differ most: the pixels that
    tell the top answer from the runner-up, averaged over 5 x 5 so one speck does not decide."""
    diff = torch.nn.functional.avg_pool2d((maps[0] - maps[1])[None, None], 5, 1, 2)[0, 0]
    row, col = divmod(int(diff.abs().argmax()), 28)
    where = f"{('top', 'middle', 'bottom')[row * 3 // 28]} {('left', 'centre', 'right')[col * 3 // 28]}"
    toward, away = (top, second) if diff[row, col] > 0 else (second, top)
    return (f"Torn between {top} and {second}: the pixels that most tell them apart are at the {where} "
            f"(around row {row}, column {col}), and they push toward {toward} rather than {away}.")


@dataclass
class WorkedSum:
    """One conv1 unit's value, computed by hand: sum(weights * patch) + bias."""
    weights: torch.Tensor  # [k, k]
    patch: torch.Tensor    # [k, k], the normalized input under the kernel; zeros outside it, as conv2d pads
    bias: float
    value: float           # what the feature map holds there

    @property
    def total(self) -> float:
        return float((self.weights * self.patch).sum()) + self.bias


def worked_sum(model: nn.Module, x: torch.Tensor, channel: int, row: int, col: int) -> WorkedSum:
    """The arithmetic behind conv1's map `channel` at (row, col) for the input x [1, 1, 28, 28]."""
    conv, facts = model.conv1, layer_facts(model)["conv1"]
    k, stride, pad = facts.kernel, facts.stride, facts.padding
    padded = nn.functional.pad(x[0, 0], (pad, pad, pad, pad))
    top, left = row * stride, col * stride
    with torch.inference_mode():
        value = float(conv(x)[0, channel, row, col])
    return WorkedSum(conv.weight[channel, 0].detach(), padded[top:top + k, left:left + k],
                     float(conv.bias[channel].detach()), value)


def receptive_field(model: nn.Module, layer: str, row: int, col: int) -> tuple[int, int, int, int]:
    """The input pixels a unit of `layer` at (row, col) sees: top, left, bottom, right
    (exclusive), clipped to the 28x28 input. Walks the layers up to `layer` backwards."""
    chain = []
    for facts in layer_facts(model).values():
        chain.append(facts)
        if facts.name == layer:
            break
    (top, bottom), (left, right) = (row, row), (col, col)
    for f in reversed(chain):
        k, s, p = f.kernel, f.stride, f.padding
        top, bottom = top * s - p, bottom * s - p + k - 1
        left, right = left * s - p, right * s - p + k - 1
    return max(top, 0), max(left, 0), min(bottom + 1, 28), min(right + 1, 28)
