"""How well digitpad reads digits people drew, on writers the model never trained on.

Renders each pen-drawn digit as an image would reach the app (round brush, random size and
place, on each canvas variant), or sends its strokes as the page's pad does (variant 'pad'),
then runs preprocess and classify. Only writers the checkpoint
did not train on are read (it records its writers); for the shipped weights, which trained on
all thirty, use --folds: train one model per writer group on the other twenty, read the held-out
ten, and report each fold, the mean and the worst writer. Arguments after -- go to
scripts/train.py for every fold (for example -- --epochs 15 --patience 15).
Writes confusion matrices and a sheet of the worst misses.
"""
import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from digitpad import drawn, home, pendigits, report, train
from digitpad.data import denormalize, normalize
from digitpad.models import MODELS
from digitpad.names import DEFAULT_MODEL
from digitpad.weights import Loaded, WeightsError, load


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, choices=list(MODELS))
    p.add_argument("--weights", default=None, help="checkpoint to evaluate (default: shipped)")
    p.add_argument("--folds", action="store_true",
                   help=f"train and read {pendigits.FOLDS} writer-disjoint folds instead of one checkpoint")
    p.add_argument("--reuse", action="store_true",
                   help="with --folds: read the fold models already under runs/folds/ in digitpad's "
                        "home, training only those missing")
    p.add_argument("--count", type=int, default=None,
                   help="read a seeded sample of the unseen writers' digits (default: all)")
    p.add_argument("--variants", nargs="+", default=list(pendigits.VARIANTS),
                   choices=[*pendigits.VARIANTS, pendigits.PAD],
                   help="canvas kinds to read (default: the three canvases); 'pad' sends each drawing's "
                        "strokes as the page's pad does")
    p.add_argument("--seed", type=int, default=0, help="seed for the sample and the canvases")
    p.add_argument("--pendigits", type=Path, default=None,
                   help="UCI pendigits-orig.tra (default $DIGITPAD_PENDIGITS, else a copy in digitpad's "
                        "home, downloaded when missing)")
    p.add_argument("--report-dir", type=Path, default=None,
                   help="where the plots go (default: reports/drawn in digitpad's home)")
    p.add_argument("--compare", action="store_true",
                   help="also read each canvas shrunk whole to 28x28, and with one forward pass "
                        "instead of classify's rotations")
    argv, train_argv = list(sys.argv[1:] if argv is None else argv), []
    if "--" in argv:
        argv, train_argv = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    args = p.parse_args(argv)
    if args.compare and pendigits.PAD in args.variants:
        p.error("--compare shrinks whole canvases; the 'pad' variant has none: leave one of them out")
    if train_argv and not args.folds:
        p.error("arguments after -- are for training the folds: add --folds")
    if args.reuse and not args.folds:
        p.error("--reuse reads the fold models of --folds: add --folds")
    args.train_argv = train_argv
    args.report_dir = args.report_dir or home.home() / "reports" / "drawn"
    return args


def read(loaded: Loaded, name, source, writers, args) -> dict:
    """Read the unseen writers' digits on every variant; returns {variant: {writer: accuracy}}."""
    model, unseen = loaded.module, drawn.unseen_writers(loaded, writers)
    if not unseen:
        raise SystemExit(f"error: {name} trained on every writer in {source}, so none is left "
                         f"to read; use --folds")
    args.report_dir.mkdir(parents=True, exist_ok=True)
    if args.compare:  # the raw strokes, in the cached tensors' order, to shrink whole canvases
        drawings = [d for d in pendigits.load(source) if d.writer in set(unseen)]
    results = {}
    for variant in args.variants:
        pen = pendigits.cached(source, variant, seed=args.seed, progress=lambda it: tqdm(
            it, desc=f"rendering {variant} canvases (once)", leave=False, disable=None)).only(unseen)
        keep = torch.tensor(drawn.sample_indices(len(pen.labels), args.count, args.seed))
        x, labels, who = normalize(pen.images[keep]), pen.labels[keep], pen.writers[keep]
        probs = drawn.probabilities(model, x)
        preds = drawn.digits(probs)
        acc = drawn.accuracy(labels, preds)
        results[variant] = by_writer = drawn.per_writer(labels, preds, who)
        worst = min(by_writer, key=by_writer.get)
        blank = int((preds == drawn.BLANK).sum())
        print(f"  {variant:12s} accuracy {acc:.2%} on {len(labels)} digits by {len(by_writer)} "
              f"unseen writers ({int((preds != labels).sum())} wrong, {blank} read as blank); "
              f"worst writer {worst}: {by_writer[worst]:.2%}")
        if args.compare:
            picked = [drawings[i] for i in keep.tolist()]
            shrunk = drawn.single_pass(model, drawn.shrunk_inputs(picked, variant, args.seed))
            single = drawn.single_pass(model, x)
            print(f"  {'':12s} canvas shrunk to 28x28: {drawn.accuracy(labels, shrunk):.2%}; "
                  f"MNIST recipe, one pass: {drawn.accuracy(labels, single):.2%}")
        report.plot_confusion(report.confusion_matrix(labels, preds.clamp(min=0)),
                              args.report_dir / f"confusion-{name}-{variant}.png",
                              f"{name} on unseen writers' pen digits ({variant}): {acc:.2%}")
        # Worst misses: the wrong answers given with the most confidence.
        order = torch.argsort(probs.max(1).values, descending=True)
        worst = order[(preds[order] != labels[order]) & (preds[order] != drawn.BLANK)]
        images = denormalize(torch.nan_to_num(x[worst])).clamp(0, 1)
        report.plot_misses(images, labels[worst], preds[worst],
                           args.report_dir / f"misses-{name}-{variant}.png")
    return results


def folds(source, writers, args) -> None:
    """Train each fold's model the shipped way, read its held-out writers, summarize."""
    results = []
    for k in range(pendigits.FOLDS):
        print(f"fold {k}: holding out writers {sorted(pendigits.fold_writers(writers, k))}")
        loaded = load(args.model, train.fold_weights(args.model, k, source, args.train_argv,
                                                     retrain=not args.reuse))
        results.append(read(loaded, f"{args.model}-fold{k}", source, writers, args))
    print(f"\n{args.model}, {pendigits.FOLDS} folds, writers never seen in training:")
    print("| canvas | " + " | ".join(f"fold {k}" for k in range(pendigits.FOLDS)) +
          " | mean of folds | worst fold | worst writer |")
    print("|---" * (pendigits.FOLDS + 4) + "|")
    for variant in args.variants:
        fold_means = [sum(r[variant].values()) / len(r[variant]) for r in results]  # mean of writers
        every = {w: a for r in results for w, a in r[variant].items()}
        worst = min(every, key=every.get)
        print(f"| {variant} | " + " | ".join(f"{m:.2%}" for m in fold_means) +
              f" | {sum(fold_means) / len(fold_means):.2%} | {min(fold_means):.2%} | "
              f"{every[worst]:.2%} (writer {worst}) |")


def main(argv=None):
    args = parse_args(argv)
    try:
        source = pendigits.locate(args.pendigits, download=True)
        writers = sorted({d.writer for d in pendigits.load(source)})
        if args.folds:
            folds(source, writers, args)
        else:
            loaded = load(args.model, args.weights)
            print(f"{args.model}: trained on pen writers {loaded.meta.get('pen_writers') or 'none'}")
            read(loaded, args.model, source, writers, args)
    except (FileNotFoundError, WeightsError) as e:
        raise SystemExit(f"error: {e}")
    print(f"wrote confusion matrices and misses to {args.report_dir}/")


if __name__ == "__main__":
    main()
