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
from importlib.metadata import version
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from . import data, home, pendigits, report
from .events import Events
from .models import MODELS, build_model
from .names import DEFAULT_MODEL
from .steps import evaluate, train_step
from .weights import WeightsError, read_checkpoint, save_atomic, save_weights

PEN_RENDERS = 3  # canvases per pen digit, each with its own brush, size and place


# Each recipe is a set of defaults; any flag given on the command line overrides it.
RECIPES = {
    # Chosen by a sweep (docs/benchmarks.md): one epoch reaches 99% MNIST test, 15 the shipped
    # quality. The rate warms up over the first 5% of steps, then falls linearly to zero.
    "fast": dict(data="mnist+pen", epochs=15, batch_size=64, lr=6.5e-3, lr_schedule="linear",
                 label_smoothing=0.1, augment_share=0.5, ema=0.999, precision="bf16", patience=None),
    # The seeds' own: S0-S2's Adam 1e-3, batch 64, plain MNIST, S0's 20 epochs with patience 3.
    "seeds": dict(data="mnist", epochs=20, batch_size=64, lr=1e-3, lr_schedule="constant",
                  label_smoothing=0.0, augment_share=0.0, ema=0.0, precision="fp32", patience=3),
}
WARMUP = 0.05  # share of all steps over which the linear schedule's rate rises to --lr
# Shares of a run at which a run with --events also validates, for the page's curves: where
# a short run climbs most. Epoch ends are validated anyway.
CURVE_CHECKS = (1 / 8, 1 / 4, 1 / 2)


def parse_args(argv=None):
    def recipe_line(name):
        return ", ".join(f"{k.replace('_', '-')} {'off' if v is None else v}" for k, v in RECIPES[name].items())

    p = argparse.ArgumentParser(
        prog="scripts/train.py",
        description="Train a digitpad model on MNIST plus pen-drawn digits and write <out>/<model>.pt, "
                    "its history (.json) and report plots. Each epoch is one pass over MNIST's "
                    "training images.",
        epilog=f"recipes: fast: {recipe_line('fast')}; seeds: {recipe_line('seeds')}")
    p.add_argument("--recipe", default="fast", choices=list(RECIPES),
                   help="fast (default): digitpad's, 99%% MNIST test in one epoch; seeds: the "
                        "write-ups' own. The flags below override single settings of it")
    p.add_argument("--model", default=DEFAULT_MODEL, choices=list(MODELS), help="zoo model to train")
    p.add_argument("--data", choices=["mnist+pen", "mnist"],
                   help="mnist+pen: MNIST with pen-drawn digits rendered as pad canvases mixed into "
                        "every batch; mnist: MNIST alone, as the seeds trained")
    p.add_argument("--pen-share", type=float, default=0.25,
                   help="share of each batch that is pen-drawn digits (default 0.25)")
    p.add_argument("--fold", type=int, default=None, choices=range(pendigits.FOLDS),
                   help="hold out pen writer group K (0-2): train on the other writers, validate on "
                        "these; without it training uses all writers")
    p.add_argument("--pendigits", type=Path, default=None,
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
                        "best-scoring epoch is kept either way)")
    p.add_argument("--seed", type=int, default=0, help="seed for split, init, batches, augmentation")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto picks cuda when available")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for training (default: torch's choice, one per core)")
    p.add_argument("--data-dir", type=Path, default=None, help=data.DATA_DIR_HELP)
    p.add_argument("--out", type=Path, default=None,
                   help="folder for <model>.pt and <model>.json (default: runs/ in digitpad's home, "
                        "$DIGITPAD_HOME; the shipped weights are replaced only by naming weights/)")
    p.add_argument("--report-dir", type=Path, default=None,
                   help="folder for the plots, one subfolder per model (default: reports/ in "
                        "digitpad's home)")
    p.add_argument("--val-size", type=int, default=data.VAL_SIZE,
                   help=f"validation images carved from the training set (default {data.VAL_SIZE}; "
                        f"0: train on all 60,000 and keep the last epoch)")
    p.add_argument("--limit", type=int, default=None,
                   help="train on only the first N MNIST training images (quick experiments, smoke tests)")
    p.add_argument("--events", type=Path, default=None,
                   help="also append progress as JSON lines to this file, and validate at 1/8, 1/4 "
                        "and 1/2 of the run for its curves (the page's Train tab reads it)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run saved in <out>/<model>.resume.pt")
    args = p.parse_args(argv)
    for key, value in RECIPES[args.recipe].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.data == "mnist" and args.fold is not None:
        p.error("--fold holds out pen writers: it needs --data mnist+pen")
    if not 0 <= args.pen_share < 1:
        p.error("--pen-share must be at least 0 and below 1")
    if not 0 <= args.augment_share <= 1:
        p.error("--augment-share must be from 0 to 1")
    args.out = args.out or home.runs_dir()
    args.report_dir = args.report_dir or home.home() / "reports"
    return args


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


def batch_plan(n_images: int, args, pen) -> tuple[int, int]:
    """Pen digits in each batch, and batches in an epoch over `n_images` MNIST images."""
    n_pen = round(args.batch_size * args.pen_share) if pen else 0
    return n_pen, math.ceil(n_images / (args.batch_size - n_pen))


def train_epoch(model, opt, sched, ema, images, labels, pen, args, epoch, device, clock, watchers=()):
    """One pass over MNIST in a seeded order, pen digits mixed in; returns mean loss and accuracy.

    `clock` carries the run's images seen and seconds spent, for the events' rate and time left.
    Each of `watchers`, `watch(images, seconds, model)`, is called after every step with those
    and the model that would be kept; the clock stops while they run (bench.py times the run to
    99% with one, the page's mid-epoch validation is another)."""
    model.train()
    torch.manual_seed(args.seed * 1000 + epoch)  # dropout: same stream on resume
    gen = torch.Generator(device=device).manual_seed(args.seed * 1000 + epoch)
    total_loss, correct, seen = 0.0, 0, 0
    n_pen, steps = batch_plan(len(images), args, pen)
    # The page's curves get about 40 points an epoch, its filters 10 a run at most: a few
    # hundred batches apart in a full run, closer in a short one.
    report_every = max(1, steps // 40)
    filters_every = max(1, min(200, steps * args.epochs // 10))
    bar = tqdm(data.mixed_batches(images, labels, pen, args.batch_size, n_pen, gen),
               desc=f"epoch {epoch}", total=steps, leave=False, unit="batch", dynamic_ncols=True,
               disable=None)  # None: off when not a terminal
    start, window = time.perf_counter(), [0.0, 0, 0]  # loss, right, images since the last report
    for step, (x, y) in enumerate(bar):
        if args.augment_share:
            warp = torch.rand(len(y), generator=gen, device=device) < args.augment_share
            x[warp] = data.augment(x[warp], y[warp], gen)
        logits, loss = train_step(model, opt, data.normalize(x), y, args.label_smoothing, sched,
                                  args.precision == "bf16")
        if ema:
            ema.update_parameters(model)
        right = (logits.argmax(1) == y).sum().item()
        total_loss += loss.item() * len(y)
        correct += right
        seen += len(y)
        window = [window[0] + loss.item() * len(y), window[1] + right, window[2] + len(y)]
        if step % 20 == 0:
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
        done = (epoch - 1) * steps + step + 1
        if step % report_every == report_every - 1 or step == steps - 1:
            seconds = clock["seconds"] + time.perf_counter() - start
            rate = (clock["images"] + seen) / seconds
            args.events("step", epoch=epoch, step=done, steps=steps * args.epochs,
                        images=clock["images"] + seen,
                        loss=window[0] / window[2], acc=window[1] / window[2], rate=rate,
                        left_s=(steps * args.epochs - done) * args.batch_size / rate)
            window = [0.0, 0, 0]
        if done % filters_every == 0:
            args.events("filters", images=clock["images"] + seen,
                        weights=conv1_kernels(model))
        if watchers:
            paused = time.perf_counter()
            for watch in watchers:
                watch(clock["images"] + seen, clock["seconds"] + paused - start, ema.module if ema else model)
            model.train()
            start += time.perf_counter() - paused
    clock["images"] += seen
    clock["seconds"] += time.perf_counter() - start
    return total_loss / seen, correct / seen


def announced(items: list, events, doing: str, every: int = 250):
    """The items, counted on a tqdm bar in the terminal and as 'prepare' events for the page."""
    for i, item in enumerate(tqdm(items, desc=doing, leave=False, disable=None)):
        if i % every == 0:
            events("prepare", doing=doing, done=i, total=len(items))
        yield item


def pen_digits(args):
    """The pen digits to train on and the held-out writers' digits to validate on (or None)."""
    source = pendigits.locate(args.pendigits, download=True)
    passes = itertools.count(1)
    full = pendigits.cached(source, "white", PEN_RENDERS, progress=lambda it: announced(
        it, args.events, f"rendering pen digits once, pass {next(passes)} of {PEN_RENDERS}"))
    writers = set(full.writers.tolist())
    held = pendigits.fold_writers(writers, args.fold) if args.fold is not None else set()
    return full.only(writers - held).drawn(), full.only(held) if held else None


def all_pen_digits(args) -> pendigits.PenSet | None:
    """Every writer's pen digits, rendered once, when a copy is on this machine (else None)."""
    try:
        return pendigits.cached(pendigits.locate(args.pendigits), "white")
    except FileNotFoundError:
        return None


def end_with_parent() -> None:
    """A page's run stops as with Ctrl-C (its best finished epoch kept) once the server that
    started it is gone, killed or crashed: no run is left behind training for nobody."""
    parent = os.getppid()

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


def fit(args, watch=None) -> dict:
    """Train with early stopping on the validation score; save weights, history and plots.

    The score is MNIST validation accuracy, averaged with held-out pen writers' accuracy when
    a fold holds some out, so neither is given up for the other; with nothing held out the
    last epoch is kept. `watch`: a watcher, see train_epoch.
    """
    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.precision == "bf16" and not native_bf16(device):
        print("this processor has no native bfloat16: training in float32", file=sys.stderr)
        args.precision = "fp32"
    args.events = Events(args.events)
    if args.events.path:
        end_with_parent()
    root = args.data_dir or data.default_data_dir()
    args.events("prepare", doing="loading MNIST")
    images, labels = data.load_mnist(root, train=True)
    (x_tr, y_tr), (x_val, y_val) = data.split(images, labels, args.val_size, args.seed)
    if args.limit:
        x_tr, y_tr = x_tr[:args.limit], y_tr[:args.limit]
    x_test, y_test = data.load_mnist(root, train=False)
    if args.data == "mnist+pen":
        args.events("prepare", doing="loading the pen digits")
    pen, pen_val = pen_digits(args) if args.data == "mnist+pen" else (None, None)
    x_tr, y_tr, x_val, y_val = (t.to(device) for t in (x_tr, y_tr, x_val, y_val))
    writers = sorted(set(pen.writers.tolist())) if pen else []  # recorded in the checkpoint
    pen_batches = (pen.images.to(device), pen.labels.to(device)) if pen else None

    torch.manual_seed(args.seed)
    model, opt = build_trainable(args.model, args.lr, device)
    # An exponential average of recent weights: steadier from epoch to epoch than the last
    # step's, which a run that keeps its last epoch (--val-size 0) relies on.
    ema = AveragedModel(model, multi_avg_fn=warmed_ema(args.ema), use_buffers=True) if args.ema else None
    kept = ema.module if ema else model  # what is validated and saved
    n_pen, steps = batch_plan(len(x_tr), args, pen)
    sched = schedule(opt, args.lr_schedule, steps * args.epochs)
    resume_path = args.out / f"{args.model}.resume.pt"
    state = {"epoch": 0, "best_score": -1.0, "best_epoch": 0, "best_state": None,
             "history": [], "train_time": 0.0, "clock": {"images": 0, "seconds": 0.0}}
    if args.resume:
        ckpt = read_checkpoint(resume_path, "Nothing to resume: start without --resume.")
        model.load_state_dict(ckpt["state_dict"])
        if ema:
            ema.load_state_dict(ckpt["ema"])
        opt.load_state_dict(ckpt["optimizer"])
        if sched:
            sched.load_state_dict(ckpt["scheduler"])
        state = ckpt["state"]
        print(f"resuming {args.model} after epoch {state['epoch']}")

    interrupted = False
    pen_note = f" + {len(pen.labels)} pen digits by {len(writers)} writers" if pen else ""
    held_note = f", and {len(pen_val.labels)} pen digits of held-out writers" if pen_val else ""
    print(f"training {args.model} on {len(x_tr)} MNIST images{pen_note} ({device}), "
          f"validating on {len(x_val)} MNIST images{held_note}")
    watchers, untrained = [watch] if watch else [], {}
    if args.events.path:  # the page's validation curves: from the untrained model on, a few an epoch
        untrained = {} if state["epoch"] else validate(kept, x_val, y_val, pen_val)
        epoch_images = len(x_tr) + n_pen * steps
        watchers.append(mid_epoch_validation(args, epoch_images * args.epochs, epoch_images,
                                             state["clock"]["images"], x_val, y_val, pen_val))
    args.events("start", model=args.model, epochs=args.epochs, images_per_epoch=len(x_tr),
                pen=bool(pen), weights=conv1_kernels(model), images=state["clock"]["images"],
                **untrained)
    try:
        while state["epoch"] < args.epochs:
            epoch = state["epoch"] + 1
            start = time.perf_counter()
            tr_loss, tr_acc = train_epoch(model, opt, sched, ema, x_tr, y_tr, pen_batches, args, epoch,
                                          device, state["clock"], watchers)
            row = {"epoch": epoch, "train_loss": tr_loss, "train_acc": tr_acc,
                   **validate(kept, x_val, y_val, pen_val)}
            scores = [row[key] for key in ("val_acc", "pen_val_acc") if key in row]
            # Nothing held out (--val-size 0, no --fold): the last epoch is kept.
            score = sum(scores) / len(scores) if scores else epoch
            row["seconds"] = seconds = time.perf_counter() - start
            state["train_time"] += seconds
            state["history"].append(row)
            args.events("epoch", **row, images=state["clock"]["images"])
            better = score > state["best_score"]
            if better:
                state.update(best_score=score, best_epoch=epoch,
                             best_state={k: v.detach().cpu().clone() for k, v in kept.state_dict().items()})
            state["epoch"] = epoch
            val = f"  val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}" if len(x_val) else ""
            held = f"  held-out writers {row['pen_val_acc']:.4f}" if pen_val else ""
            with interrupts_held():
                save_atomic({"model": args.model, "state_dict": model.state_dict(),
                             "ema": ema.state_dict() if ema else {},
                             "optimizer": opt.state_dict(), "state": state,
                             "scheduler": sched.state_dict() if sched else {}}, resume_path)
            print(f"epoch {epoch:2d}  train loss {tr_loss:.4f} acc {tr_acc:.4f}{val}{held}  "
                  f"{seconds:5.1f}s" + ("  *" if better else ""))
            if args.patience and epoch - state["best_epoch"] >= args.patience:
                print(f"early stop: no better validation score since epoch {state['best_epoch']}")
                break
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ninterrupted after epoch {state['epoch']}: keeping the best so far; "
              f"continue with --resume", file=sys.stderr)
    if state["best_state"] is None:
        raise SystemExit("no epoch finished, so no weights were written")

    model.load_state_dict(state["best_state"])
    model.cpu()
    test_loss, test_acc, preds = evaluate(model, x_test, y_test)
    best = state["history"][state["best_epoch"] - 1]
    # Pen digits by writers this run never trained on: the held-out fold, or all of them.
    pen_unseen = best.get("pen_val_acc")
    if args.data == "mnist" and (every := all_pen_digits(args)):
        pen_unseen = pen_accuracy(model, every)
    unseen_note = f", pen digits of unseen writers {pen_unseen:.4f}" if pen_unseen is not None else ""
    print(f"best epoch {state['best_epoch']}: val acc {best.get('val_acc', float('nan')):.4f}, "
          f"test acc {test_acc:.4f} (loss {test_loss:.4f}){unseen_note}, "
          f"{state['train_time']:.0f}s training")
    meta = {"epochs": state["epoch"], "best_epoch": state["best_epoch"],
            "val_acc": best.get("val_acc"), "pen_val_acc": best.get("pen_val_acc"),
            "test_acc": test_acc, "pen_unseen_acc": pen_unseen, "train_time_s": state["train_time"],
            "images_seen": state["clock"]["images"], "train_loop_s": state["clock"]["seconds"],
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "recipe": args.recipe,
            "data": args.data, "pen_share": args.pen_share if pen else 0.0, "fold": args.fold,
            "pen_writers": writers,
            "device": str(device), "augment_share": args.augment_share,
            "label_smoothing": args.label_smoothing, "lr_schedule": args.lr_schedule,
            "precision": args.precision,
            "ema": args.ema, "seed": args.seed,
            "batch_size": args.batch_size, "lr": args.lr, "normalize": [data.MEAN, data.STD],
            "versions": {"torch": str(torch.__version__), "torchvision": version("torchvision"),
                         "python": platform.python_version()}}
    weights_path = args.out / f"{args.model}.pt"
    save_weights(model, args.model, weights_path, **meta)
    (args.out / f"{args.model}.json").write_text(
        json.dumps({"model": args.model, **meta, "history": state["history"]}, indent=2) + "\n")
    report_dir = args.report_dir / args.model
    report.write_all(report_dir, state["history"], x_test, y_test, preds)
    if not interrupted:
        resume_path.unlink(missing_ok=True)
    print(f"wrote {weights_path}, its history .json and plots in {report_dir}/")
    args.events("done", test_acc=test_acc, pen_unseen_acc=pen_unseen, weights=str(weights_path),
                interrupted=interrupted)
    return {**meta, "interrupted": interrupted}


def mid_epoch_validation(args, run_images: int, epoch_images: int, done: int, x_val, y_val, pen_val):
    """For the page's curves: a watcher that validates at CURVE_CHECKS of the run as "val"
    events, so that even one epoch draws a curve with its early climb."""
    marks = [round(run_images * share) for share in CURVE_CHECKS]
    marks = [m for m in marks if m > done and m % epoch_images]  # a resumed run: what is left

    def watch(images, seconds, model):
        if marks and images >= marks[0]:
            marks.pop(0)
            args.events("val", images=images, **validate(model, x_val, y_val, pen_val))
    return watch


def validate(model, x_val, y_val, pen_val) -> dict:
    """val_loss and val_acc on the MNIST validation images, pen_val_acc on held-out writers'
    digits: each only when there are some."""
    row = {}
    if len(x_val):
        row["val_loss"], row["val_acc"], _ = evaluate(model, x_val, y_val)
    if pen_val:
        row["pen_val_acc"] = pen_accuracy(model, pen_val)
    return row


def pen_accuracy(model, pen: pendigits.PenSet) -> float:
    """One forward pass per preprocessed pen digit; a render preprocess read as blank counts wrong."""
    device = next(model.parameters()).device
    blank = pen.images.isnan().flatten(1).any(1)
    _, _, preds = evaluate(model, torch.nan_to_num(pen.images).to(device), pen.labels.to(device))
    return ((preds.cpu() == pen.labels) & ~blank).float().mean().item()


def fold_weights(name: str, fold: int, source, train_argv=(), retrain: bool = True) -> Path:
    """`name` trained the default way with writer group `fold` held out, under runs/folds/ in
    digitpad's home; trained when `retrain` or when missing. Returns the checkpoint's path."""
    out = home.runs_dir() / "folds" / name / f"fold{fold}"
    if retrain or not (out / f"{name}.pt").is_file():
        print(f"fold {fold}: training {name} with writer group {fold} held out", flush=True)
        main(["--model", name, "--fold", str(fold), "--pendigits", str(source), "--out", str(out),
              "--report-dir", str(out / "reports"), *train_argv])
    return out / f"{name}.pt"


def main(argv=None):
    """scripts/train.py; exits 130 when interrupted, after saving the best epoch so far."""
    args = parse_args(argv)
    try:
        meta = fit(args)
    except (FileNotFoundError, WeightsError) as e:
        raise SystemExit(f"error: {e}")
    if meta["interrupted"]:
        raise SystemExit(130)


if __name__ == "__main__":  # python -m digitpad.train: how the page's Train tab starts a run
    main()
