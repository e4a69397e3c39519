"""Any canvas -> the 28x28 image an MNIST model expects: crop, fit 20x20, centre of mass."""
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data import normalize
from .strokes import WORK, Pad, parse  # WORK: larger canvases are shrunk below it first

FIT = 20          # MNIST fits each digit into a 20x20 box ...
SIZE = 28         # ... and centres it by mass in 28x28
INK_FLOOR = 0.1   # below this, ink is compression noise or background texture
MIN_STROKE = 8    # a digit has a connected stroke at least this long in the 20x20 box
VERSION = 1       # bump when the output for a canvas changes: cached pen digits are keyed by it


def preprocess(image) -> torch.Tensor | None:
    """A PIL image, uint8/float array, Sketchpad value or the pad's strokes (strokes.Pad or its
    value as a dict) -> [1, 1, 28, 28] normalized, or None if blank."""
    digit = mnist_image(ink_map(image))
    if digit is None:
        return None
    return normalize(torch.from_numpy(digit)).view(1, 1, SIZE, SIZE)


def ink_map(image) -> np.ndarray:
    """Ink strength in [0, 1] (float32 HxW), whatever the canvas's polarity and transparency."""
    if isinstance(image, Pad):
        return image.ink()
    if isinstance(image, dict):
        return parse(image).ink() if "strokes" in image else _sketchpad_ink(image)
    if isinstance(image, (str, Path)):
        try:
            image = Image.open(image)
        except (OSError, ValueError) as e:
            raise ValueError(f"expected an image file, could not open {str(image)[:80]!r}: {e}") from e
    if isinstance(image, Image.Image):
        img = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info
                            else "L")
    elif isinstance(image, np.ndarray):
        pixels = _as_uint8(image)
        if pixels.size == 0:
            return np.zeros((0, 0), np.float32)
        img = Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels)
    else:
        raise ValueError(f"expected an image (PIL image, numpy array, Sketchpad value or strokes), "
                         f"got {type(image).__name__}")
    if "A" in img.getbands():
        alpha = img.getchannel("A")
        if alpha.getextrema()[0] < 255:
            # Drawn on transparency: the colour under alpha 0 is arbitrary, so alpha is the ink.
            return _shrink(alpha)
    gray = _shrink(img.convert("L"))
    # The background is what the border mostly is: light ink on dark, or dark ink on light.
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    bg = float(np.median(border))
    if bg >= 0.5:
        return np.clip((bg - gray) / bg, 0, 1)
    return np.clip((gray - bg) / (1 - bg), 0, 1)


def mnist_image(ink: np.ndarray) -> np.ndarray | None:
    """MNIST's recipe on an ink map: 28x28 float32 in [0, 1], or None when nothing is drawn."""
    mask = ink > INK_FLOOR
    if not mask.any():
        return None
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    if _is_dot(crop):
        return None
    scale = FIT / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    fitted = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS,
                                                     reducing_gap=3.0))
    fitted = np.clip(fitted, 0, None)
    peak = fitted.max()
    if peak <= INK_FLOOR:
        return None
    fitted = np.clip(fitted / peak, 0, 1)  # thin strokes fade when shrunk; MNIST's ink is saturated
    if _longest_stroke(fitted > 0.3) < MIN_STROKE:
        return None  # specks scattered over the canvas, not a digit

    # Place so the centre of mass lands on the centre of the 28x28 image.
    mass = fitted.sum()
    cy = (fitted.sum(1) * np.arange(fitted.shape[0])).sum() / mass
    cx = (fitted.sum(0) * np.arange(fitted.shape[1])).sum() / mass
    top, left = round(SIZE / 2 - cy), round(SIZE / 2 - cx)  # MNIST: mass at (14, 14)
    out = np.zeros((SIZE, SIZE), np.float32)
    fh, fw = fitted.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + fh, SIZE), min(left + fw, SIZE)
    out[y0:y1, x0:x1] = fitted[y0 - top:y1 - top, x0 - left:x1 - left]
    return out


def _longest_stroke(mask: np.ndarray) -> int:
    """The longer bounding-box side of the largest 8-connected blob in a small binary image.

    Joins each row's runs of ink to the runs they touch in the row above, so it loops over runs,
    not pixels: 3x faster than a flood fill on pen digits, which training draws anew each epoch."""
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    ends = np.nonzero(edges == -1)[1]  # exclusive; paired with starts, both in reading order
    runs = list(zip(rows.tolist(), starts.tolist(), ends.tolist()))
    parent = list(range(len(runs)))

    def root(i):
        while parent[i] != i:
            parent[i] = i = parent[parent[i]]
        return i

    above, here, row = [], [], -1
    for i, (y, x0, x1) in enumerate(runs):
        if y != row:
            above, here, row = (here if y == row + 1 else []), [], y
        for j in above:  # diagonal neighbours touch too: columns x0-1 .. x1 of the row above
            if runs[j][1] <= x1 and x0 <= runs[j][2]:
                parent[root(j)] = root(i)
        here.append(i)
    blobs = {}
    for i, (y, x0, x1) in enumerate(runs):
        n, top, bottom, left, right = blobs.get(root(i), (0, y, y, x0, x1))
        blobs[root(i)] = (n + x1 - x0, min(top, y), max(bottom, y), min(left, x0), max(right, x1))
    return max(((n, max(b - t + 1, r - l)) for n, t, b, l, r in blobs.values()), default=(0, 0))[1]


def _is_dot(crop: np.ndarray) -> bool:
    """A single round blob (a dot, a tap) is not a digit: nearly square and nearly solid.

    A round dot fills about pi/4 (0.785) of its box; the boldest pen digits measured fill 0.65.
    """
    h, w = crop.shape
    return max(h, w) / min(h, w) < 1.6 and (crop > 0.5).mean() > 0.68


def _sketchpad_ink(value: dict) -> np.ndarray:
    if not {"background", "layers", "composite"} & value.keys():
        raise ValueError("a Sketchpad value must have 'background', 'layers' or 'composite'")
    if value.get("composite") is not None:
        return ink_map(value["composite"])
    layers = [ink_map(layer) for layer in value.get("layers") or [] if layer is not None]
    if layers:
        shape = layers[0].shape
        if any(layer.shape != shape for layer in layers):
            raise ValueError("Sketchpad layers differ in size")
        return np.maximum.reduce(layers)
    if value.get("background") is not None:
        return ink_map(value["background"])
    return np.zeros((0, 0), np.float32)


def _as_uint8(a: np.ndarray) -> np.ndarray:
    """Check shape and value range; bools, ints and floats become uint8 pixels."""
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"expected an image of shape HxW or HxWxC with C in 1..4, got {a.shape}")
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"expected numeric pixels, got dtype {a.dtype}")
    if a.size == 0:
        return a.astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise ValueError("the image holds NaN or infinite values")
    lo, hi = a.min(), a.max()
    if lo < 0 or hi > 255:
        raise ValueError(f"pixel values must lie in [0, 1] or [0, 255]; got {lo} to {hi}")
    if np.issubdtype(a.dtype, np.floating) and hi <= 1:
        a = a * 255
    return np.rint(a).astype(np.uint8)


def _shrink(img: Image.Image) -> np.ndarray:
    """An 8-bit channel -> float32 in [0, 1], box-shrunk so the longer side is at most WORK."""
    longest = max(img.size)
    if longest > WORK:
        img = img.reduce(-(-longest // WORK))
    return np.asarray(img, np.float32) / 255
