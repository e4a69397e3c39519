import pytest
import torch

from digitpad import drawn, pendigits

SAMPLE = 300  # drawings per variant: enough to see a 2-point drop, quick enough for CI
BAR = 0.95


@pytest.mark.parametrize("variant", pendigits.VARIANTS)
def test_pen_drawn_digits_are_read(model, drawings, variant):
    picks = drawn.sample(drawings, SAMPLE, seed=7)
    labels = torch.tensor([d.label for d in picks])
    preds = drawn.predict(model, drawn.inputs(picks, variant, seed=7))
    assert (preds == drawn.BLANK).sum() <= 1
    assert drawn.accuracy(labels, preds) >= BAR
