"""The page served to a class (shared mode), probed as a curious student would: nobody reads
another's drawings or stops another's run, nothing served is guessable, bad imports are refused
in a sentence before anything big is decoded, and a killed server leaves no training behind."""
import contextlib
import io
import os
import re
import signal
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import bombs
from clients import as_profile, draw_and_read, log_text, open_pad, rss_mib, start_app

from digitpad import owners, pendigits
from digitpad.app.pictures import served
from digitpad.cli import port_taken
from digitpad.store import IMPORT_BYTES, Read, Store, png


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.fixture(scope="module")
def shared(tmp_path_factory, mnist_root, small_pendigits):
    """digitpad --host 127.1: shared mode, as served to a class, still on loopback, with a home
    of its own that holds a damaged database (moved aside at start). The last test kills it."""
    home = tmp_path_factory.mktemp("shared-home")
    (home / "drawings.sqlite").write_bytes(b"not a database" * 100)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DIGITPAD_DATA", str(mnist_root))
        env.setenv("DIGITPAD_PENDIGITS", str(small_pendigits))
        proc, url = start_app("--host", "127.1", "--home", str(home))
    proc.url, proc.home = url.replace("127.0.0.1", "127.1"), home
    yield proc
    proc.kill()
    proc.wait(10)


def test_tokens_are_signed_here_and_cannot_be_made_up(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITPAD_HOME", str(tmp_path))
    token = owners.new()
    assert owners.owner(token) == token.split(".")[0]
    flipped = token[:-1] + ("1" if token.endswith("0") else "0")  # one signature digit changed
    forged = [None, "", 42, {"a": 1}, ["x"], "me", token.split(".")[0], flipped,
              "0" * 32 + "." + token.split(".")[1], token + ".x"]
    assert [owners.owner(t) for t in forged] == [None] * len(forged)


def test_each_browser_sees_only_its_own_profiles(shared, browser):
    """Profiles belong to the browser that made them (and the damaged database found at start
    was moved aside, the page working on a fresh one)."""
    from playwright.sync_api import expect

    alice = browser.new_context()
    page = as_profile(open_pad(alice, shared.url), "alice")
    expect(page.locator("#score")).to_contain_text("No drawings yet", timeout=30_000)

    def profiles(context):
        page = open_pad(context, shared.url)
        page.locator("#who input").click()
        return [text.replace("✓", "").strip() for text in page.get_by_role("option").all_inner_texts()]
    assert "alice" in profiles(alice)  # after a reload, alice's browser still has her
    assert profiles(browser.new_context()) == ["me"]  # another browser never sees her
    assert "moved it to" in log_text(shared) and "shared: each browser sees only the profiles it made" in log_text(shared)


def test_a_shared_page_keeps_drawings_to_their_browser(shared, browser, drawings):
    """The secret is not in the page's config; a drawing's export sits under an unguessable
    name, the old guessable one is not served, and Forget everything deletes it."""
    from playwright.sync_api import expect

    page = open_pad(browser.new_context(), shared.url)
    draw_and_read(page, next(d for d in drawings if d.label == 3))
    page.locator("#correct button", has_text="3").click()
    expect(page.locator("#score")).to_contain_text("On your 1 drawing", timeout=60_000)
    page.locator("#yours").get_by_text("Your drawings").click()
    expect(page.locator("#drawings img")).to_have_count(1, timeout=60_000)
    expect(page.locator("#yours")).to_contain_text("This page is shared")  # and not the home's path
    assert str(shared.home) not in page.locator("#yours").inner_text()
    config = urllib.request.urlopen(shared.url + "config", timeout=30).read().decode()
    assert (shared.home / "secret").read_text().strip() not in config  # it signed her token
    [zipped] = (shared.home / "exports").glob("*/digitpad-drawings.zip")
    assert len(zipped.parent.name) == 32  # 128 random bits
    for guess in ("digitpad-drawings-1.zip", "digitpad-drawings.zip", "1/digitpad-drawings.zip"):
        assert status(f"{shared.url}gradio_api/file={shared.home / 'exports' / guess}") in (403, 404)

    import httpx  # Gradio's own HTTP client
    too_big = httpx.post(f"{shared.url}gradio_api/upload", timeout=60,
                         files={"files": ("big.zip", b"0" * (IMPORT_BYTES + 1))})
    assert too_big.status_code == 413  # refused as it streams in, never kept

    other = open_pad(browser.new_context(), shared.url)  # another browser: none of hers
    other.locator("#yours").get_by_text("Your drawings").click()
    expect(other.locator("#score")).to_contain_text("No drawings yet", timeout=30_000)

    page.locator("#yours").get_by_role("button", name="Forget everything").click()
    expect(page.locator("#score")).to_contain_text("No drawings yet", timeout=30_000)
    assert not zipped.exists()


def test_the_train_endpoints_called_directly_refuse_what_the_page_cannot_send(shared, monkeypatch):
    """gradio_client with a token this server signed (as any page gets one): no run starts from
    an unknown model, epochs or images out of the sliders' range or no number, or a made-up token."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    monkeypatch.setenv("DIGITPAD_HOME", str(shared.home))
    token, client = owners.new(), Client(shared.url, verbose=False)
    for args, said in [(("nope", 1, False, 1000), "nope is not in the list of choices"),
                       (("digitcnn", 10**9, False, 1000), "greater than maximum value 5"),
                       (("digitcnn", 1, False, -5), "less than minimum value 1000"),
                       (("digitcnn", "x", False, 1000), "Epochs: expected a number from 1 to 5, got x")]:
        with pytest.raises(AppError, match=said):
            client.predict(*args, "me", token, api_name="/train")
    with pytest.raises(AppError, match="token is missing or not valid"):  # a made-up token
        client.predict("digitcnn", 1, False, 1000, "me", "made-up", api_name="/train")
    assert not (shared.home / "runs" / "trained").exists()


def test_a_browser_past_its_profiles_cap_is_told_so(shared, monkeypatch):
    """Called directly, as a script would: the 21st profile of one browser is refused in words."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from digitpad.app.draw_rules import PROFILES_PER_BROWSER

    monkeypatch.setenv("DIGITPAD_HOME", str(shared.home))
    token, client = owners.new(), Client(shared.url, verbose=False)
    for i in range(PROFILES_PER_BROWSER):
        client.predict("digitcnn", f"pupil {i}", token, api_name="/profile")
    with pytest.raises(AppError, match=f"has {PROFILES_PER_BROWSER} profiles"):
        client.predict("digitcnn", "one too many", token, api_name="/profile")
    client.predict("digitcnn", "pupil 3", token, api_name="/profile")  # its own still open


def test_a_scripts_probes_are_answered_in_sentences_and_a_retried_correction_kept_once(
        shared, drawings, monkeypatch):
    """Called as a script would (gradio_client): a profile made locally (token "") and tokens that
    are no string are out of reach, values that are no drawing are named, twelve pages asking for
    one drawing's pictures at once each get them whole, and a correction sent twice (a double
    click, or a retry after a lost answer) is kept once; the file route serves none of the home's
    own files."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    monkeypatch.setenv("DIGITPAD_HOME", str(shared.home))
    client = Client(shared.url, verbose=False)
    for args, api in [(("digitcnn", "me", ""), "/profile"), (("me", ""), "/forget"),
                      (("digitcnn", "me", None), "/profile"), (("digitcnn", "me", {"a": 1}), "/profile"),
                      (("digitcnn", "me", ["x"]), "/profile")]:
        with pytest.raises(AppError, match="This page's token is missing or not valid: reload the page."):
            client.predict(*args, api_name=api)
    for bad, said in [("hello", "the drawing is not JSON"), (42, "expected an image .* got int")]:
        verdict, *_ = client.predict(bad, "digitcnn", "me", "", api_name="/read")
        assert re.match(f"That canvas could not be read: {said}", verdict)
        with pytest.raises(AppError, match=f"That canvas could not be read: {said}"):
            client.predict(bad, "digitcnn", api_name="/read_strokes")

    value = pendigits.pad_value(next(d for d in drawings if d.label == 3), np.random.default_rng(3))
    token = owners.new()

    def pictures(_):
        panels = Client(shared.url, verbose=False).predict(value, "digitcnn", "me", token, api_name="/look")
        return [open(p, "rb").read() for p in panels if isinstance(p, str) and p.endswith(".png")]
    with ThreadPoolExecutor(12) as pool:
        got = list(pool.map(pictures, range(12)))
    assert len(got[0]) == 9 and all(g == got[0] for g in got)  # heat maps, layers, responses, dense

    client.predict(value, "digitcnn", "me", token, api_name="/read_drawing")
    for _ in range(2):
        _, gallery, score, _ = client.predict("digitcnn", "me", token, api_name="/it_was_3")
    assert len(gallery) == 1 and "On your 1 drawing" in score

    models = list((shared.home / "profiles").rglob("*.pt"))  # taught models, this one's among them
    exports = shared.home / "exports"
    assert models and (shared.home / "secret").is_file()
    for path in (shared.home / "secret", shared.home / "drawings.sqlite", *models, f"{exports}/../secret",
                 f"{exports}/%2e%2e/secret", f"{exports}/..%2fdrawings.sqlite", f"{exports}/../../../etc/passwd"):
        assert status(f"{shared.url}gradio_api/file={path}") in (403, 404), path


def test_six_of_the_largest_drawings_at_once_cost_the_server_under_200_mib(shared, drawings, monkeypatch):
    """Probe 4's last: six clients send the costliest drawing a pad's value may carry (5,000
    random points over a 4,096 canvas; six 12000x12000 canvases once made another reading wait
    16.9 s) for its reading and its maps, while a seventh reads a pen digit."""
    from gradio_client import Client

    monkeypatch.setenv("DIGITPAD_HOME", str(shared.home))
    token, bomb = owners.new(), bombs.largest_pad()
    seven = pendigits.pad_value(next(d for d in drawings if d.label == 7), np.random.default_rng(7))

    def send(value):
        client = Client(shared.url, verbose=False)
        verdict, *_ = client.predict(value, "digitcnn", "me", token, api_name="/read_drawing")
        client.predict(value, "digitcnn", "me", token, api_name="/look")
        return verdict
    with ThreadPoolExecutor(7) as pool:
        list(pool.map(send, [seven] * 7))  # seven clients at once grow a server once (threads, arenas)
        Path(f"/proc/{shared.pid}/clear_refs").write_text("5")  # the server's peak starts again from here
        before = rss_mib(shared.pid)
        verdicts = list(pool.map(send, [bomb] * 6 + [seven]))
    grown = rss_mib(shared.pid, peak=True) - before
    print(f"six bombs at once: the server's peak {grown:.0f} MiB over its memory before")
    assert grown < 200
    assert verdicts[-1].startswith("It's a 7")  # the bombs ink the whole canvas: no digit in them


def test_a_picture_is_never_read_half_written_while_pages_are_sent_it(tmp_path):
    """Six threads cache one new picture at once while the test reads the file: it is absent or
    whole (Gradio's own writer, which rewrites the file in place, failed this)."""
    for seed in range(20):
        image = np.random.default_rng(seed).integers(0, 255, (256, 256, 3), np.uint8)
        start, made, seen = threading.Barrier(7), [], []

        def cache():
            start.wait()
            made.append(served(image, str(tmp_path)))
        writers = [threading.Thread(target=cache) for _ in range(6)]
        for w in writers:
            w.start()
        start.wait()
        while any(w.is_alive() for w in writers):
            for path in tmp_path.glob("*/*.png"):
                with contextlib.suppress(FileNotFoundError):
                    seen.append((str(path), path.read_bytes()))
        for w in writers:
            w.join()
        whole = Path(made[0]).read_bytes()
        assert set(made) == {made[0]} and Image.open(io.BytesIO(whole)).size == (256, 256)
        assert all(data == whole for path, data in seen if path == made[0])


def training_processes(home_folder) -> list[int]:
    """Pids of `python -m digitpad.train` runs writing into this home (from /proc)."""
    found = []
    for cmdline in os.scandir("/proc"):
        try:
            argv = open(f"/proc/{cmdline.name}/cmdline", "rb").read().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"digitpad.train" in argv and any(str(home_folder).encode() in a for a in argv):
            found.append(int(cmdline.name))
    return found


def test_imports_that_would_exhaust_the_server_are_refused_in_a_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITPAD_HOME", str(tmp_path))
    store = Store(tmp_path / "drawings.sqlite")
    me = store.profile("me", "owner")

    def import_of(entries: dict, room: int = 500) -> tuple[int, list]:
        path = tmp_path / "import.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in entries.items():
                z.writestr(name, data)
        return store.import_zip(me, path, room=room)

    ink = png(np.zeros((28, 28), np.uint8))
    blank = io.BytesIO()
    Image.new("L", (10_000, 10_000), 255).save(blank, "PNG")  # 10 KB packed, 100 MP unpacked
    added, problems = import_of({"drawings.csv": "file,label,said,model,created\n" + "1.png,3,3,x,0\n" * 20,
                                 "inputs/1.png": ink, "canvases/1.png": blank.getvalue()})
    assert added == 0 and problems == ["canvases/1.png: 10000x10000 pixels, more than 1024 a side"] * 20
    huge = bytearray(blank.getvalue())
    huge[16:24] = struct.pack(">II", 50_000, 50_000)  # a header past PIL's own bomb limit (it raises)
    added, problems = import_of({"drawings.csv": "file,label,said,model,created\n1.png,3,3,x,0\n",
                                 "inputs/1.png": ink, "canvases/1.png": bytes(huge)})
    assert added == 0 and problems == ["canvases/1.png: 50000x50000 pixels, more than 1024 a side"]

    added, problems = import_of({"drawings.csv": "x" * (IMPORT_BYTES + 1)})
    assert added == 0 and f"more than an import may hold ({IMPORT_BYTES:,})" in problems[0]

    rows = "file,label,said,model,created\n" + "1.png,3,3,x,0\n" * 300_000
    added, problems = import_of({"drawings.csv": rows, "inputs/1.png": ink}, room=20)
    assert added == 20 and problems == ["drawings.csv line 22: not added: the profile is full"]

    added, problems = import_of({"drawings.csv": "file,label,said,model,created\n"
                                                 "1.png,3,1000000000000000000000000000000,x,0\n"
                                                 "1.png,-7,3,x,0\n1.png,3,3,x,0\n",
                                 "inputs/1.png": b"hello"})
    assert added == 0 and problems == [
        "drawings.csv line 2: '10000000000000000000' is not a digit 0-9",
        "drawings.csv line 3: '-7' is not a digit 0-9", "inputs/1.png: not a PNG image"]


def test_no_bomb_costs_200_mib(tmp_path):
    """Each bomb a client can send (the imports above, the largest pad values, a pushed drawing,
    the rotation curve), run in a process of its own, its peak memory reset before each. Their
    times are a benchmark's: `python scripts/bench.py latency` prints both."""
    costs = bombs.costs(tmp_path)
    assert len(costs) == 8
    for bomb, (seconds, mib) in costs.items():
        assert mib < 200, f"{bomb}: {mib:.0f} MiB"


def test_exported_cells_never_run_as_spreadsheet_formulas(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITPAD_HOME", str(tmp_path))
    store = Store(tmp_path / "drawings.sqlite")
    me = store.profile("me")
    import torch
    store.add(me, torch.zeros(1, 28, 28), None, 3, Read('=HYPERLINK("http://x","y")', 3, 3, 3))
    with zipfile.ZipFile(store.export_zip(me, tmp_path / "out.zip")) as z:
        row = z.read("drawings.csv").decode().splitlines()[1]
    assert "'=HYPERLINK" in row


def test_the_port_check_lets_a_crashed_servers_port_be_reused():
    """A connection the server side closed first leaves a TIME_WAIT socket on the port."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn's, under Gradio
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.close()  # the server's side closes first: its socket waits in TIME_WAIT
    time.sleep(0.2)
    client.close()
    assert port_taken("127.0.0.1", port)  # still listening
    listener.close()
    assert not port_taken("127.0.0.1", port)


def test_only_the_browser_that_started_a_run_stops_it_and_a_killed_server_ends_it(
        shared, browser, monkeypatch):
    """A script's fifth run in an hour is refused too (the four before it, while hers trains, as
    busy). Last in this file: it kills the module's server, while the run is still starting (the
    run notices a server gone before it began watching, too)."""
    from playwright.sync_api import expect

    mine, theirs = (open_pad(browser.new_context(), shared.url) for _ in range(2))
    for page in (mine, theirs):
        page.get_by_role("tab", name="Train").click()
    mine.locator("#train-pen input").uncheck()
    mine.locator("#train-start").click()
    expect(mine.locator("#train-bar")).to_contain_text("Starting", timeout=60_000)
    theirs.locator("#train-stop").click()
    expect(theirs.locator("#train-result")).to_contain_text("Another browser started this run")
    trainer = training_processes(shared.home)
    assert len(trainer) == 1

    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from digitpad.app.train_tab import RUNS_PER_HOUR
    monkeypatch.setenv("DIGITPAD_HOME", str(shared.home))  # to sign a token as this server does
    script, token = Client(shared.url, verbose=False), owners.new()
    for _ in range(RUNS_PER_HOUR):  # each asked for, counted, and refused while hers trains
        with pytest.raises(AppError, match="a model is training already"):
            script.predict("digitcnn", 1, False, 1000, "me", token, api_name="/train")
    with pytest.raises(AppError, match=f"asked for {RUNS_PER_HOUR} runs in an hour"):
        script.predict("digitcnn", 1, False, 1000, "me", token, api_name="/train")

    shared.send_signal(signal.SIGKILL)  # the server dies as the run starts: the run ends with it
    shared.wait(10)
    deadline = time.monotonic() + 20
    while training_processes(shared.home) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert training_processes(shared.home) == []
