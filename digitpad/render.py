"""The reading pipeline, as pure functions: a canvas or the pad's strokes -> preprocess ->
classify -> heat maps -> what the page shows (Glance while the pen moves, Panels at pen-up),
the closer look at one unit and the architecture table. The pictures come from pixels; the
verdict's words are made here because the API, which has no page, answers with them too (the
page's other wording lives in app/)."""
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import strokes
from .canvas import preprocess
from .dense import dense, softmax_steps
from .explain import WorkedSum, attribution, receptive_field, separating, worked_sum
from .inference import classify, tta_probs
from .models import count_parameters, layer_facts
from .pixels import (closer, filters_image, grid, heatmap, input_image, scores, side_by_side, unit_at,
                     units)
from .push import Push, pushed, sweep

UNSURE = 0.6    # below this top probability the page says the model is unsure
TORN = 0.2      # the top two this close, the page names the pixels that separate them


def arithmetic(s: WorkedSum) -> str:
    """A conv1 unit's worked sum as Markdown: weights times the patch, summed, plus the bias."""
    k = len(s.weights)
    lines = [f"**The arithmetic**: conv1 slides a {k} x {k} filter over the input. At this unit:"]
    if k <= 5:  # small enough to show every product
        lines += ["", "| " + " | ".join([""] * k) + " |", "|" + "---|" * k]
        lines += ["| " + " | ".join(f"{w:+.3f} x {p:+.3f}" for w, p in zip(wr.tolist(), pr.tolist())) + " |"
                  for wr, pr in zip(s.weights, s.patch)]
        lines.append("")
    products = float((s.weights * s.patch).sum())
    lines.append(f"sum of the {k * k} weight x input products = {products:+.6f}; plus the bias "
                 f"{s.bias:+.6f} = **{s.total:+.6f}**. The map shows **{s.value:+.6f}** (before "
                 f"the ReLU, which {'passes it on' if s.value > 0 else 'zeroes it'}).")
    return "\n".join(lines)


def look_closer(model: nn.Module, x: torch.Tensor, layer: str, px: int, py: int) -> tuple[np.ndarray, str] | None:
    """A click at (px, py) on `layer`'s grid: the unit enlarged, its receptive field on the
    input, and for conv1 the worked sum; None when the click fell between tiles."""
    maps = classify(model, x).activations[layer]  # [C, H, W]
    unit = unit_at(tuple(maps.shape), px, py)
    if unit is None:
        return None
    channel, row, col = unit
    top, left, bottom, right = field = receptive_field(model, layer, row, col)
    text = (f"**{layer}, channel {channel}, row {row}, column {col}** sees input rows {top}-{bottom - 1} "
            f"and columns {left}-{right - 1} ({bottom - top} x {right - left} pixels, outlined).")
    if layer == "conv1":
        text += "\n\n" + arithmetic(worked_sum(model, x, channel, row, col))
    return closer(x, maps, unit, field), text


def look_at_unit(model: nn.Module, x: torch.Tensor, unit: int) -> tuple[np.ndarray, str]:
    """fc1's `unit`: its weights on the maps it reads beside each weight times the drawing's
    value there, and the sum that makes the unit's value."""
    d, maps = dense(model, x), layer_facts(model)[model.feature_layers[-1]].shape  # fc1 reads them flattened
    weights, bias = model.fc1.weight[unit].detach(), float(model.fc1.bias[unit].detach())
    products = weights * d.inputs
    value = float(d.units[unit])
    text = (f"**fc1, unit {unit}** reads all {len(weights):,} values of the last maps ({' x '.join(map(str, maps))}, "
            f"after their ReLU), not the pixels. **Left**: its weights laid out on those maps; **right**: each "
            f"weight times your drawing's value there. Sum of the products {float(products.sum()):+.6f}, plus "
            f"the bias {bias:+.6f} = **{float(products.sum()) + bias:+.6f}**; the strip shows **{value:+.6f}** "
            f"(before the ReLU, which {'passes it on' if value > 0 else 'zeroes it'}). Between the pixels and "
            f"these weights lie max-pools and ReLUs, which depend on the drawing: the unit has no one 28 x 28 "
            f"pattern of weights.")
    return side_by_side(grid(weights.view(maps).numpy()), grid(products.view(maps).numpy())), text


def softmax_for(model: nn.Module, x: torch.Tensor, digit: int) -> str:
    """How the output scores became `digit`'s probability, as Markdown."""
    return softmax_steps(dense(model, x), digit)


def zoo_row(models: dict[str, nn.Module], x: torch.Tensor) -> list[tuple[str, int, float]]:
    """Each model's digit and its probability for one input, read as classify reads it."""
    row = []
    with torch.inference_mode():
        for name, model in models.items():
            probs = tta_probs(model, x)[0]
            row.append((name, int(probs.argmax()), float(probs.max())))
    return row


def architecture(model: nn.Module) -> list[list]:
    """Rows of layer, output shape, parameters and receptive field, from the input to the total."""
    rows = [[f.name, " x ".join(map(str, f.shape)), f.parameters, f"{f.field} x {f.field}"]
            for f in layer_facts(model).values()]
    return [["input", "1 x 28 x 28", 0, "1 x 1"], *rows, ["total", "", count_parameters(model), ""]]


def layer_labels(model: nn.Module) -> list[str]:
    """'conv1: 16 x 28 x 28' for each layer the page shows."""
    facts = layer_facts(model)
    return [facts[name].label for name in model.feature_layers]


@dataclass
class Panels:
    """Everything the page shows for one canvas; images are RGB uint8 arrays."""
    verdict: str
    probs: dict[str, float] | None
    digit: int | None
    input: np.ndarray | None
    layers: list[np.ndarray]      # one grid per model.feature_layers entry
    filters: np.ndarray
    responses: np.ndarray | None
    x: torch.Tensor | None        # the input as preprocess returned it
    why: list[tuple[np.ndarray, str]]  # heat map and caption for the answer and the runner-up
    units: np.ndarray | None = None   # fc1's units, before the ReLU
    scores: np.ndarray | None = None  # the ten output scores (logits) of the drawing as drawn
    torn: str = ""  # when the top two are close, the sentence naming the pixels between them


def verdict(probs: list[float]) -> str:
    order = sorted(range(10), key=lambda d: -probs[d])
    top, second = order[0], order[1]
    if probs[top] < UNSURE:
        return (f"Not sure: maybe {top} ({probs[top]:.0%}), or {second} ({probs[second]:.0%}). "
                f"Try drawing it larger or more clearly.")
    return f"It's a {top} ({probs[top]:.0%} sure)."


EMPTY = "Draw a digit (0-9) on the pad: the prediction and every layer update after each stroke."


def _input(canvas, push: Push | None = None) -> tuple[torch.Tensor | None, str]:
    """preprocess's input (pushed, if `push` is given) and the verdict if it is None, or (None, why
    the canvas could not be read).

    A string is the pad's JSON, never a file name: the page's endpoints take any client's strings."""
    try:
        canvas = strokes.parse(canvas) if isinstance(canvas, (str, bytes)) else canvas
        if push is None or push == Push():
            return preprocess(canvas), EMPTY
        if not isinstance(canvas, strokes.Pad):
            raise ValueError("only the pad's strokes can be pushed")
        return pushed(canvas, push), EMPTY
    except ValueError as e:
        return None, f"That canvas could not be read: {e}"


@dataclass
class Glance:
    """The quick part of a reading, sent while the pen moves."""
    verdict: str
    probs: dict[str, float] | None
    digit: int | None
    input: np.ndarray | None
    x: torch.Tensor | None


def glance(model: nn.Module, canvas, push: Push | None = None) -> Glance:
    """preprocess + classify for one canvas value: the verdict, probabilities and the 28x28 view."""
    x, empty = _input(canvas, push)
    if x is None:
        return Glance(empty, None, None, None, None)
    result = classify(model, x)
    return Glance(verdict(result.probs), {str(d): p for d, p in enumerate(result.probs)}, result.digit,
                  input_image(x), x)


def panels(model: nn.Module, canvas, filters: np.ndarray | None = None, push: Push | None = None) -> Panels:
    """preprocess + classify + render for one canvas value: the whole page in one call."""
    x, empty = _input(canvas, push)
    if x is None and empty != EMPTY:
        return Panels(empty, None, None, None, [], filters_image(model) if filters is None else filters,
                      None, None, [])
    return reading(model, x, filters)


def reading(model: nn.Module, x: torch.Tensor | None, filters: np.ndarray | None = None) -> Panels:
    """classify + render for an input as preprocess returns it (None: nothing drawn)."""
    filters = filters_image(model) if filters is None else filters
    if x is None:
        return Panels(EMPTY, None, None, None, [], filters, None, None, [])
    result = classify(model, x)
    layers = [grid(a.numpy()) for a in result.activations.values()]
    probs = {str(d): p for d, p in enumerate(result.probs)}
    top, second = sorted(range(10), key=lambda d: -result.probs[d])[:2]
    maps = attribution(model, x, [top, second])
    why = [(heatmap(a), caption) for a, caption in zip(maps, (
        f"Toward {top} ({result.probs[top]:.0%})",
        f"Runner-up {second} ({result.probs[second]:.0%})"))]
    torn = separating(maps, top, second) if result.probs[top] - result.probs[second] < TORN else ""
    d = dense(model, x)
    return Panels(verdict(result.probs), probs, result.digit, input_image(x), layers, filters,
                  grid(result.activations["conv1"].numpy()), x, why, units(d.units.numpy()),
                  scores(d.logits[0].tolist()), torn)


def curve(model: nn.Module, canvas, push: Push) -> tuple[int, list[tuple[int, float]]] | None:
    """The digit read at `push`, and its probability as the rotation sweeps (angle, probability);
    None when nothing is drawn or the canvas is not the pad's strokes."""
    try:
        pad = strokes.parse(canvas) if isinstance(canvas, (str, bytes)) else canvas
    except ValueError:
        return None
    x = _input(pad, push)[0] if isinstance(pad, strokes.Pad) else None
    if x is None:
        return None
    digit = classify(model, x).digit
    angles, probs = sweep(model, pad, push)
    return digit, list(zip(angles, probs[:, digit].tolist()))
