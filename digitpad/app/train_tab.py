"""The Train tab: train a zoo model in a subprocess (digitpad.runs) and watch its curves and
conv1 filters move; the model joins the Draw tab's picker when it ends."""
import html
import sys
import threading
import time

import gradio as gr
import numpy as np
import pandas as pd

from .. import data, pixels, runs
from ..models import MODELS
from ..events import Progress, follow
from ..limits import Limit
from ..runs import HELD_OUT_FOLD, THREADS, Busy, Run, label
from ..weights import WeightsError, load
from .draw_tab import Draw
from .pictures import picture
from .refusal import refuse, slider

MNIST_TRAIN = 60_000 - data.VAL_SIZE  # MNIST training images once validation is carved off
POLL_S = 0.5
WEAK = 0.05  # a run this far below the shipped model's test accuracy joins the picker unchosen
RUNS_PER_HOUR = 4  # runs a browser may ask for on a shared page (one trains at a time anyway)


def mnist_note(root) -> str:
    """What the tab says when MNIST is not on disk: where it will go, and how to put it there."""
    if data.has_mnist(root):
        return ""
    return (f"**MNIST is not on this machine yet.** Start downloads it (about 12 MB) through "
            f"torchvision into `{root}`. Offline, copy the four files of "
            f"[MNIST](https://yann.lecun.com/exdb/mnist/) into `{root}/MNIST/raw/`, or set "
            f"`DIGITPAD_DATA` to a folder whose `MNIST/raw/` holds them, and restart digitpad.")


def progress_bar(step: dict | None) -> str:
    """The bar for a run's latest 'prepare' or 'step' event (None: just started)."""
    if step is None:
        return bar_html("Starting...")
    if step["event"] == "prepare":
        if "total" not in step:
            return bar_html(f"Starting: {step['doing']}...")
        return bar_html(f"Starting: {step['doing']}: {step['done']:,} of {step['total']:,}",
                        step["done"], step["total"])
    left = time.strftime("%M:%S", time.gmtime(step["left_s"]))
    return bar_html(f"epoch {step['epoch']}: {step['images']:,} images, {step['rate']:,.0f} "
                    f"images/s, {left} left", step["step"], step["steps"])


def bar_html(said: str, value: int | None = None, top: int | None = None) -> str:
    """A progress bar (none without a value) over what the run is doing."""
    bar = "" if value is None else f"<progress value='{value}' max='{top}' style='width:100%'></progress><br>"
    return f"<div id='train-progress'>{bar}{html.escape(said)}</div>"


def curves(points: list, shown: dict) -> pd.DataFrame | None:
    """The points of the measures in `shown` (measure -> curve name), or None before there are
    any: a Gradio 6 line plot first given an empty frame draws axes but never lines for the
    frames that follow."""
    named = [(images, value, shown[measure]) for images, value, measure in points if measure in shown]
    return pd.DataFrame(named, columns=["images", "value", "curve"]) if named else None


# Each plot's measures (digitpad.events) and their curves' names; each curve keeps its colour
# as others appear.
LOSS = {"loss": "training loss", "val_loss": "validation loss"}
ACCURACY = {"acc": "training accuracy", "val_acc": "validation accuracy", "pen_val_acc": "held-out writers"}
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c")


class Adopter:
    """Ended runs' models join the picker, each once, whoever gets there first: the page that
    follows the run, or the thread waiting on it (the page may have been closed)."""

    def __init__(self, models: dict, draw: Draw):
        self.models, self.draw = models, draw
        self.adopted, self.lock = {}, threading.Lock()  # run folder -> its model's label in the picker

    def __call__(self, run: Run) -> str | None:
        """The run's label in the picker; None when the run saved nothing."""
        with self.lock:
            if run.folder not in self.adopted and run.weights().is_file():
                model = load(run.model, run.weights())
                self.adopted[run.folder] = label(model, self.models)
                self.draw.add(self.adopted[run.folder], model, run.owner)
                for old in runs.beyond_keep(self.models):
                    self.draw.remove(old)
            return self.adopted.get(run.folder)

    def unwatched(self, run: Run) -> None:
        try:
            self(run)
        except WeightsError as e:
            print(f"digitpad: a finished run's weights do not load: {e}", file=sys.stderr)


def summary(done: dict, run: Run, called: str, shipped: float) -> tuple[str, bool]:
    """The sentence that ends a run (its 'done' event), and whether its model is too weak to be
    chosen: more than WEAK below the `shipped` model's test accuracy."""
    pen_figure = (f"{done['pen_unseen_acc']:.2%} on pen digits of writers it never trained on"
                  if done["pen_unseen_acc"] is not None else "no pen digits on this machine to read")
    weak = done["test_acc"] < shipped - WEAK
    chosen = (f"It is in the Draw tab's model picker, not chosen: that is more than {WEAK * 100:.0f} "
              f"points below the {shipped:.2%} of the {run.model} that ships. "
              f"More epochs or images make a model worth drawing on." if weak else
              "It is chosen in the Draw tab's model picker now.")
    said = (f"**{called}**{' (stopped early: its best finished epoch)' if done['interrupted'] else ''}: "
            f"{done['test_acc']:.2%} on the 10,000 MNIST test images, {pen_figure}. {chosen} "
            f"Kept in `{run.folder}` (the page keeps its last {runs.KEEP} trained models).")
    return said, weak


def build(models: dict, default: str, draw: Draw, token: gr.BrowserState) -> None:
    root = data.default_data_dir()
    adopt, asked = Adopter(models, draw), Limit(RUNS_PER_HOUR, 3600)

    def train(arch, epochs, pen, images, who, token):
        """Start a run, then stream its progress; at the end the picker gains the model."""
        owner = draw.owner(token)
        if draw.shared and (wait := asked.take(owner)) is not None:
            raise refuse(f"This browser has asked for {RUNS_PER_HOUR} runs in an hour, the most a "
                         f"shared page allows: try again in {wait / 60:.0f} min.")
        try:
            run = Run.start(arch, int(epochs), pen, None if images >= MNIST_TRAIN else int(images),
                            THREADS, owner=owner, on_end=adopt.unwatched)
        except Busy as e:
            raise refuse(str(e))
        progress = Progress()
        yield {bar: progress_bar(None), loss: None, accuracy: None, result: ""}
        while True:
            alive = run.running()  # asked first, so the read below has every last event
            progress = follow(progress, run.events())
            shown = {loss: curves(progress.points, LOSS), accuracy: curves(progress.points, ACCURACY)}
            if progress.bar:
                shown[bar] = progress_bar(progress.bar)
            if progress.kernels:
                shown[kernels] = pixels.grid(np.asarray(progress.kernels, np.float32))
            yield shown
            if not alive:
                break
            time.sleep(POLL_S)
        done = progress.done
        if done is None:  # the reason replaces the bar
            said = ("Stopped before the first epoch ended: nothing was saved." if run.stopped else
                    f"Training failed: {run.last_words()}")
            yield {bar: bar_html(said), result: ""}
            return
        try:
            called = adopt(run)
        except WeightsError as e:
            raise refuse(f"The run ended but its weights do not load: {e}")
        shipped = models.get(run.model, models[default]).meta.get("test_acc", 0)
        said, weak = summary(done, run, called, shipped)
        yield {result: said, draw.picker: draw.choices(None if weak else called, who, token)}

    def stop(token):
        run = Run.current
        if run is None or not run.running():
            return "Nothing is training."
        if run.owner != draw.owner(token):
            return "Another browser started this run: only that page can stop it."
        run.stop()
        return "Stopping: a finished epoch is kept, and joins the picker."

    gr.Markdown("Train a model from scratch here, and watch it learn: the curves grow as it "
                "trains and the conv1 filters turn from noise into edge detectors. One epoch of "
                "digitcnn reaches 99% on MNIST's test images. With pen digits on, writer group "
                f"{HELD_OUT_FOLD} (ten of the thirty writers) is held out, so the pen figure at "
                "the end is on writers the run never saw.")
    gr.Markdown(mnist_note(root), elem_id="mnist-note")
    with gr.Row():
        arch = gr.Dropdown(list(MODELS), value=default, label="Model", elem_id="train-model")
        epochs = slider(1, 5, value=1, step=1, label="Epochs", elem_id="train-epochs")
        images = slider(1_000, MNIST_TRAIN, value=MNIST_TRAIN, step=1_000,
                           label="MNIST images per epoch", elem_id="train-images")
        pen = gr.Checkbox(True, label="Pen-drawn digits in every batch", elem_id="train-pen")
    with gr.Row():
        start = gr.Button("Start", variant="primary", elem_id="train-start")
        halt = gr.Button("Stop", variant="stop", elem_id="train-stop")
    bar = gr.HTML(elem_id="train-bar")
    with gr.Row():
        loss = gr.LinePlot(x="images", y="value", color="curve", title="Loss", height=260,
                           color_map=dict(zip(LOSS.values(), COLOURS)), elem_id="train-loss")
        accuracy = gr.LinePlot(x="images", y="value", color="curve", title="Accuracy", height=260,
                               color_map=dict(zip(ACCURACY.values(), COLOURS)), elem_id="train-accuracy")
    kernels = picture(label="conv1 filters as it learns (blue negative, red positive)", height=220,
                      elem_id="train-filters")
    result = gr.Markdown(elem_id="train-result")
    start.click(train, [arch, epochs, pen, images, draw.who, token],
                [bar, loss, accuracy, kernels, result, draw.picker], concurrency_limit=None)
    halt.click(stop, token, result, concurrency_limit=None)
