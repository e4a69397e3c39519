"""Pictures of a network's numbers, numpy and PIL only: signed values on one blue-white-red
scale, feature-map grids (and which unit a click on one falls on), the 28x28 input, heat maps,
filters and thumbnails. A matplotlib figure costs hundreds of milliseconds, a stroke has 25."""
import functools
import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from .canvas import ink_map
from .data import denormalize

CELL = 56       # every feature map is scaled up to about this many pixels a side
GAP = 2
# Sent enlarged, as the maps are: Gradio's click coordinates assume an image is never shown
# larger than its natural size.
DENSE_WIDTH = 448  # a dense layer's squares fill about this many pixels a row
SCORE_ROW = 26     # each digit's bar in the output scores


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


def heatmap(attr: torch.Tensor, zoom: int = 1) -> np.ndarray:
    """A [28, 28] attribution map -> RGB, red toward the digit, blue away, on the input's grid."""
    return enlarge(colorize(attr.numpy(), float(attr.abs().max())), zoom)


def filters_image(model: nn.Module) -> np.ndarray:
    w = model.conv1.weight.detach()[:, 0]  # [C, k, k]
    return grid(w.numpy())


def thumbnail(canvas, size: int = 96) -> np.ndarray:
    """A small grey copy of the pad: dark ink on white, as drawn."""
    ink = ink_map(canvas)
    return np.asarray(Image.fromarray(((1 - ink) * 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BOX))


def units_layout(n: int) -> tuple[int, int]:
    """How `units` lays out a dense layer of n units: each square's side, and squares per row."""
    cols = math.ceil(math.sqrt(2 * n))  # twice as wide as tall, like the page's rows
    return DENSE_WIDTH // cols, cols


def units(values: np.ndarray) -> np.ndarray:
    """A dense layer's [N] values as coloured squares, row by row, on the maps' colour scale."""
    zoom, cols = units_layout(len(values))
    rows = math.ceil(len(values) / cols)
    board = np.full((rows * cols, 3), 255, np.uint8)
    board[:len(values)] = colorize(values, float(np.abs(values).max()))
    return enlarge(board.reshape(rows, cols, 3), zoom)


def unit_under(n: int, x: int, y: int) -> int | None:
    """The unit under pixel (x, y) of `units` for n units, or None past the last."""
    zoom, cols = units_layout(n)
    unit = (y // zoom) * cols + x // zoom
    return unit if x // zoom < cols and unit < n else None


@functools.cache
def font() -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=14)  # Pillow's own: no font file to find; 3 ms to load


def scores(logits: list[float], width: int = 300) -> np.ndarray:
    """The ten output scores as bars from a zero line: red right for positive, blue left for
    negative, each with its digit and value; row d is digit d (see `score_under`)."""
    img = Image.new("RGB", (width, 10 * SCORE_ROW), "white")
    draw = ImageDraw.Draw(img)
    label = 24  # the digits' column
    zero = label + (width - label) // 2
    span = (width - label) // 2 - 4
    top = max(abs(v) for v in logits) or 1.0
    for d, v in enumerate(logits):
        y, end = d * SCORE_ROW, zero + round(v / top * span)
        draw.rectangle((min(zero, end), y + 5, max(zero, end), y + SCORE_ROW - 5),
                       fill=tuple(int(c) for c in colorize(np.array(v / top), 1.0)), outline=(120, 120, 120))
        draw.text((6, y + 5), str(d), fill="black", font=font())
        draw.text((zero + 4 if v < 0 else zero - 4, y + 5), f"{v:+.1f}", fill="black", font=font(),
                  anchor="la" if v < 0 else "ra")
    draw.line((zero, 0, zero, 10 * SCORE_ROW), fill=(60, 60, 60))
    return np.asarray(img)


def score_under(y: int) -> int | None:
    """The digit whose bar is at height y of `scores`."""
    return y // SCORE_ROW if 0 <= y < 10 * SCORE_ROW else None


def side_by_side(*images: np.ndarray) -> np.ndarray:
    """RGB images in a row, top-aligned on white, 12 pixels apart."""
    height = max(i.shape[0] for i in images)
    padded = [np.pad(i, ((0, height - i.shape[0]), (0, 12), (0, 0)), constant_values=255) for i in images]
    return np.concatenate(padded, 1)[:, :-12]
