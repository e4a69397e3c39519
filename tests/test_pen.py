"""Pen-drawn digits as training data: the cache, the writer folds, training with them."""
import hashlib
import json
import os
import shutil
import subprocess

import pytest
import torch

from digitpad import pendigits
from digitpad.train import main
from digitpad.weights import load


@pytest.fixture
def counted_renders(monkeypatch):
    """Counts how many drawings pendigits.cached renders, so a test sees a rebuild happen."""
    calls = []
    real = pendigits.inputs

    def inputs(drawings, *args, **kwargs):
        calls.append(len(drawings))
        return real(drawings, *args, **kwargs)

    monkeypatch.setattr(pendigits, "inputs", inputs)
    return calls


def test_cache_is_built_once_and_rebuilt_when_source_or_settings_change(
        small_pendigits, tmp_path, monkeypatch, counted_renders):
    monkeypatch.setenv("DIGITPAD_HOME", str(tmp_path / "home"))
    header, *segments = small_pendigits.read_text().split("\n.SEGMENT")
    sixty = tmp_path / "sixty.tra"  # 60 drawings: each rebuild below renders them all
    sixty.write_text(header + "".join("\n.SEGMENT" + s for s in segments[:60]) + "\n")
    first = pendigits.cached(sixty, renders=2)
    assert counted_renders == [60, 60]                    # two renders of each drawing
    assert first.images.shape == (120, 1, 28, 28) and first.labels.shape == first.writers.shape == (120,)
    ink = first.images[~first.images.isnan()]
    assert 0 <= ink.min() and ink.max() <= 1

    again = pendigits.cached(sixty, renders=2)
    assert counted_renders == [60, 60]                    # read from the cache, nothing rendered
    assert torch.equal(torch.nan_to_num(again.images), torch.nan_to_num(first.images))

    changes = [lambda: sixty.write_text(sixty.read_text().replace(' "3"', ' "8"', 1)),
               lambda: monkeypatch.setattr(pendigits, "BRUSH", (0.03, 0.05)),
               lambda: monkeypatch.setattr(pendigits, "CANVAS", pendigits.CANVAS * 2),
               lambda: monkeypatch.setattr(pendigits, "PREPROCESS_VERSION", pendigits.PREPROCESS_VERSION + 1)]
    original = sixty.read_text()
    pendigits.cached(sixty)  # one render each, so each change below costs 60 renders
    counted_renders.pop()
    try:
        for n, change in enumerate(changes, start=1):
            change()
            pendigits.cached(sixty)
            assert len(counted_renders) == 2 + n, f"change {n} did not rebuild the cache"
    finally:
        sixty.write_text(original)
    assert not list(sixty.parent.glob("*.pt")), "the cache never goes beside the source"


def test_no_writer_is_on_both_sides_of_a_fold(drawings):
    writers = {d.writer for d in drawings}
    held = [pendigits.fold_writers(writers, k) for k in range(pendigits.FOLDS)]
    assert [len(h) for h in held] == [10, 10, 10]
    assert set().union(*held) == writers                  # every writer is read in some fold ...
    for k, h in enumerate(held):
        assert not h & (writers - h)
        for j in range(k):
            assert not h & held[j]                        # ... in exactly one
    with pytest.raises(ValueError, match="fold"):
        pendigits.fold_writers(writers, 3)


def test_training_with_pen_digits_lowers_the_loss_and_records_its_writers(
        tmp_path, mnist_root, small_pendigits):
    main(["--data-dir", str(mnist_root), "--pendigits", str(small_pendigits), "--fold", "1",
          "--out", str(tmp_path / "w"), "--report-dir", str(tmp_path / "r"),
          "--limit", "2000", "--val-size", "1000", "--epochs", "2", "--patience", "9"])
    report = json.loads((tmp_path / "w" / "digitcnn.json").read_text())
    losses = [h["train_loss"] for h in report["history"]]
    assert losses[1] < losses[0] < 2.3
    assert all(0 <= h["pen_val_acc"] <= 1 for h in report["history"])
    held = pendigits.fold_writers(range(1, 31), 1)
    meta = load("digitcnn", tmp_path / "w" / "digitcnn.pt").meta
    assert meta["pen_writers"] == sorted(set(range(1, 31)) - held)
    assert meta["fold"] == 1 and meta["data"] == "mnist+pen"


def test_mnist_only_training_records_no_pen_writers(tmp_path, mnist_root, few_pen_digits):
    main(["--data", "mnist", "--data-dir", str(mnist_root), "--out", str(tmp_path / "w"),
          "--report-dir", str(tmp_path / "r"), "--limit", "1000", "--val-size", "500", "--epochs", "1"])
    assert load("digitcnn", tmp_path / "w" / "digitcnn.pt").meta["pen_writers"] == []


def test_a_fold_needs_pen_data():
    with pytest.raises(SystemExit):
        main(["--data", "mnist", "--fold", "0"])


def test_the_download_is_decompressed_and_refused_unless_its_checksum_matches(
        small_pendigits, tmp_path, monkeypatch):
    if not shutil.which("compress"):
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            "no `compress` here to make a .Z file like UCI's (apt-get install ncompress)")
    z = tmp_path / "pendigits-orig.tra.Z"
    z.write_bytes(subprocess.run(["compress", "-c", str(small_pendigits)], capture_output=True,
                                 check=True).stdout)
    monkeypatch.setattr(pendigits, "URL", z.as_uri())
    monkeypatch.setenv("DIGITPAD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DIGITPAD_PENDIGITS", raising=False)

    monkeypatch.setattr(pendigits, "SHA256", "0" * 64)
    with pytest.raises(FileNotFoundError, match="checksum"):
        pendigits.locate(download=True)
    assert not (tmp_path / "home" / "pendigits").exists()
    with pytest.raises(FileNotFoundError, match="--pendigits"):
        pendigits.locate()                                  # no copy yet, and no download asked for

    monkeypatch.setattr(pendigits, "SHA256", hashlib.sha256(small_pendigits.read_bytes()).hexdigest())
    path = pendigits.locate(download=True)
    assert path == tmp_path / "home" / "pendigits" / "pendigits-orig.tra"
    assert path.read_bytes() == small_pendigits.read_bytes()
    assert pendigits.locate() == path                       # found again without downloading
