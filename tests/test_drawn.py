"""Drawn-digit accuracy, only ever on writers the model did not train on."""
import subprocess
import sys

import pytest
import torch

from digitpad import drawn, pendigits
from digitpad.weights import load

SAMPLE = 500  # drawings per variant: enough that a 1-point drop shows
BAR = 0.98    # fold 0 read all 2,499 of these writers' digits at 98.96-99.20% (scripts/eval_drawn.py --folds)


def test_the_fold_model_never_saw_the_writers_it_is_read_on(fold_loaded, drawings):
    writers = {d.writer for d in drawings}
    unseen = drawn.unseen_writers(fold_loaded, writers)
    assert unseen == sorted(pendigits.fold_writers(writers, 0))
    assert not set(unseen) & set(fold_loaded.meta["pen_writers"])
    assert set(unseen) | set(fold_loaded.meta["pen_writers"]) == writers


@pytest.mark.parametrize("variant", pendigits.VARIANTS)
def test_unseen_writers_pen_digits_are_read(fold_loaded, fold_model, drawings, variant):
    unseen = set(drawn.unseen_writers(fold_loaded, {d.writer for d in drawings}))
    picks = drawn.sample([d for d in drawings if d.writer in unseen], SAMPLE, seed=7)
    labels = torch.tensor([d.label for d in picks])
    preds = drawn.predict(fold_model, pendigits.inputs(picks, variant, seed=7))
    assert (preds == drawn.BLANK).sum() <= 1
    assert drawn.accuracy(labels, preds) >= BAR


def test_a_model_is_never_scored_on_its_own_writers(drawings, pendigits_path):
    shipped = load("digitcnn")
    assert drawn.unseen_writers(shipped, {d.writer for d in drawings}) == []  # it trained on all 30
    out = subprocess.run([sys.executable, "scripts/eval_drawn.py", "--count", "50", "--variants", "white",
                          "--pendigits", str(pendigits_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode != 0 and "use --folds" in out.stderr and "Traceback" not in out.stderr
