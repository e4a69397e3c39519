"""digitpad's benchmarks, each a side-by-side comparison in one run: python scripts/bench.py --help

train:   time to 99.0% MNIST test accuracy (checked every 5,000 images) and images/s for
         digitcnn: the seeds' pipeline and recipe, digitpad's pipeline with the seeds' recipe, and
         scripts/train.py's default recipe for one epoch, to 99% and to the epoch's end.
latency: the app's handler (preprocess + classify + every image and heat map) over real pen drawings,
         for each zoo model, and for digitcnn again while the Train tab's subprocess trains.
load:    drawings per second the running app answers for 1, 5 and 20 concurrent clients.
browser: in headless Chromium, seconds from the last pen-up to the final reading, beside a page
         with the same Sketchpad and a handler that does nothing but echo; and from a click on
         "It was" to the picker showing the model taught with that drawing.
teach:   in each writer fold, every unseen writer teaches the fold's digitcnn their first k
         drawings of each digit (k = 1, 2, 3); their other digits are read before and after,
         and so are the other unseen writers' digits (forgetting). Rehearsal comes from the
         fold's training writers only. Fold models missing from runs/folds/ are trained first.
"""
import argparse
import contextlib
import os
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from tqdm import tqdm

from digitpad import data, drawn, pendigits, render, runs, teaching, train
from digitpad.models import DigitCNN
from digitpad.names import DEFAULT_MODEL
from digitpad.pendigits import CANVAS
from digitpad.canvas import preprocess
from digitpad.train import build_trainable, evaluate, fold_weights, train_step
from digitpad.weights import load_model

TARGET = 0.99
CHECK_EVERY = 5_000  # training images between test-accuracy checks on the way to TARGET
SECTIONS = ("train", "latency", "load", "browser", "teach")
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
        meta = train.fit(train.parse_args(["--epochs", "1", "--seed", str(seed), "--data-dir",
                                           str(root), "--out", tmp, "--report-dir", tmp]), watch)
    whole = meta["train_loop_s"], meta["images_seen"], meta["test_acc"]
    # Not at 99% by the last check: the epoch's end is one more.
    return reached[0] if reached else whole, whole


def bench_train(args):
    root = args.data_dir or data.default_data_dir()
    test = data.load_mnist(root, train=False)
    images, labels = data.load_mnist(root, train=True)
    images = data.normalize(images)
    seeds = train.RECIPES["seeds"]
    lr, batch = seeds["lr"], seeds["batch_size"]
    default = (f"pen digits, augmentation, batch {train.RECIPES['fast']['batch_size']}, warm-up and "
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


def handler_ms(model, canvases) -> tuple[list, list]:
    """Milliseconds of the page's handler, and of preprocess alone, for each canvas."""
    filters = render.filters_image(model)
    render.panels(model, canvases[0], filters)  # warm-up
    total, pre = [], []
    for c in canvases:
        t0 = time.perf_counter()
        preprocess(c)
        t1 = time.perf_counter()
        render.panels(model, c, filters)
        render.thumbnail(c)  # kept with each reading for the Right / It was buttons
        t2 = time.perf_counter()
        pre.append((t1 - t0) * 1000)
        total.append((t2 - t1) * 1000)
    return total, pre


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
    canvases = [pendigits.render(d, rng) for d in drawings]
    rows = [(name, *handler_ms(load_model(name), canvases)) for name in args.models]
    with throwaway_home():
        run = training_in_the_background()
        try:
            rows.append((f"{DEFAULT_MODEL}, while the Train tab trains ({runs.THREADS} thread"
                         f"{'s' * (runs.THREADS != 1)})", *handler_ms(load_model(), canvases)))
        finally:
            run.stop()
            run.wait()
    print(f"\n| model | handler p50 | handler p95 | preprocess p50 |\n|---|---|---|---|")
    for name, total, pre in rows:
        p50, p95 = np.percentile(total, [50, 95])
        print(f"| {name} | {p50:.1f} ms | {p95:.1f} ms | {np.median(pre):.1f} ms |")


def bench_load(args):
    from digitpad.clients import rss_mib, save_pngs, send_all, start_app
    drawings = drawn.sample(pendigits.load(pendigits.locate()), 500, seed=12)
    with tempfile.TemporaryDirectory() as tmp:
        pngs = save_pngs(drawings, tmp, np.random.default_rng(12))
        proc, url = start_app()
        try:
            send_all(url, [pngs[:25]])  # warm-up
            print(f"\n| clients | drawings | seconds | drawings/s | server memory |\n|---|---|---|---|---|")
            for clients in (1, 5, 20):
                results, seconds = send_all(url, [pngs[k * 25:(k + 1) * 25] for k in range(clients)])
                n = sum(len(r) for r in results)
                print(f"| {clients} | {n} | {seconds:.1f} | {n / seconds:.1f} | {rss_mib(proc.pid):.0f} MiB |")
        finally:
            proc.terminate()
            proc.wait(10)


def empty_page():
    """The page's Sketchpad with a handler that only echoes how much ink arrived: the floor
    that Gradio's own drawing export sets for any handler."""
    import gradio as gr

    from digitpad.app import SELECT_BRUSH, sketchpad
    with gr.Blocks(analytics_enabled=False) as demo:
        pad = sketchpad()
        echo = gr.Markdown(elem_id="echo")
        demo.load(None, js=SELECT_BRUSH)
        pad.change(lambda c: f"{int((c['composite'][..., 3] > 0).sum()) if c and c['composite'] is not None else 0} px",
                   pad, echo, trigger_mode="always_last", show_progress="hidden")
    return demo


WATCH = """selector => { window.changes = []; const el = document.querySelector(selector);
  new MutationObserver(() => window.changes.push([performance.now(), el.innerHTML]))
    .observe(el, {subtree: true, childList: true, attributes: true, characterData: true}); }"""


def pen_up_seconds(browser, url, drawing, selector) -> tuple[float, float]:
    """Seconds from the last pen-up to the first and to the final change of `selector`."""
    from digitpad.clients import draw, open_pad, settle_html
    page = open_pad(browser, url)
    page.evaluate(WATCH, selector)
    draw(page, drawing)
    up = page.evaluate("performance.now()")
    settle_html(page, selector)
    changes = [(t, html) for t, html in page.evaluate("window.changes") if t > up]
    page.close()
    final = changes[-1][1]
    return ((changes[0][0] - up) / 1000 if changes else float("nan"),
            (min(t for t, html in changes if html == final) - up) / 1000)


def bench_browser(args):
    import shutil

    from playwright.sync_api import expect, sync_playwright

    from digitpad.clients import draw, free_port, open_pad, settle, start_app
    pen = pendigits.load(pendigits.locate(args.pendigits))
    drawings = drawn.sample(pen, args.clicks, seed=13)
    with throwaway_home(), sync_playwright() as pw:
        proc, url = start_app()
        empty = empty_page()
        _, empty_url, _ = empty.launch(server_port=free_port(), quiet=True, prevent_thread_lock=True)
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        seconds, lags = [], {"digitpad": [], "empty handler": []}
        try:
            for d in drawn.sample(pen, args.strokes, seed=14):  # alternate, so both see the same load
                lags["digitpad"].append(pen_up_seconds(browser, url, d, "#input28"))
                lags["empty handler"].append(pen_up_seconds(browser, empty_url, d, "#echo"))
            for n, d in enumerate(drawings, start=1):
                page = open_pad(browser, url)
                draw(page, d)
                expect(page.locator("#verdict")).to_contain_text("It", timeout=30_000)
                settle(page, "#input28 img")
                start = time.perf_counter()
                page.locator("#correct button", has_text=str(d.label)).click()
                expect(page.locator("#picker input")).to_have_value(
                    f"digitcnn + your {n} drawing{'s' * (n != 1)}", timeout=30_000)
                seconds.append(time.perf_counter() - start)
                page.close()
        finally:
            browser.close()
            empty.close()
            proc.terminate()
            proc.wait(10)
    print("\n| page | first change after pen-up (median) | final reading after pen-up (median) | "
          "(max) |\n|---|---|---|---|")
    for name, pairs in lags.items():
        first, final = np.array(pairs).T
        print(f"| {name} | {np.median(first):.2f} s | {np.median(final):.2f} s | {final.max():.2f} s |")
    ratio = np.median(np.array(lags["digitpad"])[:, 1]) / np.median(np.array(lags["empty handler"])[:, 1])
    print(f"digitpad's final reading / the empty handler's: {ratio:.2f}x ({args.strokes} drawings, "
          f"{CANVAS}x{CANVAS} canvas)")
    print("\n| from a click on It was to the taught model in the picker | median | max |\n|---|---|---|")
    print(f"| {len(seconds)} corrections, 1 to {len(seconds)} drawings | {np.median(seconds):.2f} s | "
          f"{max(seconds):.2f} s |")


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
    pen = pendigits.cached(source, "white")
    writers = set(pen.writers.tolist())
    rows = {k: [] for k in TEACH_K}  # (writer, base acc, taught acc, base errors, taught errors,
    for fold in range(pendigits.FOLDS):  # seconds, forgetting on writers, on MNIST test)
        model = load_model("digitcnn", fold_weights("digitcnn", fold, source, retrain=False))
        held = pendigits.fold_writers(writers, fold)
        assert not held & set(model.meta["pen_writers"]), "a fold model read its own writers"
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sections", nargs="*", metavar="{" + ",".join(SECTIONS) + "}",
                   help="what to run (default: all)")
    p.add_argument("--data-dir", default=None, help="MNIST root (default $DIGITPAD_DATA or ./data)")
    p.add_argument("--repeats", type=int, default=3,
                   help="batch orders per pipeline in the train run; the table shows medians (default 3)")
    p.add_argument("--drawings", type=int, default=300, help="pen drawings for the latency run")
    p.add_argument("--models", nargs="+", default=["digitcnn", "simplecnn", "bncnn", "widekernel"],
                   help="models for the latency run")
    p.add_argument("--pendigits", default=None,
                   help="UCI pendigits-orig.tra for the browser and teach runs (default $DIGITPAD_PENDIGITS)")
    p.add_argument("--clicks", type=int, default=5, help="corrections timed in the browser run")
    p.add_argument("--strokes", type=int, default=5, help="drawings timed from pen-up in the browser run")
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
    if "latency" in args.sections:
        bench_latency(args)
    if "load" in args.sections:
        bench_load(args)
    if "browser" in args.sections:
        bench_browser(args)
    if "teach" in args.sections:
        bench_teach(args)


if __name__ == "__main__":
    main()
