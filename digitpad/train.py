"""Fit a zoo model on MNIST plus pen-drawn digits: train/validate per epoch, early stopping,
resume, report."""
import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from . import data, fresh, home, pendigits, report
from .events import Events
from .models import MODELS, build_model
from .runs import SERVER_PID
from .settings import FAST, RECIPE_FIELDS, RECIPES, Settings
from .steps import evaluate, train_step
from .weights import WeightsError, read_checkpoint, save_atomic, save_weights

PEN_RENDERS = 3  # cached canvases per pen digit, each with its own brush, size and place
WARMUP = 0.05  # share of all steps over which the linear schedule's rate rises to the peak
# Shares of a run at which a run with events also validates, for the page's curves: where
# a short run climbs most. Epoch ends are validated anyway.
CURVE_CHECKS = (1 / 8, 1 / 4, 1 / 2)


def parser() -> argparse.ArgumentParser:
    """scripts/train.py's flags, one per setting; flags not given are left out of the namespace,
    so that the recipe's values stand."""
    def recipe_line(name):
        return ", ".join(f"{k.replace('_', '-')} {getattr(RECIPES[name], k)}" for k in RECIPE_FIELDS)

    p = argparse.ArgumentParser(
        prog="scripts/train.py", argument_default=argparse.SUPPRESS,
        description="Train a digitpad model on MNIST plus pen-drawn digits and write <out>/<model>.pt, "
                    "its history (.json) and report plots. Each epoch is one pass over MNIST's "
                    "training images.",
        epilog=f"recipes: fast: {recipe_line('fast')}; seeds: {recipe_line('seeds')} (patience 0: off)")
    p.add_argument("--recipe", choices=list(RECIPES),
                   help="fast (default): digitpad's, 99%% MNIST test in one epoch; seeds: the "
                        "write-ups' own. The flags below override single settings of it")
    p.add_argument("--model", choices=list(MODELS), help=f"zoo model to train (default {FAST.model})")
    p.add_argument("--data", choices=["mnist+pen", "mnist"],
                   help="mnist+pen: MNIST with pen-drawn digits rendered as pad canvases mixed into "
                        "every batch; mnist: MNIST alone, as the seeds trained")
    p.add_argument("--pen-share", type=float,
                   help=f"share of each batch that is pen-drawn digits (default {FAST.pen_share})")
    p.add_argument("--pen-renders", choices=["fresh", "cached"],
                   help=f"fresh (default): every epoch draws each pen digit anew from its strokes "
                        f"(slanted, turned, jittered, random brush and size); cached: {PEN_RENDERS} "
                        f"fixed renders per digit, made once and kept in digitpad's home")
    p.add_argument("--fold", type=int, choices=range(pendigits.FOLDS),
                   help="hold out pen writer group K (0-2): train on the other writers, validate on "
                        "these; without it training uses all writers")
    p.add_argument("--pendigits", type=Path,
                   help="UCI pendigits-orig.tra (default $DIGITPAD_PENDIGITS, else a copy in "
                        "digitpad's home, downloaded when missing)")
    p.add_argument("--epochs", type=int, help="epochs to run; the rate reaches zero at the last")
    p.add_argument("--batch-size", type=int, help="training batch size")
    p.add_argument("--lr", type=float, help="Adam's (peak) learning rate")
    p.add_argument("--lr-schedule", choices=["linear", "constant"],
                   help=f"linear: warm up over the first {WARMUP * 100:.0f}%% of steps, then fall "
                        f"linearly to zero; constant: the seeds' fixed rate")
    p.add_argument("--label-smoothing", type=float, help="cross-entropy label smoothing")
    p.add_argument("--augment-share", type=float,
                   help="share of each batch that is warped, thickened or given drawn styles "
                        "(0: plain images, as the seeds trained)")
    p.add_argument("--ema", type=float,
                   help="validate and keep an exponential moving average of the weights with this "
                        "decay per step (0: the trained weights themselves)")
    p.add_argument("--precision", choices=["bf16", "fp32"],
                   help="bf16: convolutions and matrix products in bfloat16 where the processor "
                        "does them natively (AVX512-BF16 or AMX CPUs, recent GPUs), else float32; "
                        "weights and the optimizer stay float32")
    p.add_argument("--patience", type=int,
                   help="stop after this many epochs without a better validation score (the "
                        "best-scoring epoch is kept either way; 0: never stop early)")
    p.add_argument("--seed", type=int, help="seed for split, init, batches, augmentation (default 0)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"],
                   help="auto (default) picks cuda when available")
    p.add_argument("--threads", type=int,
                   help="CPU threads for training (default: torch's choice, one per core)")
    p.add_argument("--data-dir", type=Path, help=data.DATA_DIR_HELP)
    p.add_argument("--out", type=Path,
                   help="folder for <model>.pt and <model>.json (default: runs/ in digitpad's home, "
                        "$DIGITPAD_HOME; the shipped weights are replaced only by naming weights/)")
    p.add_argument("--report-dir", type=Path,
                   help="folder for the plots, one subfolder per model (default: reports/ in "
                        "digitpad's home)")
    p.add_argument("--val-size", type=int,
                   help=f"validation images carved from the training set (default {data.VAL_SIZE}; "
                        f"0: train on all 60,000 and keep the last epoch)")
    p.add_argument("--limit", type=int,
                   help="train on only the first N MNIST training images (quick experiments, smoke tests)")
    p.add_argument("--events", type=Path,
                   help="also append progress as JSON lines to this file, and validate at 1/8, 1/4 "
                        "and 1/2 of the run for its curves (the page's Train tab reads it)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run saved in <out>/<model>.resume.pt")
    return p


def parse_args(argv=None) -> Settings:
    """The command line as Settings: the chosen recipe with each flag given put over it."""
    p = parser()
    given = vars(p.parse_args(argv))
    s = replace(RECIPES[given.pop("recipe", FAST.recipe)], **given)
    if s.data == "mnist" and s.fold is not None:
        p.error("--fold holds out pen writers: it needs --data mnist+pen")
    if not 0 <= s.pen_share < 1:
        p.error("--pen-share must be at least 0 and below 1")
    if not 0 <= s.augment_share <= 1:
        p.error("--augment-share must be from 0 to 1")
    return s


def native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 convolutions run natively here (emulated, they are slower than float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available here")
    return torch.device(name)


@torch.no_grad()
def build_trainable(name: str, lr: float, device) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """A fresh zoo model and its Adam, laid out for CPU speed: channels-last convs, fused update."""
    # Profiled on digitcnn: max-pool took a quarter of each NCHW step; channels-last cuts it 2x+.
    model = build_model(name).to(device, memory_format=torch.channels_last)
    return model, torch.optim.Adam(model.parameters(), lr=lr, fused=True)


def warmed_ema(decay: float):
    """AveragedModel's update for an exponential average whose decay warms up over the first
    steps, (1 + n) / (10 + n), so a short run is not an average of its untrained start."""
    @torch.no_grad()
    def update(averaged, current, steps):
        d = min(decay, (1 + int(steps)) / (10 + int(steps)))
        for a, c in zip(averaged, current):
            if a.is_floating_point():
                a.lerp_(c, 1 - d)
            else:  # batch norm's step counter
                a.copy_(c)
    return update


def schedule(opt, kind: str, steps: int):
    """Per-step learning rate: linear warm-up then linear decay to zero, or None (constant)."""
    if kind == "constant":
        return None
    warm = max(1, round(WARMUP * steps))
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / (steps - warm)))


def conv1_kernels(model) -> list:
    """conv1's kernels as nested lists [C][k][k]: the filters the Train tab draws."""
    return model.conv1.weight.detach()[:, 0].cpu().tolist()


@dataclass
class Sets:
    """A run's data: MNIST's training and validation images on the run's device and its test
    images, the pen digits mixed into batches and the held-out writers' digits (or None)."""
    x_tr: torch.Tensor
    y_tr: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    pen: tuple[torch.Tensor, torch.Tensor] | None  # the epoch's, with fresh renders
    pen_val: pendigits.PenSet | None
    writers: list[int]  # the pen writers trained on, recorded in the checkpoint
    renders: fresh.EpochRenders | None = None  # draws `pen` anew for each epoch

    def pen_for(self, epoch: int, last: int, events: Events) -> None:
        """With fresh renders: `epoch`'s pen digits in `pen`, the next epoch's begun."""
        if not self.renders:
            return
        x, y = self.renders.get(epoch, lambda done, total: events(
            "prepare", doing=f"drawing the pen digits anew for epoch {epoch}", done=done, total=total))
        self.pen = x.to(self.x_tr.device), y.to(self.x_tr.device)
        if epoch < last:
            self.renders.ask(epoch + 1)


def load_sets(s: Settings, events: Events, device) -> Sets:
    root = s.data_dir or data.default_data_dir()
    events("prepare", doing="loading MNIST")
    images, labels = data.load_mnist(root, train=True)
    (x_tr, y_tr), (x_val, y_val) = data.split(images, labels, s.val_size, s.seed)
    if s.limit:
        x_tr, y_tr = x_tr[:s.limit], y_tr[:s.limit]
    x_test, y_test = data.load_mnist(root, train=False)
    sets = Sets(*(t.to(device) for t in (x_tr, y_tr, x_val, y_val)), x_test, y_test, None, None, [])
    if s.data == "mnist+pen":
        events("prepare", doing="loading the pen digits")
        pen_digits(s, sets, events)
    return sets


def batch_plan(s: Settings, sets: Sets) -> tuple[int, int]:
    """Pen digits in each batch, and batches in an epoch over the MNIST training images."""
    n_pen = round(s.batch_size * s.pen_share) if s.data == "mnist+pen" else 0
    return n_pen, math.ceil(len(sets.x_tr) / (s.batch_size - n_pen))


@dataclass
class Loop:
    """What a run trains and how: the model, its optimizer, rate schedule and weight average,
    and the state a checkpoint carries (epochs done, the best so far, history, clock)."""
    name: str  # the zoo model's
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler | None
    ema: AveragedModel | None
    bf16: bool
    events: Events
    state: dict = field(default_factory=lambda: {
        "epoch": 0, "best_score": -1.0, "best_epoch": 0, "best_state": None, "history": [],
        "train_time": 0.0, "clock": {"images": 0, "seconds": 0.0}})  # clock: images seen, seconds

    @property
    def kept(self) -> torch.nn.Module:
        """What is validated and saved: the weights' average, else the weights themselves."""
        return self.ema.module if self.ema else self.model

    def checkpoint(self) -> dict:
        return {"model": self.name, "state_dict": self.model.state_dict(),
                "ema": self.ema.state_dict() if self.ema else {}, "optimizer": self.opt.state_dict(),
                "state": self.state, "scheduler": self.sched.state_dict() if self.sched else {}}

    def resume(self, path: Path) -> None:
        ckpt = read_checkpoint(path, "Nothing to resume: start without --resume.")
        self.model.load_state_dict(ckpt["state_dict"])
        if self.ema:
            self.ema.load_state_dict(ckpt["ema"])
        self.opt.load_state_dict(ckpt["optimizer"])
        if self.sched:
            self.sched.load_state_dict(ckpt["scheduler"])
        self.state = ckpt["state"]
        print(f"resuming {self.name} after epoch {self.state['epoch']}")


def build_loop(s: Settings, device, events: Events, steps: int) -> Loop:
    """A fresh model, seeded, with what trains it over `steps` batches an epoch."""
    bf16 = s.precision == "bf16" and native_bf16(device)
    if s.precision == "bf16" and not bf16:
        print("this processor has no native bfloat16: training in float32", file=sys.stderr)
    torch.manual_seed(s.seed)
    model, opt = build_trainable(s.model, s.lr, device)
    # An exponential average of recent weights: steadier from epoch to epoch than the last
    # step's, which a run that keeps its last epoch (--val-size 0) relies on.
    ema = AveragedModel(model, multi_avg_fn=warmed_ema(s.ema), use_buffers=True) if s.ema else None
    loop = Loop(s.model, model, opt, schedule(opt, s.lr_schedule, steps * s.epochs), ema, bf16, events)
    if s.resume:
        loop.resume(resume_path(s))
    return loop


def resume_path(s: Settings) -> Path:
    return s.out_dir / f"{s.model}.resume.pt"


def train_epoch(loop: Loop, s: Settings, sets: Sets, epoch: int, watchers=()) -> tuple[float, float]:
    """One pass over MNIST in a seeded order, pen digits mixed in; returns mean loss and accuracy.

    Each of `watchers`, `watch(images, seconds, model)`, is called after every step with the
    run's images seen and training seconds and the model that would be kept; the clock stops
    while they run (bench.py times the run to 99% with one, the page's curves are another)."""
    model, clock, device = loop.model, loop.state["clock"], sets.x_tr.device
    model.train()
    torch.manual_seed(s.seed * 1000 + epoch)  # dropout: same stream on resume
    gen = torch.Generator(device=device).manual_seed(s.seed * 1000 + epoch)
    n_pen, steps = batch_plan(s, sets)
    # The page's curves get about 40 points an epoch, its filters 10 a run at most: a few
    # hundred batches apart in a full run, closer in a short one.
    report_every, filters_every = max(1, steps // 40), max(1, min(200, steps * s.epochs // 10))
    batches = data.mixed_batches(sets.x_tr, sets.y_tr, sets.pen, s.batch_size, n_pen, gen)
    bar = tqdm(batches, desc=f"epoch {epoch}", total=steps, leave=False, unit="batch",
               dynamic_ncols=True, disable=None)  # None: off when not a terminal
    start, window = time.perf_counter(), [0.0, 0, 0]  # loss, right, images since the last report
    total_loss, correct, seen = 0.0, 0, 0
    for step, (x, y) in enumerate(bar):
        if s.augment_share:
            warp = torch.rand(len(y), generator=gen, device=device) < s.augment_share
            x[warp] = data.augment(x[warp], y[warp], gen)
        logits, loss = train_step(model, loop.opt, data.normalize(x), y, s.label_smoothing,
                                  loop.sched, loop.bf16)
        if loop.ema:
            loop.ema.update_parameters(model)
        right, loss = (logits.argmax(1) == y).sum().item(), loss.item() * len(y)
        total_loss, correct, seen = total_loss + loss, correct + right, seen + len(y)
        window = [window[0] + loss, window[1] + right, window[2] + len(y)]
        if step % 20 == 0:
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
        done, images = (epoch - 1) * steps + step + 1, clock["images"] + seen
        if step % report_every == report_every - 1 or step == steps - 1:
            rate = images / (clock["seconds"] + time.perf_counter() - start)
            loop.events("step", epoch=epoch, step=done, steps=steps * s.epochs, images=images,
                        loss=window[0] / window[2], acc=window[1] / window[2], rate=rate,
                        left_s=(steps * s.epochs - done) * s.batch_size / rate)
            window = [0.0, 0, 0]
        if done % filters_every == 0:
            loop.events("filters", images=images, weights=conv1_kernels(model))
        if watchers:
            paused = time.perf_counter()
            for watch in watchers:
                watch(images, clock["seconds"] + paused - start, loop.kept)
            model.train()
            start += time.perf_counter() - paused
    clock["images"] += seen
    clock["seconds"] += time.perf_counter() - start
    return total_loss / seen, correct / seen


def announced(items: list, events: Events, doing: str, every: int = 250):
    """The items, counted on a tqdm bar in the terminal and as 'prepare' events for the page."""
    for i, item in enumerate(tqdm(items, desc=doing, leave=False, disable=None)):
        if i % every == 0:
            events("prepare", doing=doing, done=i, total=len(items))
        yield item


def pen_digits(s: Settings, sets: Sets, events: Events) -> None:
    """Into `sets`: the pen digits to train on (fixed, or drawn anew each epoch), the writers
    they are by, and the held-out writers' digits to validate on."""
    source = pendigits.locate(s.pendigits, download=True)
    drawings = pendigits.load(source)
    writers = {d.writer for d in drawings}
    held = pendigits.fold_writers(writers, s.fold) if s.fold is not None else set()
    sets.writers = sorted(writers - held)
    if s.pen_renders == "fresh":
        sets.renders = fresh.EpochRenders(source, drawings, writers - held, s.seed)
        if not held:
            return
    renders = PEN_RENDERS if s.pen_renders == "cached" else 1  # fresh: the cache only validates
    passes = itertools.count(1)
    full = pendigits.cached(source, "white", renders, progress=lambda it: announced(
        it, events, f"rendering pen digits once, pass {next(passes)} of {renders}"))
    sets.pen_val = full.only(held) if held else None
    if not sets.renders:
        train = full.only(writers - held).drawn()
        sets.pen = train.images.to(sets.x_tr.device), train.labels.to(sets.x_tr.device)


def all_pen_digits(s: Settings) -> pendigits.PenSet | None:
    """Every writer's pen digits, rendered once, when a copy is on this machine (else None)."""
    try:
        return pendigits.cached(pendigits.locate(s.pendigits), "white")
    except FileNotFoundError:
        return None


def end_with_parent() -> None:
    """A page's run stops as with Ctrl-C (its best finished epoch kept) once the server that
    started it is gone, killed or crashed: no run is left behind training for nobody. The server
    names itself, so that one gone while this process was still starting is noticed too."""
    parent = int(os.environ.get(SERVER_PID) or os.getppid())

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=watch, daemon=True).start()


@contextlib.contextmanager
def interrupts_held():
    """Hold Ctrl-C until the block is done, so it never stops a checkpoint half-written."""
    caught = []
    before = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
    if caught and before is signal.default_int_handler:
        raise KeyboardInterrupt


def fit(s: Settings, watch=None) -> dict:
    """Train with early stopping on the validation score; save weights, history and plots.

    The score is MNIST validation accuracy alone (a fold's held-out writers are only reported);
    with no validation images the last epoch is kept. `watch`: a watcher, see train_epoch.
    """
    device = pick_device(s.device)
    if s.threads:
        torch.set_num_threads(s.threads)
    events = Events(s.events)
    if events.path:
        end_with_parent()
    sets = load_sets(s, events, device)
    n_pen, steps = batch_plan(s, sets)
    loop = build_loop(s, device, events, steps)
    watchers, untrained, done = [watch] if watch else [], {}, loop.state["clock"]["images"]
    if events.path:  # the page's validation curves: from the untrained model on, a few an epoch
        untrained = {} if loop.state["epoch"] else validate(loop.kept, sets)
        epoch_images = len(sets.x_tr) + n_pen * steps
        watchers.append(mid_epoch_validation(events, sets, epoch_images * s.epochs, epoch_images, done))
    try:
        if loop.state["epoch"] < s.epochs:  # the first set is preparation, shown as such on the page
            sets.pen_for(loop.state["epoch"] + 1, s.epochs, events)
        anew = ", drawn anew each epoch" if sets.renders else ""
        pen_note = f" + {len(sets.pen[1])} pen digits by {len(sets.writers)} writers{anew}" if sets.pen else ""
        held_note = f", and {len(sets.pen_val.labels)} pen digits of held-out writers" if sets.pen_val else ""
        print(f"training {s.model} on {len(sets.x_tr)} MNIST images{pen_note} ({device}), "
              f"validating on {len(sets.x_val)} MNIST images{held_note}")
        events("start", model=s.model, epochs=s.epochs, images_per_epoch=len(sets.x_tr),
               pen=bool(n_pen), weights=conv1_kernels(loop.model), images=done, **untrained)
        interrupted = run_epochs(loop, s, sets, watchers)
    finally:
        if sets.renders:
            sets.renders.close()
    return finish(loop, s, sets, device, interrupted)


def run_epochs(loop: Loop, s: Settings, sets: Sets, watchers) -> bool:
    """Epochs until the last or until patience runs out, each validated and checkpointed, the
    best one's weights kept; True when Ctrl-C ended them."""
    state = loop.state
    try:
        while state["epoch"] < s.epochs:
            epoch = state["epoch"] + 1
            start = time.perf_counter()
            sets.pen_for(epoch, s.epochs, loop.events)
            tr_loss, tr_acc = train_epoch(loop, s, sets, epoch, watchers)
            row = {"epoch": epoch, "train_loss": tr_loss, "train_acc": tr_acc,
                   **validate(loop.kept, sets)}
            # MNIST validation alone chooses the epoch: held-out writers are only reported, so a
            # fold's figure is on writers nothing was chosen by. --val-size 0: the last epoch.
            score = row.get("val_acc", epoch)
            row["seconds"] = seconds = time.perf_counter() - start
            state["train_time"] += seconds
            state["history"].append(row)
            loop.events("epoch", **row, images=state["clock"]["images"])
            better = score > state["best_score"]
            if better:
                state.update(best_score=score, best_epoch=epoch, best_state={
                    k: v.detach().cpu().clone() for k, v in loop.kept.state_dict().items()})
            state["epoch"] = epoch
            with interrupts_held():
                save_atomic(loop.checkpoint(), resume_path(s))
            val = f"  val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}" if len(sets.x_val) else ""
            held = f"  held-out writers {row['pen_val_acc']:.4f}" if sets.pen_val else ""
            print(f"epoch {epoch:2d}  train loss {tr_loss:.4f} acc {tr_acc:.4f}{val}{held}  "
                  f"{seconds:5.1f}s" + ("  *" if better else ""))
            if s.patience and epoch - state["best_epoch"] >= s.patience:
                print(f"early stop: no better validation score since epoch {state['best_epoch']}")
                break
    except KeyboardInterrupt:
        print(f"\ninterrupted after epoch {state['epoch']}: keeping the best so far; "
              f"continue with --resume", file=sys.stderr)
        return True
    return False


def finish(loop: Loop, s: Settings, sets: Sets, device, interrupted: bool) -> dict:
    """The best epoch's weights, tested and saved with their record, history and plots."""
    state = loop.state
    if state["best_state"] is None:
        raise SystemExit("no epoch finished, so no weights were written")
    model = loop.model
    model.load_state_dict(state["best_state"])
    model.cpu()
    test_loss, test_acc, preds = evaluate(model, sets.x_test, sets.y_test)
    best = state["history"][state["best_epoch"] - 1]
    # Pen digits by writers this run never trained on: the held-out fold, or all of them.
    pen_unseen = best.get("pen_val_acc")
    if s.data == "mnist" and (every := all_pen_digits(s)):
        pen_unseen = pen_accuracy(model, every)
    unseen_note = f", pen digits of unseen writers {pen_unseen:.4f}" if pen_unseen is not None else ""
    print(f"best epoch {state['best_epoch']}: val acc {best.get('val_acc', float('nan')):.4f}, "
          f"test acc {test_acc:.4f} (loss {test_loss:.4f}){unseen_note}, "
          f"{state['train_time']:.0f}s training")
    meta = record(s, state, best, sets, device, test_acc=test_acc, pen_unseen_acc=pen_unseen,
                  precision="bf16" if loop.bf16 else "fp32")
    weights_path = s.out_dir / f"{s.model}.pt"
    save_weights(model, s.model, weights_path, **meta)
    (s.out_dir / f"{s.model}.json").write_text(
        json.dumps({"model": s.model, **meta, "history": state["history"]}, indent=2) + "\n")
    report_dir = s.reports_dir / s.model
    report.write_all(report_dir, state["history"], sets.x_test, sets.y_test, preds)
    if not interrupted:
        resume_path(s).unlink(missing_ok=True)
    print(f"wrote {weights_path}, its history .json and plots in {report_dir}/")
    loop.events("done", test_acc=test_acc, pen_unseen_acc=pen_unseen, weights=str(weights_path),
                interrupted=interrupted)
    return {**meta, "interrupted": interrupted}


def record(s: Settings, state: dict, best: dict, sets: Sets, device, **results) -> dict:
    """What a checkpoint records of its run: results, recipe and versions."""
    return {"epochs": state["epoch"], "best_epoch": state["best_epoch"],
            "val_acc": best.get("val_acc"), "pen_val_acc": best.get("pen_val_acc"), **results,
            "train_time_s": state["train_time"], "images_seen": state["clock"]["images"],
            "train_loop_s": state["clock"]["seconds"], "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "recipe": s.recipe, "data": s.data, "pen_share": s.pen_share if sets.writers else 0.0,
            "pen_renders": s.pen_renders if sets.writers else None,
            "fold": s.fold, "pen_writers": sets.writers, "device": str(device),
            "augment_share": s.augment_share, "label_smoothing": s.label_smoothing,
            "lr_schedule": s.lr_schedule, "ema": s.ema, "seed": s.seed, "batch_size": s.batch_size,
            "lr": s.lr, "normalize": [data.MEAN, data.STD],
            "versions": {"torch": str(torch.__version__), "torchvision": version("torchvision"),
                         "python": platform.python_version()}}


def mid_epoch_validation(events: Events, sets: Sets, run_images: int, epoch_images: int, done: int):
    """For the page's curves: a watcher that validates at CURVE_CHECKS of the run as "val"
    events, so that even one epoch draws a curve with its early climb."""
    marks = [round(run_images * share) for share in CURVE_CHECKS]
    marks = [m for m in marks if m > done and m % epoch_images]  # a resumed run: what is left

    def watch(images, seconds, model):
        if marks and images >= marks[0]:
            marks.pop(0)
            events("val", images=images, **validate(model, sets))
    return watch


def validate(model, sets: Sets) -> dict:
    """val_loss and val_acc on the MNIST validation images, pen_val_acc on held-out writers'
    digits: each only when there are some."""
    row = {}
    if len(sets.x_val):
        row["val_loss"], row["val_acc"], _ = evaluate(model, sets.x_val, sets.y_val)
    if sets.pen_val:
        row["pen_val_acc"] = pen_accuracy(model, sets.pen_val)
    return row


def pen_accuracy(model, pen: pendigits.PenSet) -> float:
    """One forward pass per preprocessed pen digit; a render preprocess read as blank counts wrong."""
    device = next(model.parameters()).device
    blank = pen.images.isnan().flatten(1).any(1)
    _, _, preds = evaluate(model, torch.nan_to_num(pen.images).to(device), pen.labels.to(device))
    return ((preds.cpu() == pen.labels) & ~blank).float().mean().item()


def fold_weights(name: str, fold: int, source, train_argv=(), retrain: bool = True) -> Path:
    """`name` trained the default way (`train_argv`: flags over it) with writer group `fold`
    held out, under runs/folds/ in digitpad's home; trained when `retrain` or when missing.
    Returns the checkpoint's path."""
    out = home.runs_dir() / "folds" / name / f"fold{fold}"
    if retrain or not (out / f"{name}.pt").is_file():
        print(f"fold {fold}: training {name} with writer group {fold} held out", flush=True)
        run(replace(parse_args(list(train_argv)), model=name, fold=fold, pendigits=Path(source),
                    out=out, report_dir=out / "reports"))
    return out / f"{name}.pt"


def run(s: Settings) -> None:
    """Fit, with a known failure as one line; exits 130 when interrupted, after saving the best
    epoch so far."""
    try:
        meta = fit(s)
    except (FileNotFoundError, WeightsError) as e:
        raise SystemExit(f"error: {e}")
    if meta["interrupted"]:
        raise SystemExit(130)


def main(argv=None):
    """scripts/train.py."""
    run(parse_args(argv))


if __name__ == "__main__":  # python -m digitpad.train: how the page's Train tab starts a run
    main()
