"""Pen-drawn digits (UCI pendigits, UNIPEN strokes) rendered the way the Sketchpad delivers them."""
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 800
VARIANTS = ("white", "transparent", "dark")


@dataclass
class Drawing:
    label: int
    writer: int
    strokes: list[np.ndarray]  # each [n, 2] of (x, y) with y pointing down


def default_path() -> Path:
    return Path(os.environ.get("DIGITPAD_PENDIGITS", "../shared/pendigits/pendigits-orig.tra"))


def load(path: str | Path | None = None) -> list[Drawing]:
    """Parse a UNIPEN file into drawings, flipping the tablet's upward y axis."""
    path = Path(path or default_path())
    if not path.is_file():
        raise FileNotFoundError(f"pen-drawn digits not found at {path}; set DIGITPAD_PENDIGITS")
    drawings, stroke, label, writer = [], None, None, None
    for line in path.read_text().splitlines():
        if line.startswith(".SEGMENT"):
            label = int(line.split('"')[1])
            drawings.append(Drawing(label, -1, []))
        elif line.startswith(".COMMENT"):
            drawings[-1].writer = int(line.split()[2])
        elif line.startswith(".PEN_DOWN"):
            stroke = []
        elif line.startswith(".PEN_UP"):
            drawings[-1].strokes.append(np.array(stroke, dtype=np.float32).reshape(-1, 2))
            stroke = None
        elif stroke is not None and line.strip():
            x, y = line.split()
            stroke.append((float(x), -float(y)))
    return drawings


def render(d: Drawing, rng: np.random.Generator, variant: str = "white", size: int = CANVAS,
           brush: float | None = None, extent: float | None = None,
           centre: tuple[float, float] | None = None) -> np.ndarray:
    """The drawing on a size x size RGBA canvas; brush width and digit height as canvas fractions.

    Unset, brush is drawn from 2-8% of the canvas, extent (the digit's larger side) from
    30-85%, and the digit lands anywhere it fits.
    """
    brush = (brush or rng.uniform(0.02, 0.08)) * size
    extent = (extent or rng.uniform(0.3, 0.85)) * size
    pts = np.concatenate(d.strokes)
    lo, hi = pts.min(0), pts.max(0)
    scale = extent / max((hi - lo).max(), 1)
    half = (hi - lo) * scale / 2 + brush / 2
    if centre is None:
        centre = [rng.uniform(h, size - h) if h < size - h else size / 2 for h in half]
    offset = np.asarray(centre) - (lo + hi) / 2 * scale

    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    r = brush / 2
    for s in d.strokes:
        xy = [tuple(p) for p in s * scale + offset]
        if len(xy) > 1:
            draw.line(xy, fill=255, width=max(1, round(brush)), joint="curve")
        for x, y in (xy[0], xy[-1]):  # round caps
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    ink = np.asarray(mask)

    canvas = np.empty((size, size, 4), np.uint8)
    if variant == "white":      # what the Sketchpad sends: black ink composited on white
        canvas[..., :3] = (255 - ink)[..., None]
        canvas[..., 3] = 255
    elif variant == "transparent":  # ink only in alpha; the colour under alpha 0 is noise
        canvas[..., :3] = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        canvas[ink > 0, :3] = 0
        canvas[..., 3] = ink
    elif variant == "dark":     # light ink on a dark, opaque background
        canvas[..., :3] = (30 + ink.astype(np.uint16) * 225 // 255).astype(np.uint8)[..., None]
        canvas[..., 3] = 255
    else:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return canvas
