"""Build the rehearsal set that digitpad.teach mixes into every step, so that a model taught one
person's style keeps reading everyone else's.

Draws the same number of images of each digit from MNIST's training set and from the pen digits
of the writers the shipped digitcnn trained on, and saves them as uint8 (a few MB).
"""
import argparse
from pathlib import Path

from tqdm import tqdm

from digitpad import data, pendigits, teaching


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help=data.DATA_DIR_HELP)
    p.add_argument("--pendigits", default=None,
                   help="UCI pendigits-orig.tra (default $DIGITPAD_PENDIGITS, else downloaded)")
    p.add_argument("--per-digit", type=int, default=teaching.REHEARSAL_PER_DIGIT,
                   help=f"images of each digit from each source (default {teaching.REHEARSAL_PER_DIGIT})")
    p.add_argument("--out", type=Path, default=teaching.REHEARSAL_PATH,
                   help=f"where to write it (default {teaching.REHEARSAL_PATH}, the shipped copy)")
    args = p.parse_args(argv)
    try:
        mnist = data.load_mnist(args.data_dir or data.default_data_dir(), train=True)
        source = pendigits.locate(args.pendigits, download=True)
    except FileNotFoundError as e:
        raise SystemExit(f"error: {e}")
    pen = pendigits.cached(source, "white", progress=lambda it: tqdm(
        it, desc="rendering pen digits (once)", leave=False, disable=None)).drawn()
    images, labels = teaching.rehearsal_set(mnist, (pen.images, pen.labels), args.per_digit)
    teaching.save_rehearsal(images, labels, args.out, per_digit=args.per_digit,
                         pen_writers=sorted(set(pen.writers.tolist())))
    print(f"wrote {len(labels)} images to {args.out}")


if __name__ == "__main__":
    main()
