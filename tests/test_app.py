import base64
import io
import re
import time

import numpy as np
import pytest
from PIL import Image

from clients import (as_profile, changes, draw, draw_and_read, log_text, open_pad, pad_ready,
                     pen_up, settle, touch_draw, watch)

from digitpad import drawn, pendigits, pixels, render, strokes
from digitpad.app import build_demo
from digitpad.app.draw_tab import NOTHING_DRAWN
from digitpad.canvas import preprocess
from digitpad.data import denormalize
from digitpad.weights import load_model, shipped_path
from digitpad.zoo import load_models

@pytest.fixture(scope="module")
def models():
    return load_models("digitcnn", None)


def test_handler_reads_pen_drawings_and_fills_every_panel(fold_loaded, drawings, rng):
    """The page's path: strokes as the pad sends them -> rasterize -> preprocess -> panels."""
    model = fold_loaded.module  # scored on writers it never trained on
    filters = pixels.filters_image(model)
    right = 0
    unseen = set(drawn.unseen_writers(fold_loaded, {d.writer for d in drawings}))
    picks = [d for d in drawings if d.writer in unseen][:400:20]
    for d in picks:
        value = pendigits.pad_value(d, rng)
        p = render.panels(model, value, filters)
        right += p.digit == d.label
        assert p.digit == render.glance(model, value).digit
        assert abs(sum(p.probs.values()) - 1) < 1e-4 and len(p.probs) == 10
        assert p.input.shape == (28, 28, 3)
        assert len(p.layers) == len(model.feature_layers)
        assert p.responses.shape == p.layers[0].shape
    assert right >= len(picks) - 1


def test_layer_labels_give_each_shown_layer_its_shape(models):
    assert render.layer_labels(models["digitcnn"].module) == [
        "conv1: 16 x 28 x 28", "pool1: 16 x 14 x 14", "conv2: 32 x 14 x 14", "pool2: 32 x 7 x 7"]
    assert render.layer_labels(models["widekernel"].module)[0] == "conv1: 25 x 9 x 9"


def test_handler_empty_and_unsure_states(models):
    p = render.panels(models["digitcnn"].module, strokes.empty())
    assert p.verdict == render.EMPTY and p.probs is None and p.layers == []
    assert render.verdict([0.5, 0.3] + [0.025] * 8).startswith("Not sure: maybe 0 (50%), or 1 (30%)")


def test_every_zoo_model_loads_into_the_page(models):
    assert set(models) == {"digitcnn", "simplecnn", "bncnn", "widekernel"}
    build_demo(models)


def test_app_answers_through_gradio_client(server, drawings, rng):
    """/read_strokes takes the pad's value as a JSON string; /read is the pad's own event."""
    from gradio_client import Client

    client = Client(server.url, verbose=False)
    value = pendigits.pad_value(drawings[1], rng)
    alone = render.glance(load_model("digitcnn"), value)
    answer = client.predict(value, "digitcnn", api_name="/read_strokes")
    assert answer["digit"] == alone.digit == drawings[1].label
    assert np.allclose(answer["probabilities"], list(alone.probs.values()), atol=1e-6)
    verdict, probs, *_ = client.predict(value, "digitcnn", "me", "", api_name="/read")
    assert verdict == alone.verdict and probs["label"] == str(alone.digit)

    assert client.predict(strokes.empty(), "digitcnn", api_name="/read_strokes")["digit"] is None
    for bad, said in [("{oops", "not JSON"), ('{"size": [400, 400], "strokes": [[[1, NaN]]]}', "NaN"),
                      (strokes.empty(), "No model 'nope'")]:
        with pytest.raises(Exception, match=re.escape(said)):
            client.predict(bad, "nope" if "model" in said else "digitcnn", api_name="/read_strokes")
    verdict, *_ = client.predict("{oops", "digitcnn", "me", "", api_name="/read")
    assert "not JSON" in verdict
    assert client.predict(value, "digitcnn", api_name="/read_strokes")["digit"] == alone.digit  # still serving
    log = log_text(server)  # each refusal is one line in the log, not a traceback
    assert "digitpad: refused: No model 'nope'" in log and "Traceback" not in log


def test_start_up_names_the_weights_and_the_flags(server):
    deadline = time.monotonic() + 30
    while "Ctrl-C" not in (log := log_text(server)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert f"digitpad: digitcnn from {shipped_path('digitcnn')}" in log
    assert "--share" in log and "--help" in log and "share=True" not in log


def test_drawing_in_a_real_browser(server, browser, drawings, shots):
    """Headless Chromium draws a 3 stroke by stroke with the mouse; the page reads it."""
    from playwright.sync_api import expect

    three = next(d for d in drawings if d.label == 3)
    page = open_pad(browser, server.url)
    draw_and_read(page, three, "It's a 3")
    expect(page.locator("#verdict")).to_contain_text("It's a 3")
    expect(page.locator("#layers img")).to_have_count(4, timeout=30_000)
    expect(page.locator("#layers")).to_contain_text("pool2: 32 x 7 x 7")
    page.wait_for_function("[...document.querySelectorAll('#layers img, #responses img')]"
                           ".every(img => img.complete && img.naturalWidth > 0)", timeout=30_000)
    for img in page.locator("#layers img").all():  # every layer shown whole, none clipped
        box = img.bounding_box()
        assert box["width"] > 100 and box["height"] > 100
    labels = page.locator("#layers [data-testid='block-label']").all()
    for label, img in zip(labels, page.locator("#layers img").all(), strict=True):  # no tile covered
        assert label.bounding_box()["y"] + label.bounding_box()["height"] <= img.bounding_box()["y"]
    for toolbar_button in ("Download", "Share", "Fullscreen"):
        assert page.locator(f"#layers [aria-label='{toolbar_button}'], #layers [title='{toolbar_button}']").count() == 0

    # Look closer: click conv1's fifth tile in its middle; the worked sum equals the map's value.
    zoom, cols = pixels.layout(16, 28, 28)
    tile = 28 * zoom + pixels.GAP
    click_pixel(page.locator("#layers img").first, tile + (14 + 0.5) * zoom, tile + (9 + 0.5) * zoom)  # channel cols + 1, row 9, column 14
    expect(page.locator("#arithmetic")).to_contain_text("The map shows", timeout=30_000)
    text = page.locator("#arithmetic").inner_text()
    assert f"conv1, channel {cols + 1}, row 9, column 14" in text
    total, shown = (float(v) for v in re.findall(r"= ([+-]\d+\.\d+)\. The map shows ([+-]\d+\.\d+)", text)[0])
    assert abs(total - shown) < 1e-4
    expect(page.locator("#closer img")).to_have_count(1)

    # The whole network: every zoo model's reading, a digit's bar gives the softmax arithmetic
    # that ends at the probability shown, and an fc1 unit's sum ends at its square's value.
    expect(page.locator("#zoo")).to_contain_text("widekernel", timeout=30_000)
    assert all(f"{name}: " in page.locator("#zoo").inner_text() for name in ("digitcnn", "simplecnn", "bncnn"))
    click_pixel(page.locator("#scores img"), 60, pixels.SCORE_ROW * 3.5)
    expect(page.locator("#softmax")).to_contain_text("Softmax, for 3", timeout=30_000)
    shown = float(re.search(r"= ([\d.]+), the probability shown for 3", page.locator("#softmax").inner_text())[1])
    assert f"It's a 3 ({shown:.0%} sure)" in page.locator("#verdict").inner_text()
    assert page.locator("#units img").bounding_box()["width"] > 200  # shown large enough to click a unit
    zoom, _ = pixels.units_layout(128)
    click_pixel(page.locator("#units img"), zoom * 2.5, zoom * 0.5)
    expect(page.locator("#arithmetic")).to_contain_text("fc1, unit 2", timeout=30_000)
    total, shown = re.search(r"= ([+-][\d.]+); the strip shows ([+-][\d.]+)", page.locator("#arithmetic").inner_text()).groups()
    assert abs(float(total) - float(shown)) < 1e-4
    page.screenshot(path=shots / "screenshot.png", full_page=True)

    page.get_by_label("Model").click()
    page.get_by_role("option", name="widekernel").click()
    expect(page.locator("#layers")).to_contain_text("conv1: 25 x 9 x 9", timeout=30_000)
    expect(page.locator("#layers img")).to_have_count(3, timeout=30_000)
    expect(page.locator("#input28 img")).to_have_count(1)  # the new model reads the same drawing
    expect(page.locator("#verdict")).to_contain_text(re.compile("It's a|Not sure"))


def click_pixel(image, x: float, y: float) -> None:
    """Click an image at pixel (x, y) of its natural size, wherever the browser scaled it."""
    natural = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    box = image.bounding_box()
    image.click(position={"x": x * box["width"] / natural[0], "y": y * box["height"] / natural[1]})


def test_push_a_drawn_six_until_it_breaks(server, browser, drawings, shots):
    """Turned far enough, a 6 stops being read as a 6; the curve shows where; Put it back restores it."""
    from playwright.sync_api import expect

    page = open_pad(browser, server.url)
    draw_and_read(page, next(d for d in drawings if d.label == 6), "It's a 6")
    first, view = page.locator("#verdict").inner_text(), page.locator("#input28 img").get_attribute("src")
    page.locator("#push").get_by_text("Push it until it breaks").click()
    expect(page.locator("#sweep")).to_contain_text("probability of 6", timeout=30_000)
    turn = page.locator("#push-rotation input[type='number']")
    turn.fill("-90")
    turn.press("Enter")
    expect(page.locator("#verdict")).not_to_have_text(first, timeout=30_000)
    expect(page.locator("#input28 img")).not_to_have_attribute("src", view)
    page.locator("#push").screenshot(path=shots / "push.png")
    page.locator("#push-reset").click()
    expect(page.locator("#verdict")).to_have_text(first, timeout=30_000)
    expect(page.locator("#input28 img")).to_have_attribute("src", view)
    assert page.locator(".toast-body.error").count() == 0


def shown_ink(page) -> np.ndarray:
    """The page's 28x28 view read back as ink in [0, 1]."""
    src = page.locator("#input28 img").get_attribute("src")
    png = base64.b64decode(src.removeprefix("data:image/png;base64,"))
    view = np.asarray(Image.open(io.BytesIO(png)).convert("L"), np.float32)
    assert view.shape == (28, 28)  # sent at its natural size, scaled by the browser
    return 1 - view / 255


def test_the_pad_reads_while_the_pen_moves_and_as_training_renders(server, browser, drawings):
    """A one-stroke 2 drawn with the mouse over a second: readings arrive while the pen is down,
    the final one is right, and its 28x28 is what training renders from the same strokes."""
    from playwright.sync_api import expect

    two = next(d for d in drawings if d.label == 2 and len(d.strokes) == 1)
    page = open_pad(browser, server.url)
    watch(page, "#input28")
    down = page.evaluate("performance.now()")
    draw(page, two, every=1, stroke_s=1.0)
    up = pen_up(page)
    expect(page.locator("#verdict")).to_contain_text("It's a 2", timeout=30_000)
    settle(page, "#input28 img")
    while_down = {html for _, html in changes(page, "#input28", down, up)}
    assert len(while_down) >= 3, f"{len(while_down)} readings while the pen was down"

    box = page.locator("#pad canvas").bounding_box()
    trained = preprocess(pendigits.render(two, np.random.default_rng(0), brush=strokes.BRUSH,
                                          extent=0.6 * min(box["width"], box["height"]) / box["width"],
                                          centre=(strokes.CANVAS / 2, strokes.CANVAS / 2)))
    expected = denormalize(trained[0, 0]).clamp(0, 1).numpy()
    assert np.abs(shown_ink(page) - expected).mean() < 0.03  # the view's own rounding, antialiasing


def test_undo_clear_and_replay(server, browser, drawings):
    """Undo (and Ctrl-Z) takes the last stroke off, Clear empties the pad, which stays ready to
    draw; Replay redraws the last drawing stroke by stroke, a reading for each."""
    from playwright.sync_api import expect

    four = next(d for d in drawings if d.label == 4 and len(d.strokes) == 2)
    page = open_pad(browser, server.url)
    draw_and_read(page, four, "It's a 4")
    page.locator("#pad button", has_text="Undo").click()
    expect(page.locator("#verdict")).not_to_contain_text("It's a 4", timeout=30_000)
    draw(page, four)
    expect(page.locator("#verdict")).to_contain_text("It's a 4", timeout=30_000)
    page.locator("#pad canvas").click(position={"x": 5, "y": 5})  # a dot: a stroke, not a digit
    page.keyboard.press("Control+z")
    page.locator("#pad button", has_text="Clear").click()
    expect(page.locator("#verdict")).to_contain_text(render.EMPTY, timeout=30_000)
    expect(page.locator("#input28 img")).to_have_count(0)
    page.locator("#correct button", has_text="4").click()  # nothing drawn: said in words
    expect(page.locator("#score")).to_contain_text(NOTHING_DRAWN, timeout=30_000)
    assert page.locator(".toast-body.error").count() == 0

    watch(page, "#verdict")
    page.locator("#pad button", has_text="Replay").click()
    expect(page.locator("#verdict")).to_contain_text("It's a 4", timeout=30_000)
    page.wait_for_timeout(1500)
    assert len({html for _, html in changes(page, "#verdict")}) >= 2  # one stroke's reading, then the digit's
    page.locator("#pad button", has_text="Clear").click()  # the replayed drawing stays until then
    draw(page, next(d for d in drawings if d.label == 7))  # still ready to draw after all that
    expect(page.locator("#verdict")).to_contain_text("It's a 7", timeout=30_000)


def test_correcting_a_reading_teaches_a_personal_model(server, browser, drawings, shots):
    """Draw, say what it was: the drawing shows in the panel and the taught model in the picker."""
    from playwright.sync_api import expect

    seven = next(d for d in drawings if d.label == 7)
    page = as_profile(open_pad(browser, server.url), "teacher")  # the other tests' "me" stays untaught
    draw_and_read(page, seven)
    page.locator("#correct button", has_text="7").click()
    expect(page.locator("#picker input")).to_have_value("digitcnn + your 1 drawing", timeout=30_000)
    expect(page.locator("#score")).to_contain_text("On your 1 drawing", timeout=30_000)
    page.locator("#yours").get_by_text("Your drawings").click()
    expect(page.locator("#drawings img")).to_have_count(1, timeout=30_000)
    expect(page.locator("#verdict")).to_contain_text("It's a 7", timeout=30_000)
    page.screenshot(path=shots / "teach.png", full_page=True)

    # Correct, then draw the next digit at once, twice: the picker's label changes under
    # each drawing's readings, and none of them fails for it.
    for digit in (1, 9):
        draw_and_read(page, next(d for d in drawings if d.label == digit), re.compile("It's a|Not sure"))
        page.locator("#correct button", has_text=str(digit)).click()
    expect(page.locator("#picker input")).to_have_value("digitcnn + your 3 drawings", timeout=60_000)
    assert page.locator(".toast-body.error").count() == 0


def test_a_laptop_screen_shows_the_reading_without_scrolling_and_a_phone_the_verdict(server, browser, drawings, shots):
    """1366x768 (a 1366x650 viewport): pad, verdict, probabilities, 28x28 view and heat maps
    above the fold, feature maps right below. A 390 px phone: the verdict right under the pad."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1366, "height": 650})
    page.goto(server.url)
    pad_ready(page)
    draw_and_read(page, next(d for d in drawings if d.label == 4))
    for selector in ("#pad", "#verdict", "#zoo", "#correct", "#probs", "#input28", "#why"):
        box = page.locator(selector).first.bounding_box()
        assert box["y"] + box["height"] <= 650, selector
    # Feature maps start right below the fold (the Draw / Train tab row takes 48 px above the pad).
    assert page.locator("#layers").bounding_box()["y"] <= 650 + 150
    page.screenshot(path=shots / "laptop.png")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.goto(server.url)
    pad_ready(page)
    watch(page, "#input28")
    down = page.evaluate("performance.now()")
    two = next(d for d in drawings if d.label == 2 and len(d.strokes) == 1)
    touch_draw(page, two, stroke_s=1.0)  # a finger draws; the page stays put
    up = pen_up(page)
    expect(page.locator("#verdict")).to_contain_text("It's a 2", timeout=30_000)
    assert len({html for _, html in changes(page, "#input28", down, up)}) >= 3  # readings while the finger is down
    assert page.evaluate("window.scrollY") == 0
    pad, verdict = page.locator("#pad").bounding_box(), page.locator("#verdict").bounding_box()
    assert pad["width"] >= 0.8 * 390 and verdict["y"] + verdict["height"] <= 844
    page.screenshot(path=shots / "phone.png")
    phone.close()
