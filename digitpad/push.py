"""Push a drawing until the network breaks: turn it and change its stroke on the pen's strokes,
before preprocess, and shift and scale the 28x28 it makes, after it: preprocess crops, fits and
centres every drawing, so a shift or scale of the strokes would never reach the model."""
import math
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .canvas import preprocess
from .data import denormalize, normalize
from .inference import tta_probs
from .strokes import Pad

SWEEP = tuple(range(-90, 91, 5))  # the rotations the curve reads, in degrees
SWEEP_POINTS = 800  # points 2 px apart (the pad's gap): 750 pen digits' longest runs 1,248 px on the pad


@dataclass(frozen=True)
class Push:
    """What is done to a drawing before the model reads it; the defaults leave it as drawn."""
    rotation: float = 0.0   # degrees, counter-clockwise on the page, about the drawing's centre
    shift_x: float = 0.0    # 28x28 pixels, right
    shift_y: float = 0.0    # 28x28 pixels, down
    scale: float = 1.0      # of the 28x28, about its centre
    thickness: float = 1.0  # times the pad's brush

    RANGES = {"rotation": (-90, 90), "shift_x": (-8, 8), "shift_y": (-8, 8), "scale": (0.5, 1.5),
              "thickness": (0.25, 3)}

    def __post_init__(self):
        for f in fields(self):
            v, (lo, hi) = getattr(self, f.name), self.RANGES[f.name]
            if type(v) not in (int, float) or not lo <= v <= hi:
                raise ValueError(f"{f.name} must be a number from {lo} to {hi}, got {str(v)[:20]}")


def turned(pad: Pad, degrees: float, thickness: float) -> Pad:
    """The strokes turned about their centre, on a canvas just big enough for them, with the
    brush `thickness` times as wide as the pad's."""
    if not pad.strokes:
        return pad
    a = math.radians(degrees)
    turn = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])  # y points down
    points = np.concatenate(pad.strokes)
    centre = (points.min(0) + points.max(0)) / 2
    spun = [(s - centre) @ turn + centre for s in pad.strokes]
    brush = pad.brush * max(pad.size) * thickness
    points = np.concatenate(spun)
    low = np.floor(points.min(0) - brush)  # whole pixels: a drawing left as it was rasterizes alike
    side = math.ceil(max(points.max(0) - low + brush))
    return Pad((side, side), tuple(s - low for s in spun), brush / side)


def moved(x: torch.Tensor, push: Push) -> torch.Tensor:
    """[B, 1, 28, 28] normalized, shifted and scaled about the centre as `push` says."""
    if push.shift_x == push.shift_y == 0 and push.scale == 1:
        return x
    # affine_grid maps each output pixel to where it reads the input, in [-1, 1] units.
    theta = torch.tensor([[1 / push.scale, 0, -push.shift_x * 2 / 28 / push.scale],
                          [0, 1 / push.scale, -push.shift_y * 2 / 28 / push.scale]], dtype=torch.float32)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), [len(x), 1, 28, 28], align_corners=False)
    return normalize(F.grid_sample(denormalize(x), grid, align_corners=False))


def pushed(pad: Pad, push: Push, rotation: float | None = None) -> torch.Tensor | None:
    """What the model reads of the drawing pushed (turned by `rotation` instead, if given):
    [1, 1, 28, 28], or None when nothing is drawn."""
    rotation = push.rotation if rotation is None else rotation
    x = preprocess(pad if rotation == 0 and push.thickness == 1 else turned(pad, rotation, push.thickness))
    return None if x is None else moved(x, push)


def sweep(model: nn.Module, pad: Pad, push: Push) -> tuple[list[int], torch.Tensor] | None:
    """The probabilities [len(angles), 10] of the drawing pushed and turned by each SWEEP angle,
    read in one batched pass as classify reads one drawing; None when nothing is drawn."""
    if (n := sum(map(len, pad.strokes))) > SWEEP_POINTS:
        raise ValueError(f"the curve turns drawings of at most {SWEEP_POINTS:,} points; this one has {n:,}")
    xs = [(a, pushed(pad, push, a)) for a in SWEEP]
    xs = [(a, x) for a, x in xs if x is not None]  # a turn can thin a stroke out of a tiny drawing
    if not xs:
        return None
    with torch.inference_mode():
        return [a for a, _ in xs], tta_probs(model, torch.cat([x for _, x in xs]))
