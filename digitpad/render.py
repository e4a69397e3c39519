"""What the page shows, as pure functions: feature-map grids, filters, the 28x28 input, verdicts.

numpy and PIL only: a matplotlib figure costs hundreds of milliseconds, a stroke has 25.
"""
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from .data import denormalize
from .explain import WorkedSum, attribution, geometry, receptive_field, worked_sum
from .inference import classify
from .models import count_parameters
from . import strokes
from .canvas import ink_map, preprocess

CELL = 56       # every feature map is scaled up to about this many pixels a side
GAP = 2
UNSURE = 0.6    # below this top probability the page says the model is unsure


def _diverging_lut() -> np.ndarray:
    """256 RGB colours: blue for negative, white for zero, red for positive."""
    t = np.linspace(-1, 1, 256)[:, None]
    blue, white, red = np.array([33, 102, 172]), np.array([247, 247, 247]), np.array([178, 24, 43])
    lut = np.where(t < 0, white + (blue - white) * -t, white + (red - white) * t)
    return lut.round().astype(np.uint8)


LUT = _diverging_lut()


def colorize(a: np.ndarray, scale: float) -> np.ndarray:
    """Signed values -> RGB on one symmetric scale, so zero is always white."""
    idx = np.clip((a / max(scale, 1e-8) + 1) * 127.5, 0, 255).astype(np.uint8)
    return LUT[idx]


def layout(c: int, h: int, w: int) -> tuple[int, int]:
    """How `grid` lays out C maps of HxW: each tile's zoom, and tiles per row."""
    return max(1, CELL // max(h, w)), math.ceil(math.sqrt(c))  # square grids fill cells alike


def grid(maps: np.ndarray, scale: float | None = None) -> np.ndarray:
    """[C, H, W] maps -> one RGB image, tiles scaled up by an integer factor, one colour scale."""
    c, h, w = maps.shape
    scale = float(np.abs(maps).max()) if scale is None else scale
    zoom, cols = layout(c, h, w)
    rows = math.ceil(c / cols)
    th, tw = h * zoom, w * zoom
    out = np.full((rows * (th + GAP) - GAP, cols * (tw + GAP) - GAP, 3), 255, np.uint8)
    tiles = colorize(maps, scale).repeat(zoom, 1).repeat(zoom, 2)        # [C, th, tw, 3]
    for i, tile in enumerate(tiles):
        r, q = divmod(i, cols)
        out[r * (th + GAP):r * (th + GAP) + th, q * (tw + GAP):q * (tw + GAP) + tw] = tile
    return out


def unit_at(shape: tuple[int, int, int], x: int, y: int) -> tuple[int, int, int] | None:
    """The (channel, row, col) under pixel (x, y) of a `grid` image, or None between tiles."""
    c, h, w = shape
    zoom, cols = layout(c, h, w)
    (r, dy), (q, dx) = divmod(y, h * zoom + GAP), divmod(x, w * zoom + GAP)
    channel = r * cols + q
    if dy >= h * zoom or dx >= w * zoom or q >= cols or channel >= c:
        return None
    return channel, dy // zoom, dx // zoom


def enlarge(img: np.ndarray, zoom: int, pixel_grid: bool = True) -> np.ndarray:
    """An HxWx3 image scaled up `zoom` times, each source pixel a square, with grid lines."""
    img = img.repeat(zoom, 0).repeat(zoom, 1)
    if pixel_grid and zoom > 1:
        img[::zoom, :] = img[:, ::zoom] = (200, 200, 200)
    return img


def input_image(x: torch.Tensor, zoom: int = 1) -> np.ndarray:
    """The normalized [1, 1, 28, 28] input as the model sees it, enlarged with a pixel grid
    when zoom > 1 (the page sends 28x28 and the browser scales it: 10x less to encode)."""
    ink = denormalize(x.view(28, 28)).clamp(0, 1).numpy()
    return enlarge(np.repeat((255 - ink * 255).astype(np.uint8)[..., None], 3, 2), zoom)


def outline(img: np.ndarray, box: tuple[int, int, int, int], zoom: int, color=(230, 120, 0)) -> np.ndarray:
    """A copy of an enlarged image with the box (top, left, bottom, right, in source pixels) drawn."""
    img = img.copy()
    top, left, bottom, right = (v * zoom for v in box)
    bottom, right = min(bottom, img.shape[0]) - 1, min(right, img.shape[1]) - 1
    for t in range(2):  # two pixels thick
        img[top + t, left:right + 1] = img[bottom - t, left:right + 1] = color
        img[top:bottom + 1, left + t] = img[top:bottom + 1, right - t] = color
    return img


def closer(x: torch.Tensor, maps: torch.Tensor, unit: tuple[int, int, int],
           field: tuple[int, int, int, int]) -> np.ndarray:
    """The clicked map enlarged with its unit outlined, beside the input with the unit's
    receptive field outlined: both 280x280, one image."""
    channel, row, col = unit
    h, w = maps.shape[1:]
    zoom = 280 // max(h, w)
    tile = enlarge(colorize(maps[channel].numpy(), float(maps.abs().max())), zoom, pixel_grid=False)
    tile = outline(tile, (row, col, row + 1, col + 1), zoom)
    board = np.full((280, 280, 3), 255, np.uint8)
    board[:tile.shape[0], :tile.shape[1]] = tile
    gap = np.full((280, 12, 3), 255, np.uint8)
    return np.concatenate([board, gap, outline(input_image(x, 10), field, 10)], 1)


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


def heatmap(attr: torch.Tensor, zoom: int = 1) -> np.ndarray:
    """A [28, 28] attribution map -> RGB, red toward the digit, blue away, on the input's grid."""
    return enlarge(colorize(attr.numpy(), float(attr.abs().max())), zoom)


WHY = ("Red pixels pushed the network toward the digit, blue pixels away from it: each pixel's "
       "share of the change from a blank canvas to your drawing (integrated gradients).")


def architecture(model: nn.Module) -> list[list]:
    """Rows of layer, output shape, parameters and receptive field (r += (k - 1) * jump)."""
    shapes = {}
    layers = [(name, m) for name, m in model.named_children() if not isinstance(m, nn.Dropout)]
    hooks = [m.register_forward_hook(lambda mod, i, out, name=name: shapes.__setitem__(name, out.shape[1:]))
             for name, m in layers]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 1, 28, 28))
    finally:
        for h in hooks:
            h.remove()
    rows, field, jump = [["input", "1 x 28 x 28", 0, "1 x 1"]], 1, 1
    for name, m in layers:
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            k, s, _ = geometry(m)
            field, jump = field + (k - 1) * jump, jump * s
        elif isinstance(m, nn.Linear):
            field = 28
        rows.append([name, " x ".join(map(str, shapes[name])), count_parameters(m), f"{field} x {field}"])
    rows.append(["total", "", count_parameters(model), ""])
    return rows


def layer_labels(table: list[list], layers: tuple[str, ...]) -> list[str]:
    """'conv1: 16 x 28 x 28' for each of `layers`, read off an `architecture` table."""
    shapes = {row[0]: row[1] for row in table}
    return [f"{name}: {shapes[name]}" for name in layers]


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


def filters_image(model: nn.Module) -> np.ndarray:
    w = model.conv1.weight.detach()[:, 0]  # [C, k, k]
    return grid(w.numpy())


def verdict(probs: list[float]) -> str:
    order = sorted(range(10), key=lambda d: -probs[d])
    top, second = order[0], order[1]
    if probs[top] < UNSURE:
        return (f"Not sure: maybe {top} ({probs[top]:.0%}), or {second} ({probs[second]:.0%}). "
                f"Try drawing it larger or more clearly.")
    return f"It's a {top} ({probs[top]:.0%} sure)."


def thumbnail(canvas, size: int = 96) -> np.ndarray:
    """A small grey copy of the pad: dark ink on white, as drawn."""
    ink = ink_map(canvas)
    return np.asarray(Image.fromarray(((1 - ink) * 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BOX))


def scorecard(drawings: list, base_name: str) -> str:
    """How the base model and the person's own model read the person's drawings, in a sentence."""
    if not drawings:
        return ("No drawings yet. After a reading, press **Right** or the digit it was: "
                "digitpad keeps the drawing and learns your style from it.")
    n = len(drawings)
    base = sum(d.base_said == d.label for d in drawings)
    mine = sum(d.mine_said == d.label for d in drawings)
    return (f"On your {n} drawing{'s' * (n != 1)}, {base_name} read {base} right; your model "
            f"read {mine} right, each before it learned that drawing.")


EMPTY = "Draw a digit (0-9) on the pad: the prediction and every layer update after each stroke."


def _input(canvas) -> tuple[torch.Tensor | None, str]:
    """preprocess's input and the verdict if it is None, or (None, why the canvas could not be read).

    A string is the pad's JSON, never a file name: the page's endpoints take any client's strings."""
    try:
        return preprocess(strokes.parse(canvas) if isinstance(canvas, (str, bytes)) else canvas), EMPTY
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


def glance(model: nn.Module, canvas) -> Glance:
    """preprocess + classify for one canvas value: the verdict, probabilities and the 28x28 view."""
    x, empty = _input(canvas)
    if x is None:
        return Glance(empty, None, None, None, None)
    result = classify(model, x)
    return Glance(verdict(result.probs), {str(d): p for d, p in enumerate(result.probs)}, result.digit,
                  input_image(x), x)


def panels(model: nn.Module, canvas, filters: np.ndarray | None = None) -> Panels:
    """preprocess + classify + render for one canvas value: the whole page in one call."""
    x, empty = _input(canvas)
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
    why = [(heatmap(a), caption) for a, caption in zip(attribution(model, x, [top, second]), (
        f"Toward {top} ({result.probs[top]:.0%})",
        f"Runner-up {second} ({result.probs[second]:.0%})"))]
    return Panels(verdict(result.probs), probs, result.digit, input_image(x), layers, filters,
                  grid(result.activations["conv1"].numpy()), x, why)
