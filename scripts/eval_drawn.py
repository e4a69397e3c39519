"""How well digitpad reads digits people drew: python scripts/eval_drawn.py --help

Renders each pen-drawn digit from ../shared/pendigits as the Sketchpad would deliver it
(800x800, round brush 2-8% of the canvas, random size and place), then runs preprocess and
classify, for each canvas variant. Writes a confusion matrix and a sheet of the worst misses.
"""
import argparse
from pathlib import Path

import torch
from tqdm import tqdm

from digitpad import drawn, pendigits, report
from digitpad.data import denormalize
from digitpad.models import DEFAULT_MODEL, MODELS
from digitpad.weights import load_model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, choices=list(MODELS))
    p.add_argument("--weights", default=None, help="checkpoint to evaluate (default: shipped)")
    p.add_argument("--count", type=int, default=None, help="evaluate a seeded sample (default: all 7,494)")
    p.add_argument("--variants", nargs="+", default=list(pendigits.VARIANTS), choices=pendigits.VARIANTS)
    p.add_argument("--seed", type=int, default=0, help="seed for the sample and the canvases")
    p.add_argument("--pendigits", default=None, help="UNIPEN file (default $DIGITPAD_PENDIGITS or "
                                                     "../shared/pendigits/pendigits-orig.tra)")
    p.add_argument("--report-dir", type=Path, default=Path("reports/drawn"))
    p.add_argument("--compare", action="store_true",
                   help="also read each canvas shrunk whole to 28x28, and with one forward pass "
                        "instead of classify's rotations")
    args = p.parse_args(argv)

    model = load_model(args.model, args.weights)
    drawings = drawn.sample(pendigits.load(args.pendigits), args.count, args.seed)
    labels = torch.tensor([d.label for d in drawings])
    args.report_dir.mkdir(parents=True, exist_ok=True)
    print(f"{args.model}: {len(drawings)} pen-drawn digits by {len({d.writer for d in drawings})} writers")
    for variant in args.variants:
        x = drawn.inputs(drawings, variant, args.seed,  # the bar is off when output is piped
                         progress=lambda it: tqdm(it, desc=variant, leave=False, disable=None))
        probs = drawn.probabilities(model, x)
        preds = drawn.digits(probs)
        acc = drawn.accuracy(labels, preds)
        blank = int((preds == drawn.BLANK).sum())
        print(f"{variant:12s} accuracy {acc:.2%}  ({int((preds != labels).sum())} wrong, {blank} read as blank)")
        if args.compare:
            shrunk = drawn.single_pass(model, drawn.shrunk_inputs(drawings, variant, args.seed))
            single = drawn.single_pass(model, x)
            print(f"{'':12s} canvas shrunk to 28x28: {drawn.accuracy(labels, shrunk):.2%}; "
                  f"MNIST recipe, one pass: {drawn.accuracy(labels, single):.2%}")
        shown = preds.clamp(min=0)
        report.plot_confusion(report.confusion_matrix(labels, shown), args.report_dir / f"confusion-{variant}.png",
                              f"{args.model} on pen-drawn digits ({variant}): {acc:.2%}")
        # Worst misses: the wrong answers given with the most confidence.
        order = torch.argsort(probs.max(1).values, descending=True)
        worst = order[(preds[order] != labels[order]) & (preds[order] != drawn.BLANK)]
        images = denormalize(torch.nan_to_num(x[worst])).clamp(0, 1)
        report.plot_misses(images, labels[worst], preds[worst], args.report_dir / f"misses-{variant}.png")
    print(f"wrote confusion matrices and misses to {args.report_dir}/")


if __name__ == "__main__":
    main()
