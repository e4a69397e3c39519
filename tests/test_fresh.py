"""Pen digits drawn anew every epoch: legible, different each epoch, the same for the same epoch."""
import numpy as np
import torch

from digitpad import drawn, fresh, pendigits
from digitpad.data import normalize

BAR = 0.97  # fold 0 reads its unseen writers' fixed white canvases at 99.1%; styles cost a little more


def test_a_fold_model_reads_fresh_renders_of_writers_it_never_saw(fold_loaded, fold_model, drawings):
    """Slanted, turned, jittered and shifted, the digits are still the digits they were drawn as."""
    unseen = set(drawn.unseen_writers(fold_loaded, {d.writer for d in drawings}))
    picks = drawn.sample([d for d in drawings if d.writer in unseen], 400, seed=3)
    images, blank = fresh.draw(picks, seed=3)
    assert not blank.any()
    x = torch.from_numpy(images).float().div(255).unsqueeze(1)
    preds = drawn.predict(fold_model, normalize(x))
    assert drawn.accuracy(torch.tensor([d.label for d in picks]), preds) >= BAR


def test_styles_move_the_strokes_but_keep_their_shape_and_order(drawings):
    rng = np.random.default_rng(0)
    d = drawings[0]
    moved = [fresh.styled(d.strokes, rng) for _ in range(20)]
    assert all(len(m) == len(d.strokes) and all(a.shape == b.shape for a, b in zip(m, d.strokes)) for m in moved)
    pts, size = np.concatenate(d.strokes), np.ptp(np.concatenate(d.strokes), 0).max()
    shifts = [np.abs(np.concatenate(m) - pts).max() / size for m in moved]
    assert 0.01 < min(shifts) and max(shifts) < 0.6  # moved every time, never beyond recognition


def test_each_epoch_is_drawn_anew_and_the_same_epoch_alike_in_any_run(small_pendigits):
    """A resumed run sees the digits an unbroken one saw: the set depends on (seed, epoch) alone."""
    writers = set(range(1, 31)) - pendigits.fold_writers(range(1, 31), 2)
    drawings = pendigits.load(small_pendigits)
    one, two = (fresh.EpochRenders(small_pendigits, drawings, writers, 0) for _ in range(2))
    try:
        two.ask(2)
        x1, y1 = one.get(1)
        assert x1.shape == (200, 1, 28, 28) and 0 <= x1.min() and x1.max() <= 1
        assert y1.tolist() == [d.label for d in drawings if d.writer in writers]
        x2, y2 = two.get(2)
        assert torch.equal(y1, y2) and (x1 - x2).abs().mean() > 0.05  # the same digits, drawn anew
        assert torch.equal(two.get(1)[0], x1)
    finally:
        one.close()
        two.close()
