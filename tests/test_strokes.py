"""The stroke pad's value: what a person's strokes become, one rasterizer with training, bad
input answered in words, strokes kept with each correction."""
import json
import sqlite3
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from digitpad import pendigits, pixels, render, strokes
from digitpad.canvas import preprocess
from digitpad.store import Read, Store

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                               st.sampled_from(["size", "strokes", "x"]), inner, max_size=3), max_leaves=30)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_any_json_is_a_drawing_or_a_sentence_saying_why_not(model, value):
    text = json.dumps(value)
    try:
        strokes.parse(text)
    except strokes.StrokesError as e:
        assert str(e)
        assert render.glance(model, text).verdict == f"That canvas could not be read: {e}"
        return
    assert render.glance(model, text).verdict  # a reading, or "draw a digit" when blank


@pytest.mark.parametrize("value, said", [
    ("{not json", "is not JSON"),
    ('[[1, 2], [3, 4]]', "expected {\"size\""),
    ('{"size": [400, 400], "strokes": [[1, 2], [3, 4]]}', "stroke 0 must be a non-empty list of [x, y]"),
    ('{"size": [400, 400], "strokes": [[[1, 2, 3]]]}', "stroke 0 must be a non-empty list of [x, y]"),
    ('{"size": [400, 400], "strokes": [[[10, NaN], [20, 20]]]}', "stroke 0 holds NaN or infinite"),
    ('{"size": [400, 400], "strokes": [[[10, Infinity]]]}', "stroke 0 holds NaN or infinite"),
    ('{"size": [400, 400], "strokes": [[[10, 10], [90000, 10]]]}', "far outside the 400x400 canvas"),
    ('{"size": [0, 400], "strokes": []}', "size must be [w, h]"),
    ('{"size": [100000, 400], "strokes": []}', "size must be [w, h]"),
    (json.dumps({"size": [400, 400], "strokes": [[[1.5, 2.5]] * 6_000]}), "6,000 points"),
    ("x" * 3_000_000, "3,000,000 characters"),
], ids=["not-json", "list", "flat-stroke", "triple", "nan", "inf", "far", "zero-size", "huge-size",
        "6k-points", "huge-text"])
def test_bad_strokes_are_named(model, value, said):
    with pytest.raises(strokes.StrokesError) as e:
        strokes.parse(value)
    assert said in str(e.value)
    assert said in render.glance(model, value).verdict


def test_an_empty_pad_asks_for_a_digit_and_a_string_is_never_a_file_name(model, tmp_path):
    assert render.glance(model, strokes.empty()).verdict == render.EMPTY
    image = tmp_path / "seven.png"
    Image.new("L", (40, 40), 255).save(image)
    assert "not JSON" in render.glance(model, str(image)).verdict  # the page never opens a path


def test_the_pad_and_training_render_a_pen_digit_alike(drawings):
    """The strokes as the pad sends them (tenths of a pixel, the pad's brush) and the same
    placement rendered for training give the same 28x28 input."""
    worst = 0.0
    for d in drawings[::150]:
        from_pad = preprocess(strokes.parse(pendigits.pad_value(d, np.random.default_rng(1))))
        trained = preprocess(pendigits.render(d, np.random.default_rng(1), brush=strokes.BRUSH))
        assert (from_pad is None) == (trained is None)
        if from_pad is not None:
            worst = max(worst, float((from_pad - trained).abs().mean()))
    assert worst < 0.02  # mean difference in normalized units: antialiasing of 0.05 px rounding


def test_strokes_are_kept_exported_and_imported(tmp_path, drawings, model):
    store = Store(tmp_path / "a.sqlite")
    p = store.profile("ana")
    value = pendigits.pad_value(drawings[0], np.random.default_rng(0))
    x = preprocess(strokes.parse(value))
    store.add(p, x, pixels.thumbnail(strokes.parse(value)), drawings[0].label, Read("digitcnn", 1, 1, 1), value)
    store.add(p, x, None, 3, Read("digitcnn", 3, 3, 3))  # a drawing kept before strokes were
    [kept, old] = store.drawings(p)
    assert kept.strokes == value and old.strokes is None

    zipped = store.export_zip(p, tmp_path / "out.zip")
    with zipfile.ZipFile(zipped) as z:
        drawn = json.loads(z.read("strokes.json"))
    assert set(drawn) == {f"{kept.id}.png"}

    other = Store(tmp_path / "b.sqlite")
    q = other.profile("ana")
    assert other.import_zip(q, zipped) == (2, [])
    back = other.drawings(q)
    assert back[0].strokes == value and back[1].strokes is None


def test_a_database_from_before_strokes_gains_the_column(tmp_path):
    path = tmp_path / "old.sqlite"
    Store(path)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE drawings DROP COLUMN strokes")
    store = Store(path)
    p = store.profile("me")
    store.add(p, preprocess(np.pad(np.ones((20, 4), np.uint8) * 255, 10)), None, 1, Read("digitcnn", 1, 1, 1),
              strokes.empty())
    assert store.drawings(p)[0].strokes == strokes.empty()


def test_bad_strokes_in_an_import_are_named(tmp_path, drawings):
    store = Store(tmp_path / "a.sqlite")
    p = store.profile("me")
    value = pendigits.pad_value(drawings[0], np.random.default_rng(0))
    store.add(p, preprocess(strokes.parse(value)), None, drawings[0].label, Read("digitcnn", 1, 1, 1), value)
    zipped = store.export_zip(p, tmp_path / "out.zip")
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(zipped) as z, zipfile.ZipFile(broken, "w") as out:
        for name in z.namelist():
            data = z.read(name)
            if name == "strokes.json":
                data = data.replace(b"[[[", b"[[[NaN, 1], [", 1)
            out.writestr(name, data)
    added, problems = store.import_zip(p, broken)
    assert added == 0 and problems == [f"strokes.json, {store.ids(p)[0]}.png: stroke 0 holds NaN or "
                                       "infinite coordinates"]
