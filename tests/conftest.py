import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from digitpad import data, pendigits
from digitpad.weights import WEIGHTS_DIR, load

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True, scope="session")
def digitpad_home(tmp_path_factory):
    """Everything digitpad writes during the tests goes to a temporary home, never the user's."""
    folder = tmp_path_factory.mktemp("digitpad-home")
    os.environ["DIGITPAD_HOME"] = str(folder)
    return folder


@pytest.fixture
def own_home(tmp_path, digitpad_home) -> Path:
    """A digitpad home of the test's own, whose cache is the session's: the pen digits are then
    rendered once a session (about a minute here), not once per home. The cache is keyed by all
    that makes it, so sharing it changes no result."""
    home = tmp_path / "home"
    home.mkdir()
    (digitpad_home / "cache").mkdir(exist_ok=True)
    (home / "cache").symlink_to(digitpad_home / "cache", target_is_directory=True)
    return home


def pytest_addoption(parser):
    parser.addoption("--refresh-docs", action="store_true",
                     help="write the browser tests' screenshots into docs/ (else a temporary folder)")


@pytest.fixture(scope="session")
def shots(request, tmp_path_factory) -> Path:
    """Where browser tests save screenshots: docs/ when asked (--refresh-docs), else a temporary
    folder, so that a test run leaves the checkout as it found it."""
    if request.config.getoption("--refresh-docs"):
        return Path(__file__).parent.parent / "docs"
    return tmp_path_factory.mktemp("screenshots")


def require(path: Path | None, what: str) -> Path:
    """Skip with a reason when test data is missing, but fail under CI, where it must be there."""
    if path is None or not path.exists():
        message = f"{what} not found" + (f" at {path}" if path else "")
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must provide it")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    given = os.environ.get("DIGITPAD_DATA")
    require(Path(given) / "MNIST" / "raw" / "t10k-images-idx3-ubyte" if given else None,
            "MNIST (set DIGITPAD_DATA to the folder holding MNIST/raw/)")
    return Path(given)


@pytest.fixture(scope="session")
def mnist_test(mnist_root):
    return data.load_mnist(mnist_root, train=False)


@pytest.fixture(scope="session")
def pendigits_path() -> Path:
    given = os.environ.get("DIGITPAD_PENDIGITS")
    return require(Path(given) if given else None,
                   "pen-drawn digits (set DIGITPAD_PENDIGITS to UCI's pendigits-orig.tra)")


@pytest.fixture(scope="session")
def drawings(pendigits_path):
    return pendigits.load(pendigits_path)


@pytest.fixture(scope="session")
def small_pendigits(pendigits_path, tmp_path_factory) -> Path:
    """A real UNIPEN file of 300 drawings, ten from each writer: pen data for quick runs."""
    header, *segments = pendigits_path.read_text().split("\n.SEGMENT")
    per_writer, keep = {}, []
    for seg in segments:
        writer = int(seg.split(".COMMENT")[1].split()[1])
        per_writer[writer] = per_writer.get(writer, 0) + 1
        if per_writer[writer] <= 10:
            keep.append(seg)
    path = tmp_path_factory.mktemp("pendigits") / "small.tra"
    path.write_text(header + "".join("\n.SEGMENT" + seg for seg in keep) + "\n")
    return path


@pytest.fixture
def few_pen_digits(monkeypatch, small_pendigits) -> None:
    """An MNIST-only run ends by reading every pen digit on this machine: 300 of them here, not
    7,494 rendered first (a minute)."""
    monkeypatch.setenv("DIGITPAD_PENDIGITS", str(small_pendigits))


@pytest.fixture(scope="session")
def shipped():
    """The shipped digitcnn with its record (path, checkpoint metadata)."""
    return load()


@pytest.fixture(scope="session")
def model(shipped):
    return shipped.module


@pytest.fixture(scope="session")
def fold_loaded():
    """digitcnn trained the shipped way with writer group 0 held out; it ships so that tests
    can read writers it never saw (the shipped digitcnn saw all thirty)."""
    return load("digitcnn", WEIGHTS_DIR / "digitcnn-fold0.pt")


@pytest.fixture(scope="session")
def fold_model(fold_loaded):
    return fold_loaded.module


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def server():
    """The real console entry point (`python -m digitpad`) on a free loopback port."""
    from clients import start_app

    proc, url = start_app()
    proc.url = url
    yield proc
    proc.terminate()
    proc.wait(10)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed; CI must install Debian's chromium")
        pytest.skip("no Chromium here (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def chromium_browser():
    """One headless Chromium for every browser test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser


@pytest.fixture
def browser(chromium_browser):
    """The session's Chromium; the pages a test opened close when it ends (left open, a
    page's scripts kept using the CPU that later tests' servers and runs needed)."""
    yield chromium_browser
    for context in chromium_browser.contexts:
        context.close()
