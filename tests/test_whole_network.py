"""The whole network on real pen drawings: the dense layers and softmax add up to the probabilities
shown, every zoo model reads the drawing, and pushing a drawing changes what the model reads."""
import re

import numpy as np
import pytest
import torch

from digitpad import pendigits, pixels, render, strokes
from digitpad.canvas import preprocess
from digitpad.dense import dense, softmax_steps
from digitpad.inference import classify
from digitpad.models import layer_facts
from digitpad.push import SWEEP, SWEEP_POINTS, Push, pushed, sweep
from digitpad.zoo import load_models


@pytest.fixture(scope="module")
def zoo():
    return {name: loaded.module for name, loaded in load_models("digitcnn", None).items()}


@pytest.fixture(scope="module")
def pads(drawings):
    rng = np.random.default_rng(5)
    return {d: strokes.parse(pendigits.pad_value(next(p for p in drawings if p.label == d), rng)) for d in (1, 6, 7)}


def test_softmax_arithmetic_is_the_probabilities_shown(zoo, pads):
    for model in zoo.values():
        for pad in pads.values():
            x = preprocess(pad)
            shown, d = classify(model, x).probs, dense(model, x)
            assert np.allclose(d.probs, shown, atol=1e-4)
            for digit in (int(np.argmax(shown)), 3):
                text = softmax_steps(d, digit)
                parts = [float(v) for v in re.search(r"\(([\d. +]+)\) / 3 = \*\*([\d.]+)\*\*", text).group(1).split(" + ")]
                final = float(re.search(r"/ 3 = \*\*([\d.]+)\*\*", text).group(1))
                assert abs(final - shown[digit]) < 1e-4 and abs(sum(parts) / 3 - final) < 1e-5
                exps = [float(v) for v in re.findall(r"^\| \**\d\** \| [+-][\d.]+ \| ([\d.e+-]+) \|$", text, re.M)]
                assert len(exps) == 10 and abs(exps[digit] / sum(exps) - parts[0]) < 1e-4


def test_an_fc1_unit_adds_up_to_its_square(zoo, pads):
    x = preprocess(pads[7])
    for name, model in zoo.items():
        maps = layer_facts(model)[model.feature_layers[-1]].shape
        assert np.prod(maps) == model.fc1.in_features, name  # fc1 reads the last maps, flattened
        image, text = render.look_at_unit(model, x, 5)
        total, shown = (float(v) for v in re.search(r"= \*\*([+-][\d.]+)\*\*; the strip shows \*\*([+-][\d.]+)", text).groups())
        assert abs(total - shown) < 1e-4 and abs(shown - float(dense(model, x).units[5])) < 1e-5
        assert image.shape[0] > 50
    n = zoo["digitcnn"].fc1.out_features
    zoom, cols = pixels.units_layout(n)
    assert pixels.units(np.linspace(-1, 1, n)).shape[1] == cols * zoom
    assert pixels.unit_under(n, zoom * 3 + 1, zoom * 2 + 1) == 2 * cols + 3
    assert pixels.unit_under(n, cols * zoom + 1, 0) is None
    assert [pixels.score_under(y) for y in (0, pixels.SCORE_ROW * 9 + 1, pixels.SCORE_ROW * 10)] == [0, 9, None]


def test_the_zoo_row_reads_as_each_model_does(zoo, pads):
    x = preprocess(pads[6])
    row = render.zoo_row(zoo, x)
    assert [name for name, *_ in row] == list(zoo)
    for (name, digit, p), model in zip(row, zoo.values()):
        probs = classify(model, x).probs
        assert digit == int(np.argmax(probs)) == 6 and abs(p - max(probs)) < 1e-5, name


def test_the_sweep_at_no_turn_is_the_plain_reading(zoo, pads):
    model = zoo["digitcnn"]
    for pad in pads.values():
        angles, probs = sweep(model, pad, Push())
        assert angles == list(SWEEP)
        plain = classify(model, preprocess(pad)).probs
        assert torch.allclose(probs[angles.index(0)], torch.tensor(plain), atol=1e-5)
        assert torch.equal(pushed(pad, Push(rotation=0)), preprocess(pad))


def test_pushing_a_drawing_changes_what_the_model_reads(zoo, pads):
    model, six = zoo["digitcnn"], pads[6]
    assert classify(model, preprocess(six)).digit == 6
    upside_down = render.glance(model, six.value(), Push(rotation=90))
    assert upside_down.x is not None and not torch.equal(upside_down.x, preprocess(six))
    digit, points = render.curve(model, six.value(), Push())
    assert digit == 6 and len(points) == len(SWEEP)
    assert dict(points)[0] > 0.9 and min(p for _, p in points) < 0.5  # turned far enough, it stops being a 6
    shifted = pushed(six, Push(shift_x=4))
    plain = preprocess(six)
    assert torch.allclose(shifted[..., 4:], plain[..., :-4], atol=1e-5)  # four pixels right, exactly
    thick = pushed(six, Push(thickness=3))
    assert (thick > 0).sum() > (plain > 0).sum()  # more ink


@pytest.mark.parametrize("field, value", [("rotation", 91), ("rotation", float("nan")), ("shift_x", -9),
                                          ("scale", 0.4), ("thickness", 3.5), ("scale", "big")])
def test_a_push_out_of_range_is_refused_with_its_range(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a number from"):
        Push(**{field: value})


def test_the_curve_refuses_a_drawing_too_long_to_turn_37_times(zoo):
    """A script's 20,000-point drawing took 22 s to sweep: the curve refuses it in a sentence."""
    points = np.random.default_rng(0).random((SWEEP_POINTS + 1, 2)) * 400
    pad = strokes.parse({"size": [400, 400], "strokes": [points.tolist()]})
    with pytest.raises(ValueError, match=f"at most {SWEEP_POINTS:,} points; this one has {SWEEP_POINTS + 1:,}"):
        sweep(zoo["digitcnn"], pad, Push())
