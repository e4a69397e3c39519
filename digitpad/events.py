"""A training run's progress as JSON lines: what train.py writes and the page's Train tab reads.

Each line is {"event": kind, **fields}, in this order:

    prepare  doing, and done and total when it counts   loading MNIST, rendering pen digits
    start    model, epochs, images_per_epoch, pen,       the untrained model: its conv1 kernels
             weights, images, val_loss, val_acc,         [C][k][k] and (when the page follows)
             pen_val_acc (validation: each when held)    its validation
    step     epoch, step, steps, images, loss, acc,      every few batches: the window's mean
             rate (images/s), left_s                     loss and accuracy
    filters  images, weights                             conv1's kernels as they learn
    val      images, val_loss, val_acc, pen_val_acc      mid-run validation, for the curves
    epoch    epoch, images, train_loss, train_acc,       each finished epoch
             seconds, val_loss, val_acc, pen_val_acc
    done     test_acc, pen_unseen_acc, weights,          the run saved its best epoch
             interrupted
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("prepare", "start", "step", "filters", "val", "epoch", "done")
VALIDATION = ("val_loss", "val_acc", "pen_val_acc")


class Events:
    """Writes a run's events to `path`; does nothing without one (a run from the terminal)."""

    def __init__(self, path: Path | None):
        self.path = path
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, kind: str, **fields):
        if kind not in KINDS:
            raise ValueError(f"unknown event {kind!r}; the kinds are {', '.join(KINDS)}")
        if self.path:
            with open(self.path, "a") as f:
                f.write(json.dumps({"event": kind, **fields}) + "\n")


def read(path: Path, offset: int = 0) -> tuple[list[dict], int]:
    """The whole lines written after byte `offset`, and the offset to read from next."""
    if not path.is_file():
        return [], offset
    with open(path, "rb") as f:
        f.seek(offset)
        chunk = f.read()
    whole = chunk[:chunk.rfind(b"\n") + 1]
    return [json.loads(line) for line in whole.splitlines()], offset + len(whole)


@dataclass
class Progress:
    """What a page shows of a run, folded from its events by `follow`."""
    points: list = field(default_factory=list)  # (images, value, measure) for the curves
    bar: dict | None = None       # the latest prepare or step event: what the run is doing
    kernels: list | None = None   # conv1's kernels, when the last events changed them
    done: dict | None = None      # the done event, once written


def follow(progress: Progress, events: list[dict]) -> Progress:
    """`progress` after `events`. Measures: loss and acc (training, per step); val_loss,
    val_acc and pen_val_acc (validation, from start, val and epoch events)."""
    points, bar, kernels, done = list(progress.points), progress.bar, None, progress.done
    for e in events:
        kind = e["event"]
        if kind in ("start", "filters"):
            kernels = e["weights"]
        if kind in ("start", "val", "epoch"):
            points += [(e["images"], e[key], key) for key in VALIDATION if e.get(key) is not None]
        elif kind == "step":
            points += [(e["images"], e["loss"], "loss"), (e["images"], e["acc"], "acc")]
        elif kind == "done":
            done = e
        if kind in ("prepare", "step"):
            bar = e
    return Progress(points, bar, kernels, done)
