"""Why this answer: the heat maps point at the pixels that matter; conv1's worked sum is exact."""
import numpy as np
import pytest
import torch

import digitpad
from digitpad import drawn, explain, pixels, render
from digitpad.models import layer_facts
from digitpad.weights import load_model


@pytest.fixture(scope="module")
def inputs(drawings):
    """100 fixed pen drawings as the pad delivers them, preprocessed."""
    return drawn.sample_inputs(drawings, 100, seed=21)


def test_blanking_the_reddest_pixels_costs_the_answer_more_than_random_ink(model, inputs):
    assert len(inputs) == 100
    reddest, random = explain.blanking_drops(model, inputs)
    assert reddest.mean() > random.mean() + 0.05, (reddest.mean(), random.mean())
    assert (reddest > random).mean() >= 0.8


def test_each_map_adds_up_to_its_digits_change_from_the_blank_canvas(model, inputs):
    """Integrated gradients' completeness: the pixels share out the whole logit change (with
    enough steps; the page's 16 leave digitcnn's maps about 10% off, see README)."""
    for x in inputs[:4]:
        assert explain.completeness_error(model, x[None], steps=256) < 0.05


@pytest.mark.parametrize("name", ["digitcnn", "simplecnn", "bncnn", "widekernel"])
def test_conv1_worked_sum_equals_the_value_the_page_shows(name, inputs):
    model = load_model(name)
    x = inputs[:1]
    shown = digitpad.classify(model, x).activations["conv1"]  # [C, H, W], what the page draws
    channels, rows, cols = shown.shape
    for channel, row, col in [(0, 0, 0), (channels - 1, rows - 1, cols - 1), (channels // 2, rows // 2, cols // 3)]:
        s = explain.worked_sum(model, x, channel, row, col)
        k = model.conv1.kernel_size[0]
        assert s.weights.shape == s.patch.shape == (k, k)
        assert abs(s.total - float(shown[channel, row, col])) < 1e-4
        # The patch is the input under the unit's receptive field (zeros where it overhangs).
        top, left, bottom, right = explain.receptive_field(model, "conv1", row, col)
        conv1 = layer_facts(model)["conv1"]
        stride, pad = conv1.stride, conv1.padding
        dy, dx = top - (row * stride - pad), left - (col * stride - pad)
        assert torch.equal(s.patch[dy:dy + bottom - top, dx:dx + right - left], x[0, 0, top:bottom, left:right])


@pytest.mark.parametrize("shape", [(16, 28, 28), (32, 7, 7), (25, 9, 9), (64, 4, 4)])
def test_a_click_on_a_grid_finds_the_unit_under_it(shape):
    maps = np.random.default_rng(0).normal(size=shape)
    image = pixels.grid(maps)
    c, h, w = shape
    zoom, cols = pixels.layout(c, h, w)
    for channel, row, col in [(0, 0, 0), (c - 1, h - 1, w - 1), (c // 2, h // 3, w // 2)]:
        r, q = divmod(channel, cols)
        x, y = q * (w * zoom + pixels.GAP) + col * zoom + zoom // 2, r * (h * zoom + pixels.GAP) + row * zoom
        assert (pixels.colorize(maps[channel, row, col], np.abs(maps).max()) == image[y, x]).all()
        assert pixels.unit_at(shape, x, y) == (channel, row, col)
    assert pixels.unit_at(shape, w * zoom, 0) is None  # the gap between the first two tiles


@pytest.mark.parametrize("name", ["digitcnn", "simplecnn", "bncnn", "widekernel"])
def test_receptive_fields_match_the_architecture_table(name):
    model = load_model(name)
    fields = {row[0]: row[3] for row in render.architecture(model)}
    for layer in model.feature_layers:
        top, left, bottom, right = explain.receptive_field(model, layer, 2, 2)  # far from the edges
        assert f"{bottom - top} x {right - left}" == fields[layer]
