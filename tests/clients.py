"""Drive a running digitpad app from outside: start it on a loopback port, send drawings
through gradio_client, or draw them in a browser with playwright (both in the test extra).

Used by the tests and the benchmarks.
"""
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(*flags: str, timeout: float = 90) -> tuple[subprocess.Popen, str]:
    """`python -m digitpad` on a free loopback port; returns the process and its URL once it listens."""
    port = free_port()
    # A file, not a pipe: a pipe nobody reads fills up and stalls the server mid-response.
    log = tempfile.NamedTemporaryFile("w+", prefix="digitpad-", suffix=".log")
    proc = subprocess.Popen([sys.executable, "-m", "digitpad", "--port", str(port), *flags],
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"digitpad exited: {log.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            proc.log = log  # read it by name (log_text): seeking this shared handle would move the server's writes
            return proc, f"http://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise TimeoutError(f"digitpad did not listen on port {port} within {timeout} s")


def log_text(proc: subprocess.Popen) -> str:
    """What a process from start_app has printed so far."""
    return Path(proc.log.name).read_text()


def send_all(url: str, batches: list[list[str]], model: str = "digitcnn",
             timeout: float = 120) -> tuple[list[list], float]:
    """One concurrent client per batch sends its pad values (strokes JSON) in turn to /read, the
    pad's own event.

    Returns, per client, the (value, verdict, probabilities) it got, and the wall time.
    Clients send different drawings: Gradio caches output images by content, and two identical
    ones written at the same instant can race in that cache (seen as a truncated download).
    """
    from gradio_client import Client

    def one_client(values: list[str]):
        client = Client(url, verbose=False)
        out = []
        for value in values:
            job = client.submit(value, model, "me", "", api_name="/read")
            verdict, probs, *_ = job.result(timeout=timeout)
            out.append((value, verdict, probs))
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(len(batches)) as pool:
        results = list(pool.map(one_client, batches, timeout=timeout * max(map(len, batches))))
    return results, time.perf_counter() - start


def rss_mib(pid: int | str, peak: bool = False) -> float:
    """Resident memory of a process ("self": this one), or its peak since the last reset
    (clear_refs), from /proc (Linux)."""
    field = "VmHWM:" if peak else "VmRSS:"
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for pid {pid}")


def open_pad(browser, url: str):
    """A new playwright tab (in a Browser or a BrowserContext) on the page, once its pad is there."""
    page = browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.goto(url)
    pad_ready(page)
    return page


def as_profile(page, who: str):
    """The page, drawing as `who` (typed into "Who is drawing?")."""
    page.locator("#who input").fill(who)
    page.locator("#who input").press("Enter")
    return page


def pad_ready(page) -> None:
    """Wait until the pad listens (its canvas shows before its script runs) and, on digitpad's
    page, until its load events have filled the score line, so that a first drawing never races
    the page's start-up (suspected where CI once saw no reading at all). Notes pen-ups."""
    from playwright.sync_api import expect

    expect(page.locator("#pad canvas[data-ready]").first).to_be_visible(timeout=30_000)
    if page.locator("#score").count():  # the benchmarks' bare pages have none
        expect(page.locator("#score")).not_to_be_empty(timeout=60_000)
    note_pen_ups(page)


def note_pen_ups(page) -> None:
    """Note in the page when each pen, mouse or finger lifts (see pen_up): timed in the page,
    not after this process's round trips to it, which came 25-90 ms late."""
    page.evaluate("() => addEventListener('pointerup', () => window.penUp = performance.now(), true)")


def pen_up(page) -> float:
    """The page's performance.now() at the last pen-up."""
    return page.evaluate("window.penUp")


def strokes_on(page, drawing, selector: str = "#pad canvas") -> list:
    """A pen digit's strokes in page coordinates, centred on the pad at 60% of its size."""
    import numpy as np

    box = page.locator(selector).first.bounding_box()
    pts = np.concatenate(drawing.strokes)
    lo, hi = pts.min(0), pts.max(0)
    scale = 0.6 * min(box["width"], box["height"]) / (hi - lo).max()
    origin = np.array([box["x"] + box["width"] / 2, box["y"] + box["height"] / 2]) - (lo + hi) / 2 * scale
    return [(stroke * scale + origin).tolist() for stroke in drawing.strokes]


def paced(page, points: list, seconds: float):
    """The points one by one, each no sooner than its share of `seconds` from the first."""
    start = time.perf_counter()
    for i, point in enumerate(points, start=1):
        yield point
        if (ahead := start + seconds * i / len(points) - time.perf_counter()) > 0:
            page.wait_for_timeout(ahead * 1000)


def draw(page, drawing, every: int = 2, stroke_s: float = 0) -> None:
    """Draw a pen digit on the pad with the mouse: every `every`-th point of each stroke, each
    stroke taking at least `stroke_s` seconds, as a person's pen would."""
    for xy in strokes_on(page, drawing):
        page.mouse.move(*xy[0])
        page.mouse.down()
        for x, y in paced(page, xy[1::every], stroke_s):
            page.mouse.move(x, y)
        page.mouse.up()


def draw_and_read(page, drawing, says="It's a") -> None:
    """Draw a pen digit with the mouse and wait for the page's final reading of it, whose verdict
    says `says` (a string or pattern): answers also arrive mid-stroke, so wait for the last one."""
    from playwright.sync_api import expect

    draw(page, drawing)
    expect(page.locator("#verdict")).to_contain_text(says, timeout=60_000)  # a first reading under load
    settle(page, "#input28 img", quiet_s=1.0)  # the last reading lands ~0.2 s after pen-up


def touch_draw(page, drawing, stroke_s: float = 0) -> None:
    """Draw a pen digit on the pad with one finger: touch events through Chromium's DevTools."""
    cdp = page.context.new_cdp_session(page)

    def touch(kind, points):
        cdp.send("Input.dispatchTouchEvent",
                 {"type": kind, "touchPoints": [{"x": x, "y": y} for x, y in points]})
    for xy in strokes_on(page, drawing):
        touch("touchStart", xy[:1])
        for point in paced(page, xy[1::2], stroke_s):
            touch("touchMove", [point])
        touch("touchEnd", [])
    cdp.detach()


def watch(page, selector: str) -> None:
    """Record every change of what the element at `selector` shows (time, its HTML) in the page.
    Gradio's status tracker inside it is left out: hidden, its text still ticks with each event's
    queue and timer, which made a page that had long shown its answer look as if still changing."""
    page.wait_for_selector(selector, state="attached")
    page.evaluate("""selector => { window.changes = window.changes || {}; const seen = window.changes[selector] = [];
      const el = document.querySelector(selector);
      const shown = () => { const copy = el.cloneNode(true);
        copy.querySelectorAll('[data-testid=status-tracker]').forEach(t => t.remove()); return copy.innerHTML; };
      new MutationObserver(() => { const html = shown();
        if (!seen.length || seen[seen.length - 1][1] !== html) seen.push([performance.now(), html]); })
        .observe(el, {subtree: true, childList: true, attributes: true, characterData: true}); }""",
                  selector)


def changes(page, selector: str, since: float = 0, until: float = float("inf")) -> list[tuple[float, str]]:
    """What `watch` recorded of `selector` between two of the page's performance.now() times."""
    return [(t, html) for t, html in page.evaluate("s => window.changes[s]", selector) if since < t < until]


def settle(page, selector: str, quiet_s: float = 2.0, timeout_s: float = 30.0) -> None:
    """Wait until the image at `selector` has not changed for `quiet_s` seconds."""
    _settle(lambda: page.locator(selector).first.get_attribute("src"), page, selector, quiet_s, timeout_s)


def settle_html(page, selector: str, quiet_s: float = 2.0, timeout_s: float = 30.0) -> None:
    """Wait until the element at `selector` has not changed for `quiet_s` seconds."""
    _settle(lambda: page.locator(selector).first.inner_html(), page, selector, quiet_s, timeout_s)


def _settle(read, page, selector, quiet_s, timeout_s):
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        page.wait_for_timeout(200)
    raise TimeoutError(f"{selector} kept changing for {timeout_s} s")
