"""The dense half of the network: fc1's units, the ten output scores, and the softmax that turns
the scores into the probabilities the page shows (averaged over classify's rotated copies)."""
from dataclasses import dataclass

import torch
from torch import nn

from .inference import TTA_DEGREES, rotations


@dataclass
class Dense:
    """One drawing's dense layers. Row 0 of `logits` is the drawing as drawn; the others are the
    copies classify turns by TTA_DEGREES, whose softmaxes it averages into `probs`."""
    inputs: torch.Tensor  # [F], what fc1 reads for the drawing as drawn (the last maps, flattened)
    units: torch.Tensor   # [N], fc1's units for it, before the ReLU
    logits: torch.Tensor  # [len(TTA_DEGREES), 10], the output scores of each copy
    probs: list[float]    # ten floats: the mean of each copy's softmax, as classify gives them


def dense(model: nn.Module, x: torch.Tensor) -> Dense:
    """fc1's input and units and every copy's scores for one preprocessed image [1, 1, 28, 28]."""
    seen = {}
    hook = model.fc1.register_forward_hook(lambda m, i, out: seen.update(inputs=i[0][0], units=out[0]))
    try:
        with torch.inference_mode():
            logits = model.eval()(rotations(x))  # [len(TTA_DEGREES), 10]
    finally:
        hook.remove()
    return Dense(seen["inputs"], seen["units"], logits, torch.softmax(logits, 1).mean(0).tolist())


def softmax_steps(d: Dense, digit: int) -> str:
    """Markdown: how the scores became `digit`'s probability: each score, its exponential, their
    sum and the quotient, then the average over the turned copies."""
    exps = d.logits.double().exp()  # [copies, 10]
    sums = exps.sum(1)
    probs = (exps[:, digit] / sums).tolist()
    lines = [f"**Softmax, for {digit}**: the drawing as drawn gives each digit a score z (a logit); "
             "softmax makes the scores positive with e^z and divides each by their sum.", "",
             "| digit | score z | e^z |", "|---|---|---|"]
    lines += [f"| {f'**{k}**' if k == digit else k} | {z:+.4f} | {e:.6g} |"
              for k, (z, e) in enumerate(zip(d.logits[0].tolist(), exps[0].tolist()))]
    lines += ["", f"sum of e^z = {sums[0]:.6g}; e^z({digit}) / sum = **{probs[0]:.6f}**.", ""]
    lines += [f"- turned {degrees:+g} degrees: e^z({digit}) = {e:.6g}, sum = {s:.6g}, probability {p:.6f}"
              for degrees, e, s, p in zip(TTA_DEGREES[1:], exps[1:, digit].tolist(), sums[1:].tolist(), probs[1:])]
    lines += ["", f"The page reads the drawing as drawn and turned (above) and averages: "
              f"({' + '.join(f'{p:.6f}' for p in probs)}) / {len(probs)} = **{sum(probs) / len(probs):.6f}**, "
              f"the probability shown for {digit}."]
    return "\n".join(lines)
