"""Pen digits drawn anew for every epoch: each drawing's strokes slanted, turned and jittered, then
drawn and preprocessed as the pad's strokes are, in background processes while the last epoch trains."""
import concurrent.futures
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import replace

import numpy as np
import torch

from . import pendigits
from .canvas import SIZE, mnist_image
from .strokes import CANVAS, rasterize

SLANT = 0.3          # horizontal shear, uniform in +-this: x moves by SLANT x the height above centre
TURN = 10.0          # rotation in degrees, uniform in +-this
STROKE_SHIFT = 0.03  # each stroke moves as a whole by this share of the digit's size (std)
POINT_JITTER = 0.01  # each point moves by about this share, smoothed along its stroke (std)
# The digit drawn this many pixels across, not the 120-340 of the pad's canvas: a digit draws in
# 0.39 ms instead of 0.63 (one quiet process), and the 28x28 images differ as by a sub-pixel shift.
DRAW_SIDE = 80
CHUNK = 500          # drawings per task: small enough that the first epoch's wait shows progress
# Two workers at the lowest priority: beside training's two threads they get little CPU, so an
# epoch mostly waits for its set (1.19-1.35x the cached renders' epoch on two cores in bfloat16,
# bench.py renders); at normal priority they made training 3x slower.
WORKERS = 2


def styled(strokes: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The strokes slanted and turned about the drawing's centre, each stroke shifted and its
    points jittered: the variety between writers, drawn afresh."""
    pts = np.concatenate(strokes)
    lo, hi = pts.min(0), pts.max(0)
    centre, size = (lo + hi) / 2, max((hi - lo).max(), 1.0)
    a, k = np.radians(rng.uniform(-TURN, TURN)), rng.uniform(-SLANT, SLANT)
    # y points down, so shearing x by -k*y leans the top right when k > 0.
    warp = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.array([[1, -k], [0, 1]])
    out = []
    for s in strokes:
        noise = rng.normal(0, POINT_JITTER * size * 1.6, s.shape)  # x1.6: the smoothing's loss
        if len(s) > 2:  # a [1, 2, 1] / 4 average along the stroke: a wobble, not a zigzag
            padded = np.concatenate([noise[:1], noise, noise[-1:]])
            noise = (padded[:-2] + 2 * padded[1:-1] + padded[2:]) / 4
        shift = rng.normal(0, STROKE_SHIFT * size, 2)
        out.append((s - centre) @ warp.T + centre + shift + noise)
    return out


def draw(drawings: list[pendigits.PenDigit], seed) -> tuple[np.ndarray, np.ndarray]:
    """Each drawing styled, placed with a random brush and size, rasterized and preprocessed as
    the pad's strokes are: ink as uint8 [N, 28, 28], and which preprocess read as blank [N]."""
    rng = np.random.default_rng(seed)
    images = np.zeros((len(drawings), SIZE, SIZE), np.uint8)
    blank = np.zeros(len(drawings), bool)
    for i, d in enumerate(drawings):
        brush = rng.uniform(*pendigits.BRUSH)
        strokes, width = pendigits.placed(replace(d, strokes=styled(d.strokes, rng)), rng, CANVAS, brush)
        digit = mnist_image(_ink_around(strokes, width))
        if digit is None:
            blank[i] = True
        else:
            images[i] = np.rint(digit * 255)
    return images, blank


def _ink_around(strokes: list[np.ndarray], brush: float) -> np.ndarray:
    """The pad's ink (float32 in [0, 1]) on just the part of its CANVAS the strokes cover, drawn
    at most DRAW_SIDE pixels across: mnist_image crops to the ink and shrinks it to 20 anyway."""
    pts, r = np.concatenate(strokes), brush / 2 + 2
    lo = np.clip(np.floor(pts.min(0) - r), 0, CANVAS)
    hi = np.clip(np.ceil(pts.max(0) + r), 1, CANVAS)
    f = min(1.0, DRAW_SIDE / float((hi - lo).max()))
    size = tuple(np.maximum(np.ceil((hi - lo) * f), 1).astype(int).tolist())
    return rasterize([(s - lo) * f for s in strokes], size, brush * f).astype(np.float32) / 255


_drawings: list[pendigits.PenDigit] = []  # a worker's: the run's training drawings


def _start_worker(source: str, writers: list[int]) -> None:
    global _drawings
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the training process's to handle
    threading.Thread(target=_end_with, args=(os.getppid(),), daemon=True).start()
    if hasattr(os, "nice"):
        os.nice(19)
    torch.set_num_threads(1)
    keep = set(writers)
    _drawings = [d for d in pendigits.load(source) if d.writer in keep]


def _end_with(parent: int) -> None:
    """A worker whose training process is gone (killed, crashed) ends too: none is left drawing."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _draw_chunk(seed: int, epoch: int, start: int) -> tuple[np.ndarray, np.ndarray]:
    return draw(_drawings[start:start + CHUNK], [seed, epoch, start])


class EpochRenders:
    """The training writers' pen digits, drawn anew for each epoch from (seed, epoch) alone, so
    that a resumed run sees what an unbroken one saw."""

    def __init__(self, source, drawings: list[pendigits.PenDigit], writers: set[int], seed: int):
        """`drawings`: `source`'s, parsed; those by `writers` are drawn, as each worker reads them."""
        self.labels = torch.tensor([d.label for d in drawings if d.writer in writers])
        self.seed = seed
        self.pool = concurrent.futures.ProcessPoolExecutor(
            WORKERS, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
            initargs=(str(source), sorted(writers)))
        self.pending = {}
        self.last = (0, None)  # the epoch handed out last, and its set

    def ask(self, epoch: int) -> None:
        """Start drawing `epoch`'s set in the background."""
        if epoch not in self.pending:
            self.pending[epoch] = [self.pool.submit(_draw_chunk, self.seed, epoch, start)
                                   for start in range(0, len(self.labels), CHUNK)]

    def get(self, epoch: int, progress=None) -> tuple[torch.Tensor, torch.Tensor]:
        """`epoch`'s images [N, 1, 28, 28] in [0, 1] and labels, without the blank ones; waits for
        them if need be, calling progress(done, total) from 0 as parts arrive."""
        if self.last[0] == epoch:
            return self.last[1]
        self.ask(epoch)
        parts, total = [], len(self.labels)
        for future in self.pending.pop(epoch):
            if progress:
                progress(min(len(parts) * CHUNK, total), total)
            parts.append(future.result())
        images, blank = (np.concatenate(p) for p in zip(*parts))
        self.last = epoch, (torch.from_numpy(images[~blank]).float().div_(255).unsqueeze(1),
                            self.labels[~blank])
        return self.last[1]

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
