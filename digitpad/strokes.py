"""The pad's strokes: the value the browser sends, checked, and the one rasterizer that turns
strokes into ink, for the pad and for the pen digits training renders alike."""
import json
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 400         # the pad's side in canvas pixels; the pen digits are rendered at it too
BRUSH = 0.04         # the pad's brush width as a fraction of its side: 16 px on 400
WORK = 512           # larger canvases and pads are shrunk to this side first: ample for a 20 px digit
MAX_SIDE = 4096
MAX_POINTS = 5_000  # the pad keeps points 2 px apart: 10,000 px of stroke, ten times a slow 8's
MAX_STROKES = 200
MAX_CHARS = 20 * MAX_POINTS  # points as [x.x, y.y]: 100,000 of them took 0.27 s to parse
STRAY = 1.0          # points may fall this many sides past the pad (pointer capture follows the pen)


class StrokesError(ValueError):
    """A pad value that is not a drawing; the message says what is wrong with it."""


@dataclass(frozen=True)
class Pad:
    """A drawing as the pad sends it: its canvas size and strokes of (x, y) in canvas pixels."""
    size: tuple[int, int]
    strokes: tuple[np.ndarray, ...]  # each [n, 2] float64
    brush: float = BRUSH             # the brush's width as a fraction of the longer side

    def ink(self) -> np.ndarray:
        """Ink in [0, 1] (float32 HxW) at the pad's brush, scaled down past WORK pixels a side."""
        w, h = self.size
        scale = min(1.0, WORK / max(w, h))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        brush = self.brush * max(w, h) * scale
        return rasterize([s * scale for s in self.strokes], size, brush).astype(np.float32) / 255

    def value(self) -> str:
        """The JSON the pad sends for this drawing."""
        return json.dumps({"size": list(self.size), "strokes": [s.tolist() for s in self.strokes]})


def rasterize(strokes, size: tuple[int, int], brush: float) -> np.ndarray:
    """Strokes ([n, 2] arrays of canvas pixels) -> uint8 ink, size (w, h), round brush, joins and
    caps, as the page's canvas draws them (lineJoin and lineCap 'round')."""
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    r = brush / 2
    for s in strokes:
        xy = [tuple(p) for p in s]
        if len(xy) > 1:
            draw.line(xy, fill=255, width=max(1, round(brush)))
        # A disc at every point is a round join and cap; PIL's own joint="curve" works each
        # join out in Python and made rasterizing 3x slower (1.6 ms against 0.5 ms a pen digit).
        for x, y in xy:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(mask)


def parse(value) -> Pad:
    """The pad's value (a JSON string, or the dict it encodes) -> Pad, or StrokesError saying why."""
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_CHARS:
            raise StrokesError(f"the drawing is {len(value):,} characters long; the pad sends at most "
                               f"{MAX_CHARS:,}")
        try:
            value = json.loads(value)
        except (ValueError, RecursionError) as e:
            raise StrokesError(f"the drawing is not JSON ({str(e)[:80]})") from None
    if not isinstance(value, dict) or "size" not in value or "strokes" not in value:
        raise StrokesError('expected {"size": [w, h], "strokes": [[[x, y], ...], ...]}, got '
                           f"{type(value).__name__}")
    size = value["size"]
    if (not isinstance(size, list) or len(size) != 2 or not all(type(v) is int for v in size)
            or not all(1 <= v <= MAX_SIDE for v in size)):
        raise StrokesError(f"size must be [w, h], whole numbers from 1 to {MAX_SIDE}, got "
                           f"{str(size)[:40]}")
    strokes = value["strokes"]
    if not isinstance(strokes, list) or len(strokes) > MAX_STROKES:
        raise StrokesError(f"strokes must be a list of at most {MAX_STROKES} strokes")
    points = sum(len(s) for s in strokes if isinstance(s, list))
    if points > MAX_POINTS:
        raise StrokesError(f"the drawing has {points:,} points; at most {MAX_POINTS:,} are read")
    return Pad(tuple(size), tuple(_stroke(s, i, size) for i, s in enumerate(strokes)))


def _stroke(s, i: int, size: list[int]) -> np.ndarray:
    if not isinstance(s, list) or not s or not all(
            isinstance(p, list) and len(p) == 2 and all(type(v) in (int, float) for v in p) for p in s):
        raise StrokesError(f"stroke {i} must be a non-empty list of [x, y] number pairs")
    xy = np.array(s, dtype=np.float64)
    if not np.isfinite(xy).all():
        raise StrokesError(f"stroke {i} holds NaN or infinite coordinates")
    w, h = size
    lo, hi = -STRAY * np.array([w, h]), (1 + STRAY) * np.array([w, h])
    if (xy < lo).any() or (xy > hi).any():
        raise StrokesError(f"stroke {i} has points far outside the {w}x{h} canvas")
    return xy


def empty(size: int = CANVAS) -> str:
    """The value of a blank pad."""
    return json.dumps({"size": [size, size], "strokes": []})

