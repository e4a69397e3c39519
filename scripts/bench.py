"""digitpad's benchmarks, each a side-by-side comparison in one run.

train:   time to 99.0% MNIST test accuracy (checked every 5,000 images) and images/s for
         digitcnn: the seeds' pipeline and recipe, digitpad's pipeline with the seeds' recipe, and
         scripts/train.py's default recipe for one epoch, to 99% and to the epoch's end.
renders: seconds per training epoch with the pen digits drawn anew every epoch (the default)
         beside the three cached renders, digitcnn, three-epoch runs alternated; the middle
         epoch is timed, as it waits for its own set and trains while the next is drawn. First,
         how long one set of every pen digit takes to draw with nothing else running.
explain: the heat maps on the 100 pen drawings tests/test_explain.py checks, for each zoo model:
         the answer's probability lost when its 20 reddest pixels are blanked, against 20 random
         ink pixels; how closely the ten maps add up to the score changes, at 16 and 256 steps.
latency: the pad's two handlers over real pen drawings sent as the pad sends them (the reading,
         and the maps and heat maps at pen-up), for each zoo model, and for digitcnn again while
         the Train tab's subprocess trains; then values that are no drawing, each answered in words.
load:    drawings per second the running app answers for 1, 5 and 20 concurrent clients.
browser: in headless Chromium, seconds from the last pen-up to the final reading and the final
         maps, beside a page with the same stroke pad and a handler that only echoes, and beside
         the Sketchpad page digitpad had before; the readings shown while a stroke of half a
         second is drawn; and from a click on "It was" to the picker showing the model taught
         with that drawing.
class:   simulated students draw pen digits at a person's pace against one `digitpad --host
         127.0.0.1`, through the pad's own events: final-reading latency, errors, memory.
teach:   in each writer fold, every unseen writer teaches the fold's digitcnn their first k
         drawings of each digit (k = 1, 2, 3), sent as the pad sends strokes; their other digits
         are read before and after, and so are the other unseen writers' digits (forgetting).
         Rehearsal comes from the fold's training writers only. Fold models missing from
         runs/folds/ are trained first.
"""
import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tqdm import tqdm

from digitpad import data, drawn, explain, fresh, pendigits, pixels, render, runs, strokes, teaching, train
from digitpad.models import MODELS, DigitCNN
from digitpad.names import DEFAULT_MODEL
from digitpad.pendigits import CANVAS
from digitpad.push import SWEEP, Push
from digitpad.settings import FAST, SEEDS
from digitpad.steps import evaluate, train_step
from digitpad.train import build_trainable, fold_weights
from digitpad.weights import load, load_model

# The harness that drives the app (start it, draw in a browser) lives with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

TARGET = 0.99
CHECK_EVERY = 5_000  # training images between test-accuracy checks on the way to TARGET
SECTIONS = ("train", "renders", "explain", "latency", "load", "browser", "class", "teach")
TEACH_K = (1, 2, 3)


def seeds_batches(root, batch_size, seed):
    """The seeds' pipeline: ToTensor + Normalize per item, through a DataLoader."""
    from torchvision import datasets, transforms
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((data.MEAN,), (data.STD,))])
    ds = datasets.MNIST(str(root), train=True, download=True, transform=tf)
    index = torch.arange(len(ds))
    gen = torch.Generator().manual_seed(seed)
    while True:
        # The batches data.batches draws, so every pipeline trains on the same ones. Given its own
        # generator, the loader draws its worker seed there, not from the dropout masks' stream.
        order = [idx.tolist() for idx, _ in data.batches(index, index, batch_size, gen)]
        yield from torch.utils.data.DataLoader(ds, batch_sampler=order, generator=torch.Generator())


def digitpad_batches(images, labels, batch_size, seed):
    """digitpad's pipeline: MNIST held once as a normalized tensor, batched as train.py batches it."""
    gen = torch.Generator().manual_seed(seed)
    while True:
        yield from data.batches(images, labels, batch_size, gen)


class WriteupDigitCNN(DigitCNN):
    """digitcnn as S1 wrote it, ReLU before each pool: the same function as digitpad's."""

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(self.dropout(x))


def seeds_trainable(lr):
    """The seeds' model and optimizer as they wrote them: default layout, default Adam."""
    model = WriteupDigitCNN()
    return model, torch.optim.Adam(model.parameters(), lr=lr)


def time_to_target(batches, trainable, test, limit_s=600):
    """Train digitcnn from scratch; the clock stops for test evaluations. Returns (s, images, acc)."""
    torch.manual_seed(0)  # the same initial weights for every run
    model, opt = trainable()
    x_test, y_test = test
    seen, since, clock, acc = 0, 0, 0.0, 0.0
    start = time.perf_counter()
    for x, y in batches:
        model.train()
        train_step(model, opt, x, y)
        seen += len(y)
        since += len(y)
        if since >= CHECK_EVERY:
            clock += time.perf_counter() - start
            _, acc, _ = evaluate(model, x_test, y_test)
            if acc >= TARGET or clock > limit_s:
                return clock, seen, acc
            since = 0
            start = time.perf_counter()
    raise AssertionError("unreachable")


def default_recipe(root, test, seed):
    """scripts/train.py's default recipe for one epoch, its test accuracy checked as time_to_target
    checks it: ((seconds, images, acc) at the first check at 99%, the same for the whole epoch).
    Seconds are the training loop's, as time_to_target's: not loading, validating or testing."""
    x_test, y_test = test
    checked, reached = [0], []

    def watch(images, seconds, model):
        if reached or images - checked[0] < CHECK_EVERY:
            return
        checked[0] = images
        _, acc, _ = evaluate(model, x_test, y_test)
        if acc >= TARGET:
            reached.append((seconds, images, acc))

    with tempfile.TemporaryDirectory() as tmp:
        meta = train.fit(replace(FAST, epochs=1, seed=seed, data_dir=root, out=Path(tmp),
                                 report_dir=Path(tmp)), watch)
    whole = meta["train_loop_s"], meta["images_seen"], meta["test_acc"]
    # Not at 99% by the last check: the epoch's end is one more.
    return reached[0] if reached else whole, whole


def bench_train(args):
    root = args.data_dir or data.default_data_dir()
    test = data.load_mnist(root, train=False)
    images, labels = data.load_mnist(root, train=True)
    images = data.normalize(images)
    lr, batch = SEEDS.lr, SEEDS.batch_size
    default = (f"pen digits, augmentation, batch {FAST.batch_size}, warm-up and "
               f"linear decay, label smoothing, EMA, bf16")
    runs = [(["the seeds' pipeline and recipe: DataLoader, per-item ToTensor/Normalize, S1's model, "
              "Adam 1e-3, batch 64, plain MNIST"],
             lambda seed: [time_to_target(seeds_batches(root, batch, seed), lambda: seeds_trainable(lr), test)]),
            (["digitpad's pipeline, the seeds' recipe: in-memory tensors, pool before ReLU, "
              "channels-last, fused Adam"],
             lambda seed: [time_to_target(digitpad_batches(images, labels, batch, seed),
                                          lambda: build_trainable("digitcnn", lr, "cpu"), test)]),
            ([f"digitpad's default: scripts/train.py --epochs 1 ({default})",
              "the same run's whole epoch (its schedule ends there)"],
             lambda seed: default_recipe(root, test, seed))]
    names = [name for row_names, _ in runs for name in row_names]
    results = [[] for _ in names]
    # Seeds outside, pipelines inside: a machine that speeds up or slows down during the run
    # shifts every pipeline alike.
    for seed in range(args.repeats):
        rows = [row for _, run in runs for row in run(seed)]
        for i, (name, (seconds, seen, acc)) in enumerate(zip(names, rows)):
            print(f"  seed {seed}, {name}: {seconds:6.1f} s, {seen:,} images, "
                  f"{seen / seconds:,.0f} images/s, test acc {acc:.2%}", flush=True)
            results[i].append((seconds, seen, acc))
    base = float(np.median([r[0] for r in results[0]]))
    print(f"\ndigitcnn to {TARGET:.1%} MNIST test accuracy, checked every {CHECK_EVERY:,} images with the "
          f"clock stopped, two threads; medians of {args.repeats} seeds")
    print(f"| pipeline and recipe | time to {TARGET:.1%} | images | images/s | test accuracy "
          f"(lowest) | speed-up |")
    print("|---|---|---|---|---|---|")
    for name, r in zip(names, results):
        seconds, seen, acc = (np.array(v) for v in zip(*r))
        reached = "" if acc.min() >= TARGET else f" (not reached by {(acc < TARGET).sum()} of {len(acc)})"
        print(f"| {name} | {np.median(seconds):.1f} s{reached} | {np.median(seen):,.0f} | "
              f"{seen.sum() / seconds.sum():,.0f} | {acc.min():.2%} | {base / np.median(seconds):.2f}x |")


def drawing_a_set(source: Path, repeats: int) -> tuple[list, list]:
    """The pen digits and the seconds each of `repeats` epochs' sets took to draw, after one
    set that starts the processes."""
    drawings = pendigits.load(source)
    renders = fresh.EpochRenders(source, drawings, {d.writer for d in drawings}, seed=0)
    try:
        renders.get(0)
        seconds = []
        for epoch in range(1, repeats + 1):
            start = time.perf_counter()
            renders.get(epoch)
            seconds.append(time.perf_counter() - start)
    finally:
        renders.close()
    return drawings, seconds


def bench_renders(args):
    root, source = args.data_dir or data.default_data_dir(), pendigits.locate(args.pendigits)
    epochs, wall = {"cached": [], "fresh": []}, {"cached": [], "fresh": []}
    with tempfile.TemporaryDirectory() as tmp:
        # Built before the clock: the cache is made once per machine, not per run.
        pendigits.cached(source, "white", train.PEN_RENDERS)
        pen, set_seconds = drawing_a_set(source, args.repeats)
        for seed in range(args.repeats):
            for mode in epochs:
                start = time.perf_counter()
                train.fit(replace(FAST, epochs=3, seed=seed, pen_renders=mode, data_dir=root,
                                  pendigits=args.pendigits, out=Path(tmp), report_dir=Path(tmp)))
                wall[mode].append(time.perf_counter() - start)
                history = json.loads((Path(tmp) / "digitcnn.json").read_text())["history"]
                # The first set is drawn before the clock and none is drawn during the last
                # epoch, so only the middle one costs what every epoch of a long run costs.
                epochs[mode].append(history[1]["seconds"])
    base = np.median(epochs["cached"])
    print(f"\nOne set of all {len(pen)} pen digits drawn anew on {fresh.WORKERS} processes, "
          f"nothing else running: {', '.join(f'{s:.1f} s' for s in set_seconds)}")
    print(f"\ndigitcnn, {args.repeats} runs of three epochs per way, two threads; medians of the "
          "middle epochs")
    print("| pen digits | seconds an epoch | whole run, loading included | epoch cost |")
    print("|---|---|---|---|")
    for mode, name in (("cached", "three renders, cached"), ("fresh", "drawn anew every epoch")):
        print(f"| {name} | {np.median(epochs[mode]):.1f} s | {np.median(wall[mode]):.1f} s | "
              f"{np.median(epochs[mode]) / base:.2f}x |")


def bench_explain(args):
    x = drawn.sample_inputs(pendigits.load(pendigits.locate(args.pendigits)), 100, seed=21)
    print(f"\n{len(x)} pen drawings; maps' error: how far the ten maps miss adding up to the logit "
          "changes from the blank canvas, as a share of the largest change")
    print("| model | probability lost, 20 reddest pixels blanked (mean) | 20 random ink pixels (mean) | "
          f"reddest cost more | maps' error, {explain.STEPS} steps as the page (median, worst) | 256 steps (median, worst) |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        model = load_model(name)
        reddest, random = explain.blanking_drops(model, x)
        errors = [[explain.completeness_error(model, one[None], steps) for one in x] for steps in (explain.STEPS, 256)]
        print(f"| {name} | {reddest.mean():.2f} | {random.mean():.2f} | {(reddest > random).mean():.0%} | " +
              " | ".join(f"{np.median(e):.0%}, {max(e):.0%}" for e in errors) + " |")


def handler_ms(model, values, zoo: dict) -> tuple[list, list, list]:
    """Milliseconds of the pad's handlers for each value: the reading sent while the pen moves
    and at pen-up (read), the maps, heat maps and dense layers after pen-up (look), and with
    them every zoo model's reading of the drawing (the zoo row)."""
    filters = pixels.filters_image(model)
    render.panels(model, values[0], filters)  # warm-up
    read, look, row = [], [], []
    for v in values:
        t0 = time.perf_counter()
        g = render.glance(model, v)
        t1 = time.perf_counter()
        render.panels(model, v, filters)
        t2 = time.perf_counter()
        if g.x is not None:
            render.zoo_row(zoo, g.x)
        t3 = time.perf_counter()
        read.append((t1 - t0) * 1000)
        look.append((t2 - t1) * 1000)
        row.append((t3 - t2) * 1000)
    return read, look, row


def bad_values() -> dict[str, str]:
    """Values a client may send the pad's endpoints that are no drawing, by what is wrong."""
    blank = json.loads(strokes.empty())
    return {"not JSON": "{" * 1000, "wrong nesting": json.dumps({"size": [400, 400], "strokes": [1, [2]]}),
            "NaN and inf": '{"size": [400, 400], "strokes": [[[1, NaN], [Infinity, 2]]]}',
            "100,000 points": json.dumps({**blank, "strokes": [[[200.5, 200.5]] * 100_000]}),
            "far outside": json.dumps({**blank, "strokes": [[[1, 1], [1e9, 1]]]}),
            "empty drawing": strokes.empty()}


@contextlib.contextmanager
def throwaway_home():
    """digitpad's home in a temporary folder for the block, so the user's drawings and runs stay
    out of it, and the sections after it find the user's home (and its fold models) again."""
    before = os.environ.get("DIGITPAD_HOME")
    with tempfile.TemporaryDirectory(prefix="digitpad-bench-") as tmp:
        os.environ["DIGITPAD_HOME"] = tmp
        try:
            yield tmp
        finally:
            if before is None:
                del os.environ["DIGITPAD_HOME"]
            else:
                os.environ["DIGITPAD_HOME"] = before


def training_in_the_background():
    """A run as the page's Train tab starts it (MNIST alone, 5 epochs), once it is past loading
    and training; stop it with .stop()."""
    run = runs.Run.start("digitcnn", 5, pen=False, images=None, threads=runs.THREADS)
    while not any(e["event"] == "step" for e in run.events()):
        if not run.running():
            raise RuntimeError(f"the training run ended early: {run.last_words()}")
        time.sleep(0.2)
    return run


def bench_latency(args):
    torch.set_num_threads(1)  # as the app runs
    drawings = drawn.sample(pendigits.load(pendigits.locate()), args.drawings, seed=11)
    rng = np.random.default_rng(11)
    values = [pendigits.pad_value(d, rng) for d in drawings]
    zoo = {name: load_model(name) for name in MODELS}
    rows = [(name, *handler_ms(load_model(name), values, zoo)) for name in args.models]
    with throwaway_home():
        run = training_in_the_background()
        try:
            rows.append((f"{DEFAULT_MODEL}, while the Train tab trains ({runs.THREADS} thread"
                         f"{'s' * (runs.THREADS != 1)})", *handler_ms(load_model(), values, zoo)))
        finally:
            run.stop()
            run.wait()
    print(f"\n| model | read (pen moving, pen-up) p50 | read p95 | look (maps, dense layers at pen-up) p50 | "
          f"look p95 | zoo row ({len(zoo)} models) p95 | look + zoo row p95 |\n|---|---|---|---|---|---|---|")
    for name, read, look, row in rows:
        print(f"| {name} | {np.median(read):.1f} ms | {np.percentile(read, 95):.1f} ms | "
              f"{np.median(look):.1f} ms | {np.percentile(look, 95):.1f} ms | {np.percentile(row, 95):.1f} ms | "
              f"{np.percentile(np.add(look, row), 95):.1f} ms |")
    model = load_model()
    curve = []
    for v in values[:20]:
        t0 = time.perf_counter()
        render.curve(model, v, Push())
        curve.append((time.perf_counter() - t0) * 1000)
    print(f"\nThe rotation curve ({len(SWEEP)} turns, one batched pass), while Push it until it breaks is "
          f"open: p50 {np.median(curve):.0f} ms, p95 {np.percentile(curve, 95):.0f} ms")
    import bombs
    with tempfile.TemporaryDirectory(prefix="digitpad-bombs-") as folder:
        costs = bombs.costs(Path(folder))
    print("\n| a bomb a client can send (tests/bombs.py, a process of its own) | seconds | peak memory |\n|---|---|---|")
    for bomb, (seconds, mib) in costs.items():
        print(f"| {bomb} | {seconds:.2f} s | {mib:.0f} MiB |")
    print("\n| a value that is no drawing | slowest of 5, read and look together | what the page says |\n|---|---|---|")
    for what, value in bad_values().items():
        slowest = max(sum(ms[0] for ms in handler_ms(model, [value], zoo)[:2]) for _ in range(5))
        print(f"| {what} | {slowest:.1f} ms | {render.glance(model, value).verdict[:90]} |")


def bench_load(args):
    from clients import rss_mib, send_all, start_app
    rng = np.random.default_rng(12)
    values = [pendigits.pad_value(d, rng) for d in drawn.sample(pendigits.load(pendigits.locate()), 500, seed=12)]
    with throwaway_home():
        proc, url = start_app()
        try:
            send_all(url, [values[:25]])  # warm-up
            print("\n| clients | drawings | seconds | drawings/s | server memory |\n|---|---|---|---|---|")
            for clients in (1, 5, 20):
                results, seconds = send_all(url, [values[k * 25:(k + 1) * 25] for k in range(clients)])
                n = sum(len(r) for r in results)
                print(f"| {clients} | {n} | {seconds:.1f} | {n / seconds:.1f} | {rss_mib(proc.pid):.0f} MiB |")
        finally:
            proc.terminate()
            proc.wait(10)


def empty_page():
    """The stroke pad with a handler that only echoes how many points arrived: the floor that
    Gradio's round trip sets for any handler."""
    import gradio as gr

    from digitpad.app import stroke_pad
    with gr.Blocks(analytics_enabled=False) as demo:
        pad = stroke_pad()
        echo = gr.Markdown(elem_id="echo")
        for event in (pad.stroke, pad.penup):
            event(lambda v: f"{sum(map(len, json.loads(v)['strokes'])) if v else 0} points", pad, echo,
                  trigger_mode="always_last", show_progress="hidden")
    return demo


def sketchpad_page():
    """The pad the page had before the stroke pad: gr.Sketchpad at 400x400 with the same brush,
    its handler computing every panel as the page's did and showing the 28x28 view."""
    import gradio as gr

    model, filters = load_model(), None
    select_brush = """() => { const pick = () => { const b = document.querySelector('#pad button[aria-label="Brush"]');
      const canvas = document.querySelector('#pad canvas');
      if (b && canvas) { b.click(); canvas.dataset.ready = 'true'; } else setTimeout(pick, 100); }; pick(); }"""
    with gr.Blocks(analytics_enabled=False) as demo:
        pad = gr.Sketchpad(value={"background": None, "layers": [np.zeros((CANVAS, CANVAS, 4), np.uint8)],
                                  "composite": None},
                           type="numpy", image_mode="RGBA", format="png", height=440, layers=False,
                           canvas_size=(CANVAS, CANVAS), transforms=(), elem_id="pad",
                           brush=gr.Brush(default_size=16, colors=["#000000"], color_mode="fixed"))
        seen = gr.Image(elem_id="input28")
        demo.load(None, js=select_brush)
        pad.change(lambda c: render.panels(model, c, filters).input, pad, seen, trigger_mode="always_last",
                   show_progress="hidden")
    return demo


def pen_up_seconds(browser, url, drawing, selectors) -> dict[str, tuple[float, float]]:
    """For each selector, seconds from the last pen-up to its first and to its final change."""
    from clients import changes, draw, open_pad, pen_up, settle_html, watch
    page = open_pad(browser, url)
    for selector in selectors:
        watch(page, selector)
    draw(page, drawing)
    up = pen_up(page)
    out = {}
    for selector in selectors:
        settle_html(page, selector)
        after = changes(page, selector, since=up)
        final = after[-1][1]
        out[selector] = ((after[0][0] - up) / 1000, (min(t for t, html in after if html == final) - up) / 1000)
    page.close()
    return out


def readings_while_down(browser, url, drawing) -> tuple[float, int, np.ndarray]:
    """One stroke drawn over half a second: its seconds from pen-down to pen-up, how many
    readings the page showed meanwhile and the milliseconds between them."""
    from clients import changes, draw, open_pad, pen_up, watch
    page = open_pad(browser, url)
    watch(page, "#input28")
    down = page.evaluate("performance.now()")
    draw(page, drawing, every=4, stroke_s=0.5)  # fewer mouse moves: each is a round trip to the browser
    up = pen_up(page)
    times = [t for t, _ in changes(page, "#input28", down, up)]
    page.close()
    return (up - down) / 1000, len(times), np.diff(times)


def bench_browser(args):
    import shutil

    from playwright.sync_api import expect, sync_playwright

    from clients import draw_and_read, free_port, open_pad, start_app
    pen = pendigits.load(pendigits.locate(args.pendigits))
    drawings = drawn.sample(pen, args.clicks, seed=13)
    before = "digitpad's Sketchpad before"
    pages = {"digitpad": ["#input28", "#layers"], "empty handler": ["#echo"], before: ["#input28"]}
    with throwaway_home(), sync_playwright() as pw:
        proc, url = start_app()
        demos = {"empty handler": empty_page(), before: sketchpad_page()}
        urls = {"digitpad": url, **{name: demo.launch(server_port=free_port(), quiet=True,
                                                      prevent_thread_lock=True)[1]
                                    for name, demo in demos.items()}}
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        seconds, live = [], []
        lags = {(name, s): [] for name, selectors in pages.items() for s in selectors}
        try:
            for d in drawn.sample(pen, args.strokes, seed=14):  # in turn, so every page sees the same load
                for name, selectors in pages.items():
                    for selector, pair in pen_up_seconds(browser, urls[name], d, selectors).items():
                        lags[name, selector].append(pair)
            for d in [d for d in pen if d.label == 2 and len(d.strokes) == 1][:args.strokes]:
                live.append(readings_while_down(browser, url, d))
            for n, d in enumerate(drawings, start=1):
                page = open_pad(browser, url)
                draw_and_read(page, d, "It")
                start = time.perf_counter()
                page.locator("#correct button", has_text=str(d.label)).click()
                expect(page.locator("#picker input")).to_have_value(
                    f"digitcnn + your {n} drawing{'s' * (n != 1)}", timeout=30_000)
                seconds.append(time.perf_counter() - start)
                page.close()
        finally:
            browser.close()
            for demo in demos.values():
                demo.close()
            proc.terminate()
            proc.wait(10)
    shown = {"#input28": "the reading (verdict, probabilities, 28x28)", "#layers": "the feature maps",
             "#echo": "the echo"}
    print("\n| page | what shows | first change after pen-up (median) | final after pen-up (median) | "
          "(max) |\n|---|---|---|---|---|")
    for (name, selector), pairs in lags.items():
        first, final = np.array(pairs).T
        print(f"| {name} | {shown[selector]} | {np.median(first):.2f} s | {np.median(final):.2f} s | "
              f"{final.max():.2f} s |")

    def final(name, selector="#input28"):
        return np.median(np.array(lags[name, selector])[:, 1])
    ours = final("digitpad")
    print(f"digitpad's final reading: {ours / final('empty handler', '#echo'):.2f}x the empty handler's, "
          f"{ours / final(before):.2f}x the Sketchpad's ({args.strokes} drawings, {CANVAS}x{CANVAS} canvas)")
    down_s, counts, gaps = zip(*live)
    print(f"\n| while the pen is down: one-stroke 2s, each stroke {np.median(down_s):.2f} s (median) | "
          f"readings (median, fewest) | between readings (median) |\n|---|---|---|\n| {len(live)} strokes | "
          f"{np.median(counts):.0f}, {min(counts)} | {np.median(np.concatenate(gaps)):.0f} ms |")
    print("\n| from a click on It was to the taught model in the picker | median | max |\n|---|---|---|")
    print(f"| {len(seconds)} corrections, 1 to {len(seconds)} drawings | {np.median(seconds):.2f} s | "
          f"{max(seconds):.2f} s |")


PEN_EVERY_S = 0.016  # a pointer event every 16 ms, as a browser sends them at 60 Hz
LOOK_S = 1.0         # a student looks at the answer this long before drawing the next digit


class Tab:
    """One browser tab's traffic, as the page's own client sends it: events joined to Gradio's
    queue and their answers read from the session's event stream. Cheap enough that 30 of them
    leave this machine's cores to the server, as students' own devices would."""

    def __init__(self, http, url: str, endpoints: dict[str, int]):
        self.http, self.url, self.endpoints = http, url.rstrip("/") + "/gradio_api/queue/", endpoints
        self.session, self.first, self.waiting, self.done, self.reader = uuid.uuid4().hex, {}, {}, {}, None
        # The page holds its session open with a heartbeat stream; without it, Gradio builds the
        # session's state anew for every event.
        self.heartbeat = asyncio.create_task(self._beat(url.rstrip("/") + f"/gradio_api/heartbeat/{self.session}"))

    async def _beat(self, url: str):
        async with self.http.stream("GET", url, timeout=None) as r:
            async for _ in r.aiter_bytes():
                pass

    def close(self):
        self.heartbeat.cancel()

    async def send(self, endpoint: str, *data):
        """Join the queue; futures of the event's first outputs and of its last (raising its error).
        `data` holds every input, the page's state (None: as it starts) included."""
        r = await self.http.post(self.url + "join", json={
            "data": list(data), "fn_index": self.endpoints[endpoint], "session_hash": self.session,
            "event_data": None, "trigger_id": None})
        r.raise_for_status()
        event = r.json()["event_id"]
        loop = asyncio.get_running_loop()
        first, last = self.first[event], self.waiting[event] = loop.create_future(), loop.create_future()
        for message in self.done.pop(event, []):
            self._take(event, message)
        if self.reader is None or self.reader.done():
            self.reader = asyncio.create_task(self._read())
        return first, last

    def _take(self, event, message):
        """A message of a generator's outputs ('process_generating') or of the event's end."""
        if message["msg"] == "process_generating" or message.get("success"):
            for futures in (self.first, *(() if message["msg"] == "process_generating" else (self.waiting,))):
                if event in futures and not futures[event].done():
                    futures[event].set_result(message["output"]["data"])
        else:
            for futures in (self.first, self.waiting):
                if not futures[event].done():
                    futures[event].set_exception(RuntimeError(str(message.get("output", message))[:200]))
        if message["msg"] == "process_completed":
            self.first.pop(event)
            self.waiting.pop(event)

    async def _read(self):
        while self.waiting:  # the server closes the stream whenever nothing is pending
            async with self.http.stream("GET", self.url + "data", params={"session_hash": self.session}) as r:
                async for line in r.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    message = json.loads(line[5:])
                    if message["msg"] in ("process_generating", "process_completed"):
                        if message["event_id"] in self.waiting:
                            self._take(message["event_id"], message)
                        else:  # its join's answer has not come back yet
                            self.done.setdefault(message["event_id"], []).append(message)


async def student(tab: Tab, drawings: list, seed: int, until: float) -> tuple[list, list, int, list]:
    """One simulated student drawing pen digits at a person's pace, sending what the page sends
    (the pad's 'stroke' every 60 ms while no live answer is awaited; 'penup' at each pen-up,
    then the maps once its reading is in). Returns seconds from the last pen-up
    to the final reading and to the maps, for each drawing, how many drawings were finished,
    and the errors."""
    from digitpad.app.pad import SEND_EVERY_MS
    rng = np.random.default_rng(seed)
    finals, maps, finished, errors = [], [], 0, []

    def value(so_far):
        return json.dumps({"size": [CANVAS, CANVAS], "strokes": so_far})

    async def maps_after(reading, drawn):  # the page asks for the maps once the reading is in
        await reading
        await (await tab.send("look", drawn, DEFAULT_MODEL, "me", "", None))[1]
    for d in drawings:
        if time.monotonic() >= until:
            break
        placed, _ = pendigits.placed(d, rng, CANVAS, strokes.BRUSH)
        so_far, live, sent, tick = [], None, 0.0, time.perf_counter()
        try:
            for stroke in placed:
                so_far.append([])
                for point in stroke.round(1).tolist():
                    so_far[-1].append(point)
                    tick += PEN_EVERY_S
                    await asyncio.sleep(max(0.0, tick - time.perf_counter()))
                    if (live is None or live.done()) and tick - sent >= SEND_EVERY_MS / 1000:
                        (live, _), sent = await tab.send("read", value(so_far), DEFAULT_MODEL, "me", "", None), tick
                up = tick = time.perf_counter()
                reading, _ = await tab.send("read_drawing", value(so_far), DEFAULT_MODEL, "me", "", None)
                panels = asyncio.create_task(maps_after(reading, value(so_far)))
            verdict, *_ = await asyncio.wait_for(reading, 60)
            finals.append(time.perf_counter() - up)
            await asyncio.wait_for(panels, 60)
            maps.append(time.perf_counter() - up)
            if not verdict.startswith(("It's a", "Not sure")):
                raise RuntimeError(f"no reading: {verdict[:80]}")
            finished += 1
        except Exception as e:  # each is counted and shown: the class must see none
            errors.append(f"{type(e).__name__}: {str(e)[:120]}")
        await asyncio.sleep(LOOK_S)
    return finals, maps, finished, errors


async def a_class(url: str, drawings: list, students: int, seconds: float) -> list:
    import httpx

    config = httpx.get(url + "config").json()
    endpoints = {d["api_name"]: d["id"] for d in config["dependencies"] if d.get("api_name")}
    limits = httpx.Limits(max_connections=4 * students + 10)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        tabs = [Tab(http, url, endpoints) for _ in range(students + 1)]
        try:
            await student(tabs[-1], drawings[:3], 0, time.monotonic() + 30)  # warm-up
            until = time.monotonic() + seconds
            return await asyncio.gather(*(student(tab, drawings[k::students], k + 1, until)
                                          for k, tab in enumerate(tabs[:-1])))
        finally:
            for tab in tabs:
                tab.close()


def quiet(pid: int, timeout_s: float = 120) -> None:
    """Wait until the process uses under 5% of a core for a second."""
    def cpu_s():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = cpu_s()
        time.sleep(1)
        if cpu_s() - before < 0.05:
            return


def bench_class(args):
    from clients import rss_mib, start_app
    pen = drawn.sample(pendigits.load(pendigits.locate(args.pendigits)), 3000, seed=15)
    print("\n| students | drawings finished | final reading after pen-up p50 | p95 | max | maps p95 | "
          "errors | server memory |\n|---|---|---|---|---|---|---|---|")
    for students in args.students:
        with throwaway_home():
            proc, url = start_app("--host", "127.0.0.1")
            try:
                quiet(proc.pid)  # start-up work (torch._dynamo's import) is over
                done = asyncio.run(a_class(url, pen, students, args.seconds))
                memory = rss_mib(proc.pid)
            finally:
                proc.terminate()
                proc.wait(10)
        finals = [s for r in done for s in r[0]]
        maps = [s for r in done for s in r[1]]
        errors = [e for r in done for e in r[3]]
        p50, p95 = np.percentile(finals, [50, 95])
        print(f"| {students} | {sum(r[2] for r in done)} | {p50:.2f} s | {p95:.2f} s | {max(finals):.2f} s | "
              f"{np.percentile(maps, 95):.2f} s | {len(errors)} | {memory:.0f} MiB |", flush=True)
        for e in sorted(set(errors))[:5]:
            print(f"  error: {e}")
    print(f"class: {students} students, p95 {p95:.2f} s, errors {len(errors)}")


def first_k(labels: torch.Tensor, k: int) -> torch.Tensor:
    """A mask of the first k drawings of each digit, in the writer's own order."""
    mask = torch.zeros(len(labels), dtype=torch.bool)
    for digit in range(10):
        mask[(labels == digit).nonzero()[:k, 0]] = True
    return mask


def bench_teach(args):
    source = pendigits.locate(args.pendigits)
    mnist_x, mnist_y = data.load_mnist(args.data_dir or data.default_data_dir(), train=True)
    test = data.load_mnist(args.data_dir or data.default_data_dir(), train=False)
    pen = pendigits.cached(source, pendigits.PAD)  # each digit's strokes, as the page's pad sends them
    writers = set(pen.writers.tolist())
    rows = {k: [] for k in TEACH_K}  # (writer, base acc, taught acc, base errors, taught errors,
    for fold in range(pendigits.FOLDS):  # seconds, forgetting on writers, on MNIST test)
        loaded = load("digitcnn", fold_weights("digitcnn", fold, source, retrain=False))
        model, held = loaded.module, pendigits.fold_writers(writers, fold)
        assert not held & set(loaded.meta["pen_writers"]), "a fold model read its own writers"
        known = pen.only(writers - held).drawn()
        rehearsal = teaching.rehearsal_set((mnist_x, mnist_y), (known.images, known.labels),
                                        args.rehearsal_per_digit)
        unseen = pen.only(held)
        x = data.normalize(unseen.images)
        base = drawn.predict(model, x)
        right = base == unseen.labels
        mnist_base = evaluate(model, *test)[1]
        for w in tqdm(sorted(held), desc=f"fold {fold}", leave=False, disable=None):
            own = unseen.writers == w
            for k in TEACH_K:
                shown = own.clone()
                shown[own] = first_k(unseen.labels[own], k) & ~x[own].isnan().flatten(1).any(1)
                rest, others = own & ~shown, ~own
                t0 = time.perf_counter()
                taught = teaching.teach(model, x[shown], unseen.labels[shown], rehearsal)
                seconds = time.perf_counter() - t0
                now = drawn.predict(taught, x) == unseen.labels
                rows[k].append((w, right[rest].float().mean().item(), now[rest].float().mean().item(),
                                int((~right[rest]).sum()), int((~now[rest]).sum()), seconds,
                                right[others].float().mean().item() - now[others].float().mean().item(),
                                mnist_base - evaluate(taught, *test)[1]))
    print(f"\ndigitcnn, {pendigits.FOLDS} writer folds: each of the {len(writers)} writers taught to the fold model that never saw them; "
          f"rehearsal {args.rehearsal_per_digit} MNIST + {args.rehearsal_per_digit} pen digits per digit")
    print("| drawings taught per digit | mean before | mean after | errors removed | worst writer "
          "before | worst writer after | seconds per teach (median, max) | forgetting: other unseen "
          "writers (mean, worst) | forgetting: MNIST test (mean, worst) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k, r in rows.items():
        w, before, after, err_before, err_after, secs, forget, forget_mnist = map(list, zip(*r))
        worst_b, worst_a = min(range(len(r)), key=before.__getitem__), min(range(len(r)), key=after.__getitem__)
        print(f"| {k} | {np.mean(before):.2%} | {np.mean(after):.2%} | "
              f"{1 - sum(err_after) / max(1, sum(err_before)):.0%} ({sum(err_before)} -> {sum(err_after)}) | "
              f"{before[worst_b]:.2%} (writer {w[worst_b]}) | {after[worst_a]:.2%} (writer {w[worst_a]}) | "
              f"{np.median(secs):.2f} s, {max(secs):.2f} s | {np.mean(forget) * 100:+.2f} pt, "
              f"{max(forget) * 100:+.2f} pt | {np.mean(forget_mnist) * 100:+.2f} pt, "
              f"{max(forget_mnist) * 100:+.2f} pt |")


def positive(text: str) -> int:
    """A count of at least one: a table of none has no median to print."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count of at least 1")
    return int(text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sections", nargs="*", metavar="{" + ",".join(SECTIONS) + "}",
                   help="what to run (default: all)")
    p.add_argument("--data-dir", default=None, help=data.DATA_DIR_HELP)
    p.add_argument("--repeats", type=int, default=3,
                   help="batch orders per pipeline in the train run, runs per way in the renders run; "
                        "the tables show medians (default 3)")
    p.add_argument("--drawings", type=int, default=300, help="pen drawings for the latency run")
    p.add_argument("--models", nargs="+", default=["digitcnn", "simplecnn", "bncnn", "widekernel"],
                   help="models for the latency and explain runs")
    p.add_argument("--pendigits", default=None,
                   help="UCI pendigits-orig.tra for the renders, explain, browser and teach runs "
                        "(default $DIGITPAD_PENDIGITS)")
    p.add_argument("--students", type=positive, nargs="+", default=[30],
                   help="simulated students in the class run, one run for each number given (default 30)")
    p.add_argument("--seconds", type=float, default=60, help="how long each class run draws (default 60)")
    p.add_argument("--clicks", type=positive, default=5, help="corrections timed in the browser run")
    p.add_argument("--strokes", type=positive, default=5, help="drawings timed from pen-up in the browser run")
    p.add_argument("--rehearsal-per-digit", type=int, default=teaching.REHEARSAL_PER_DIGIT,
                   help="MNIST and pen images of each digit that teach rehearses "
                        f"(default {teaching.REHEARSAL_PER_DIGIT}, as shipped)")
    args = p.parse_args(argv)
    args.sections = args.sections or list(SECTIONS)
    if unknown := set(args.sections) - set(SECTIONS):
        p.error(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if "train" in args.sections:
        bench_train(args)
    if "renders" in args.sections:
        bench_renders(args)
    if "explain" in args.sections:
        bench_explain(args)
    if "latency" in args.sections:
        bench_latency(args)
    if "load" in args.sections:
        bench_load(args)
    if "browser" in args.sections:
        bench_browser(args)
    if "class" in args.sections:
        bench_class(args)
    if "teach" in args.sections:
        bench_teach(args)


if __name__ == "__main__":
    main()
