"""The Train tab in a real browser: a short run trains, its curves and filters move, the model
reads a drawing; a second run is stopped midway and nothing is lost."""
import json
import re
import shutil
import time

import pytest

from clients import draw, draw_and_read, open_pad, pad_ready, start_app


TRAINED = re.compile(r"digitcnn \(trained at \d\d:\d\d(:\d\d)?\)")  # seconds when two share a minute


def set_slider(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type='number']")
    box.fill(str(value))
    box.press("Enter")


def watch_until_done(page, timeout_s: float = 240) -> tuple[set, list]:
    """Poll the tab while it trains: the filter images it showed and the loss line's length."""
    filters, lengths = set(), []
    deadline = time.monotonic() + timeout_s
    while "%" not in page.locator("#train-result").inner_text() and time.monotonic() < deadline:
        img = page.locator("#train-filters img")
        if img.count():
            filters.add(img.first.get_attribute("src"))
        lengths.append(page.evaluate("""() => Math.max(0, ...[...document.querySelectorAll(
            '#train-loss svg path')].map(p => (p.getAttribute('d') || '').length))"""))
        time.sleep(0.2)
    return filters, lengths


def console_errors(page) -> list:
    """The page's JavaScript errors from now on, as a list that fills as they come."""
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


@pytest.fixture(scope="module")
def trainer(tmp_path_factory, mnist_root, small_pendigits):
    """The app with its own home (no trained models at first) and 300 real pen digits for speed,
    shared by this module's tests. Its MNIST is a link that a test may take away."""
    top = tmp_path_factory.mktemp("trainer")
    (top / "data").mkdir()
    (top / "data" / "MNIST").symlink_to((mnist_root / "MNIST").resolve(), target_is_directory=True)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DIGITPAD_PENDIGITS", str(small_pendigits))
        env.setenv("DIGITPAD_DATA", str(top / "data"))
        proc, url = start_app("--home", str(top / "home"))
    proc.url, proc.home, proc.data = url, top / "home", top / "data"
    yield proc
    proc.terminate()
    proc.wait(10)


def run_folders(trainer) -> set:
    folder = trainer.home / "runs" / "trained"
    return set(folder.iterdir()) if folder.is_dir() else set()


def test_a_short_run_trains_on_the_page_and_its_model_reads_a_drawing(trainer, browser, drawings, shots):
    from playwright.sync_api import expect

    before = run_folders(trainer)
    page = open_pad(browser, trainer.url)
    errors = console_errors(page)
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#mnist-note")).to_have_text("")  # MNIST is on disk here
    set_slider(page, "train-images", 6_000)
    page.locator("#train-start").click()
    expect(page.locator("#train-bar")).to_contain_text(  # from the first seconds, what it does
        re.compile(r"drawing the pen digits anew for epoch 1: \d+ of 200"), timeout=60_000)  # 20 writers
    expect(page.locator("#train-bar")).to_contain_text("images/s", timeout=120_000)
    filters, lengths = watch_until_done(page)
    result = page.locator("#train-result").inner_text()
    assert "on the 10,000 MNIST test images" in result and "writers it never trained on" in result
    assert len(filters) >= 3, "the conv1 filters were redrawn as it trained"
    grew = [n for n in lengths if n]
    assert grew and grew[-1] > grew[0], "the loss curve grew while it trained"
    for curve in ("validation accuracy", "held-out writers"):  # one epoch draws these too
        expect(page.locator("#train-accuracy")).to_contain_text(curve)
    test_acc = float(re.search(r"(\d+\.\d+)% on the 10,000", result)[1])
    assert test_acc > 80  # 6,000 images, one epoch
    assert errors == []
    page.screenshot(path=shots / "train.png", full_page=True)

    # The model is chosen in the Draw tab's picker and reads a drawing there.
    page.get_by_role("tab", name="Draw").click()
    expect(page.locator("#picker input")).to_have_value(TRAINED, timeout=30_000)
    label = page.locator("#picker input").input_value()
    seven = next(d for d in drawings if d.label == 7)
    draw_and_read(page, seven, re.compile("It's a|Not sure"))

    # A second, full-size run is stopped before its first epoch ends: nothing is saved, and
    # the first run's model still loads and reads.
    page.get_by_role("tab", name="Train").click()
    set_slider(page, "train-images", 55_000)
    page.locator("#train-start").click()
    # The first run's last bar ("epoch 1: ... images/s") stays until this run's first one: a
    # Stop clicked before that would find nothing training.
    expect(page.locator("#train-bar")).not_to_contain_text("images/s", timeout=60_000)
    page.locator("#train-stop").click()
    expect(page.locator("#train-bar")).to_contain_text("Stopped before the first epoch ended",
                                                       timeout=60_000)
    runs = sorted(run_folders(trainer) - before)
    assert len(runs) == 2 and (runs[0] / "digitcnn.pt").is_file() and not (runs[1] / "digitcnn.pt").exists()
    page.get_by_role("tab", name="Draw").click()
    expect(page.locator("#picker input")).to_have_value(label)
    page.reload()
    pad_ready(page)
    page.locator("#picker input").click()
    page.get_by_role("option", name=label).click()
    draw(page, seven)
    expect(page.locator("#verdict")).to_contain_text(re.compile("It's a|Not sure"), timeout=30_000)


def test_a_run_whose_page_was_closed_joins_the_picker_and_can_be_removed(trainer, browser):
    """The page that started a run is closed mid-run: the run goes on, and its model is in the
    picker of the next page opened, without a restart. Remove deletes its files."""
    from playwright.sync_api import expect

    before = run_folders(trainer)
    page = open_pad(browser, trainer.url)
    page.locator("#picker input").click()
    offered = page.get_by_role("option", name=TRAINED).count()  # an earlier run's may share the minute
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="Train").click()
    set_slider(page, "train-images", 1_000)
    page.locator("#train-pen input").uncheck()
    page.locator("#train-start").click()
    expect(page.locator("#train-bar")).to_contain_text("Starting", timeout=30_000)
    page.close()
    [run] = run_folders(trainer) - before
    deadline = time.monotonic() + 240
    while '"done"' not in ((run / "events.jsonl").read_text() if (run / "events.jsonl").exists() else ""):
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.5)
    # The server adopts the model once the run's process has exited: a page opened a moment
    # later may still miss it, so open pages until one lists it.
    trained_at = json.loads((run / "digitcnn.json").read_text())["trained_at"][11:16]  # HH:MM
    while True:
        page = open_pad(browser, trainer.url)
        page.locator("#picker input").click()
        newest = page.get_by_role("option", name=TRAINED).last
        try:
            expect(page.get_by_role("option", name=TRAINED)).to_have_count(offered + 1, timeout=3_000)
            expect(newest).to_contain_text(trained_at)
            break
        except AssertionError:
            assert time.monotonic() < deadline, "the model never joined the picker"
            page.close()
    label = newest.inner_text().replace("✓", "").strip()
    expect(page.locator("#drop")).to_be_hidden()  # a shipped model cannot be removed
    newest.click()
    page.locator("#drop").click()
    expect(page.locator("#picker input")).to_have_value("digitcnn", timeout=30_000)
    assert not run.exists()  # the run's folder is gone
    page.locator("#picker input").click()
    expect(page.get_by_role("option", name=label, exact=True)).to_have_count(0)


def test_trained_models_join_the_picker_after_a_restart(own_home, monkeypatch, mnist_root,
                                                        few_pen_digits):
    """A model trained on the page (here by the fit the tab's command runs, in this process)
    loads at start, and a damaged one is skipped with its name."""
    from dataclasses import replace

    from digitpad import runs
    from digitpad.settings import FAST
    from digitpad.train import fit
    from digitpad.zoo import load_models

    monkeypatch.setenv("DIGITPAD_HOME", str(own_home))
    folder = runs.trained_dir() / "20260101-000000-000000"
    fit(replace(FAST, data="mnist", limit=1000, val_size=500, epochs=1, data_dir=mnist_root, out=folder,
                report_dir=folder / "r"))
    (runs.trained_dir() / "broken").mkdir()
    (runs.trained_dir() / "broken" / "digitcnn.pt").write_bytes(b"not a checkpoint")
    models = load_models("digitcnn", None)
    [trained] = [name for name in models if TRAINED.fullmatch(name)]
    assert models[trained].path == folder / "digitcnn.pt"


def test_the_page_keeps_the_newest_five_trained_models(own_home, monkeypatch, shipped):
    from types import SimpleNamespace

    from digitpad import runs

    monkeypatch.setenv("DIGITPAD_HOME", str(own_home))
    trained = {f"run {i}": SimpleNamespace(path=runs.trained_dir() / f"2026010{i}" / "digitcnn.pt")
               for i in range(7)}
    assert runs.beyond_keep({"digitcnn": shipped, **trained}) == ["run 0", "run 1"]
    assert runs.beyond_keep({"digitcnn": shipped, "run 0": trained["run 0"]}) == []


def test_one_run_at_a_time_and_stop_keeps_no_half_epoch(tmp_path, monkeypatch, mnist_root):
    from digitpad import runs

    monkeypatch.setenv("DIGITPAD_HOME", str(tmp_path))
    run = runs.Run.start("digitcnn", 5, pen=False, images=None, threads=1)
    try:
        with pytest.raises(runs.Busy, match="training already"):
            runs.Run.start("digitcnn", 1, pen=False, images=1000, threads=1)
        deadline = time.monotonic() + 120
        while not any(e["event"] == "step" for e in run.events()) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        run.stop()
    assert run.wait() == 1 and "no epoch finished" in run.last_words()
    assert not run.weights().exists() and run.stopped


def test_a_run_that_cannot_start_says_why_in_place_of_its_bar(trainer, browser):
    """With MNIST gone (and offline), the bar gives way to the reason and the fix."""
    from playwright.sync_api import expect

    linked = trainer.data / "MNIST"
    linked.rename(trainer.data / "away")
    try:
        page = open_pad(browser, trainer.url)
        errors = console_errors(page)
        page.get_by_role("tab", name="Train").click()
        page.locator("#train-start").click()
        expect(page.locator("#train-bar")).to_contain_text("Training failed", timeout=60_000)
        expect(page.locator("#train-bar")).to_contain_text("DIGITPAD_DATA")
        assert page.locator("#train-bar progress").count() == 0 and errors == []
    finally:
        shutil.rmtree(linked, ignore_errors=True)  # whatever a download attempt left there
        (trainer.data / "away").rename(linked)


def test_without_mnist_the_tab_says_where_it_goes_and_how_to_get_it(tmp_path, mnist_root):
    from digitpad.app.train_tab import mnist_note

    said = mnist_note(tmp_path)
    assert "not on this machine" in said and str(tmp_path) in said and "DIGITPAD_DATA" in said
    assert mnist_note(mnist_root) == ""


def test_a_run_more_than_five_points_below_the_shipped_model_is_not_chosen():
    from types import SimpleNamespace

    from digitpad.app.train_tab import summary

    run = SimpleNamespace(model="digitcnn", folder="runs/trained/x")
    done = {"test_acc": 0.9450, "pen_unseen_acc": None, "interrupted": True}
    said, weak = summary(done, run, "digitcnn (trained at 10:00)", 0.9947)
    assert not weak and "It is chosen" in said and "stopped early" in said and "no pen digits" in said
    said, weak = summary({**done, "test_acc": 0.9440, "pen_unseen_acc": 0.9}, run, "m", 0.9947)
    assert weak and "not chosen" in said and "more than 5 points below the 99.47%" in said
