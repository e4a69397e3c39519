import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from digitpad import data
from digitpad.events import Events, Progress, follow
from digitpad.settings import FAST, SEEDS
from digitpad.steps import evaluate
from digitpad.train import fit, main, parse_args, schedule
from digitpad.weights import load

SMALL = ["--data", "mnist", "--limit", "2000", "--val-size", "1000", "--patience", "9"]  # pen data: test_pen.py


def args(folder, mnist_root, *extra):
    return ["--data-dir", str(mnist_root), "--out", str(folder / "w"), "--report-dir",
            str(folder / "r"), *SMALL, *extra]


def history(folder):
    return json.loads((folder / "w" / "digitcnn.json").read_text())


def test_training_lowers_the_loss_and_writes_what_the_app_loads(tmp_path, mnist_root, few_pen_digits):
    main(args(tmp_path, mnist_root, "--epochs", "2", "--events", str(tmp_path / "events.jsonl")))
    report = history(tmp_path)
    losses = [h["train_loss"] for h in report["history"]]
    assert losses[1] < losses[0] < 2.3
    assert report["val_acc"] > 0.85
    assert load("digitcnn", weights=tmp_path / "w" / "digitcnn.pt").meta["epochs"] == 2
    assert {p.name for p in (tmp_path / "r" / "digitcnn").iterdir()} == \
        {"curves.png", "confusion.png", "misses.png"}
    assert not (tmp_path / "w" / "digitcnn.resume.pt").exists()
    # What the page's Train tab reads: steps in order, filters, both epochs, then the end.
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "prepare" and kinds[-1] == "done" and kinds.count("epoch") == 2
    assert kinds[kinds.index("start") - 1] == "prepare" and "prepare" not in kinds[kinds.index("start"):]
    # The validation curve: the untrained model, 1/8 and 1/4 of the run, both epochs' ends.
    checks = [e for e in events if e["event"] in ("start", "val", "epoch")]
    assert [e["event"] for e in checks] == ["start", "val", "val", "epoch", "epoch"]
    assert [e["images"] for e in checks] == sorted(e["images"] for e in checks) and checks[0]["images"] == 0
    assert checks[0]["val_acc"] < 0.5 < checks[-1]["val_acc"]
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == sorted(e["step"] for e in steps) and steps[-1]["step"] == steps[-1]["steps"]
    assert steps[-1]["left_s"] == 0 and all(e["rate"] > 0 for e in steps)
    assert kinds.count("filters") >= 5 and len(events[kinds.index("filters")]["weights"]) == 16
    assert events[-1]["test_acc"] == report["test_acc"] and events[-1]["weights"].endswith("digitcnn.pt")

    # What the tab draws of them, followed as it polls (in two reads here): every step's loss and
    # accuracy, validation at each check, the bar on the last step, the newest filters.
    half = len(events) // 2
    progress = follow(follow(Progress(), events[:half]), events[half:])
    measures = [m for _, _, m in progress.points]
    assert measures.count("loss") == measures.count("acc") == len(steps)
    assert measures.count("val_acc") == len(checks) and [i for i, _, m in progress.points if m == "val_acc"] == \
        [e["images"] for e in checks]
    assert progress.bar == steps[-1] and progress.done == events[-1]
    assert progress.kernels == [e for e in events if e["event"] == "filters"][-1]["weights"]
    with pytest.raises(ValueError, match="unknown event 'stp'"):
        Events(tmp_path / "more.jsonl")("stp", images=0)


def test_killed_run_resumes_to_the_same_result(tmp_path, mnist_root, small_pendigits):
    """SIGKILL a run after its first epoch: its pen-drawing processes end with it, and --resume
    ends where an unbroken run ends, the pen digits drawn anew each epoch included."""
    pen = ["--data", "mnist+pen", "--pendigits", str(small_pendigits), "--epochs", "2"]
    main(args(tmp_path / "straight", mnist_root, *pen))
    broken = tmp_path / "broken"
    proc = subprocess.Popen(
        [sys.executable, "scripts/train.py", *args(broken, mnist_root, *pen)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:
        if line.startswith("epoch  1"):  # printed once its checkpoint is saved
            break
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    workers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    assert workers, "the run draws its pen digits in child processes"
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(Path(f"/proc/{w}").exists() for w in workers), "a renderer outlived its run"
    resume = broken / "w" / "digitcnn.resume.pt"
    assert resume.exists() and not (broken / "w" / "digitcnn.pt").exists()
    assert torch.load(resume, weights_only=True)["state"]["epoch"] == 1

    main(args(broken, mnist_root, *pen, "--resume"))
    a, b = history(tmp_path / "straight"), history(broken)
    assert b["epochs"] == 2
    assert b["val_acc"] == a["val_acc"] and b["test_acc"] == a["test_acc"]
    sa = torch.load(tmp_path / "straight" / "w" / "digitcnn.pt", weights_only=True)["state_dict"]
    sb = torch.load(broken / "w" / "digitcnn.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_watcher_sees_every_step_off_the_clock_and_changes_nothing(tmp_path, mnist_root, few_pen_digits,
                                                                    monkeypatch):
    """bench.py's way to time a run to 99%: evaluating mid-run (here without EMA, so the trained
    model itself) leaves training exactly as it was, and its time is not training time."""
    calls, real = [], time.perf_counter
    skipped = [0.0]  # each watch jumps the clock an hour ahead instead of taking real time

    def watch(images, seconds, model):
        calls.append((images, seconds))
        evaluate(model, torch.full((10, 1, 28, 28), 0.5), torch.zeros(10, dtype=torch.long))
        skipped[0] += 3600

    with monkeypatch.context() as clock:
        clock.setattr(time, "perf_counter", lambda: real() + skipped[0])
        watched = fit(parse_args(args(tmp_path / "watched", mnist_root, "--epochs", "1", "--ema", "0")), watch)
    plain = fit(parse_args(args(tmp_path / "plain", mnist_root, "--epochs", "1", "--ema", "0")))
    assert [i for i, _ in calls] == [min(64 * n, 2000) for n in range(1, 33)]
    assert watched["train_loop_s"] < 3600 and calls[-1][1] <= watched["train_loop_s"]  # no hour counted
    sa, sb = (torch.load(f / "w" / "digitcnn.pt", weights_only=True)["state_dict"]
              for f in (tmp_path / "watched", tmp_path / "plain"))
    assert all(torch.equal(sa[k], sb[k]) for k in sa) and watched["test_acc"] == plain["test_acc"]


def test_augmentation_warps_and_thickens_as_torch_would(mnist_root):
    """Its faster grid and 3x3 max/min are torch's affine_grid and stride-1 max-pool."""
    x = data.load_mnist(mnist_root, train=False)[0][:64]
    theta = torch.randn(64, 2, 3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(data._affine_grid(theta), F.affine_grid(theta, [64, 1, 28, 28], align_corners=False),
                          atol=1e-5)
    assert torch.equal(data._spread(x, torch.maximum, 0.0), F.max_pool2d(x, 3, 1, 1))
    assert torch.equal(data._spread(x, torch.minimum, 1.0), -F.max_pool2d(-x, 3, 1, 1))


def test_a_recipe_sets_defaults_and_a_flag_overrides_one():
    fast, seeds = parse_args([]), parse_args(["--recipe", "seeds"])
    assert (fast.batch_size, fast.lr, fast.lr_schedule, fast.data, fast.precision) == (
        64, 6.5e-3, "linear", "mnist+pen", "bf16")
    assert (seeds.batch_size, seeds.lr, seeds.lr_schedule, seeds.augment_share, seeds.ema,
            seeds.data, seeds.patience) == (64, 1e-3, "constant", 0.0, 0.0, "mnist", 3)
    assert parse_args(["--recipe", "seeds", "--lr", "0.002"]).lr == 0.002


def test_settings_parse_back_from_the_command_line_they_make():
    """to_argv is how the page, the folds and bench.py start a run: what it writes, parse_args
    reads back to the same settings, each recipe's values and every flag's kind."""
    given = replace(SEEDS, model="bncnn", epochs=2, patience=0, fold=None, data="mnist+pen", lr=2e-3,
                    out=Path("/tmp/x"), events=Path("/tmp/x/e.jsonl"), limit=500, threads=1, resume=True)
    for settings in (FAST, SEEDS, given, replace(FAST, fold=2, precision="fp32", ema=0.0)):
        assert parse_args(settings.to_argv()) == settings
    assert FAST.to_argv() == ["--recipe", "fast"]


def test_the_linear_schedule_warms_up_then_falls_to_zero():
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = schedule(opt, "linear", 200)
    rates = []
    for _ in range(200):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    peak = rates.index(max(rates))
    assert peak == 9 and max(rates) == 1.0 and rates[0] == 0.1  # 5% of 200 steps
    assert all(a >= b for a, b in zip(rates[peak:], rates[peak + 1:])) and rates[-1] < 0.01
    assert rates[100] == (200 - 100) / (200 - 10)
    assert schedule(opt, "constant", 200) is None


def test_missing_data_dir_says_what_was_expected(tmp_path, capsys):
    with pytest.raises(SystemExit, match="does not exist"):
        main(["--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "w")])
    assert not (tmp_path / "w").exists()


def test_corrupt_mnist_is_a_clear_error(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(SystemExit, match="could not load MNIST"):
        main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "w")])
    assert not (tmp_path / "w").exists()


def test_help_explains_the_flags(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for flag in ("--epochs", "--batch-size", "--lr", "--patience", "--seed", "--device",
                 "--data-dir", "--out", "--recipe", "--augment-share", "--resume"):
        assert flag in out
