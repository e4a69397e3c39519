import json
import os
import pickle
import subprocess
import sys
import time

import pytest
import torch

from digitpad import data, load_model
from digitpad.models import MODELS, build_model
from digitpad.steps import evaluate
from digitpad.weights import WeightsError, load, save_weights, shipped_path


def test_shipped_digitcnn_reaches_99_4_on_mnist_test(mnist_test):
    images, labels = mnist_test
    assert len(images) == 10_000
    _, _, preds = evaluate(load_model("digitcnn"), images, labels)
    correct = int((preds == labels).sum())  # counted, not a float mean: the bar is exact
    assert correct >= 9_940, f"shipped digitcnn: {correct} of 10,000 MNIST test digits"


@pytest.mark.parametrize("name", MODELS)
def test_every_zoo_model_ships_with_its_metrics(name, mnist_test):
    loaded = load(name)
    images, labels = mnist_test
    _, acc, _ = evaluate(loaded.module, images[:2000], labels[:2000])
    assert acc > 0.98
    assert loaded.meta["test_acc"] > 0.98 and loaded.meta["normalize"] == [data.MEAN, data.STD]
    history = json.loads(loaded.path.with_suffix(".json").read_text())  # the same run's, not a stale one
    assert (history["trained_at"], history["test_acc"]) == (loaded.meta["trained_at"], loaded.meta["test_acc"])


def test_missing_file_says_how_to_train(tmp_path):
    with pytest.raises(WeightsError, match="python scripts/train.py --model simplecnn"):
        load_model("simplecnn", weights=tmp_path / "nope.pt")


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "digitcnn.pt"
    good = shipped_path("digitcnn").read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(WeightsError, match="not a readable digitpad checkpoint"):
        load_model("digitcnn", weights=path)


def test_other_architecture_is_refused(tmp_path):
    path = tmp_path / "w.pt"
    save_weights(build_model("simplecnn"), "digitcnn", path)  # mislabelled on purpose
    with pytest.raises(WeightsError, match="does not fit the digitcnn architecture"):
        load_model("digitcnn", weights=path)


def test_a_torch_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    path = tmp_path / "w.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(WeightsError, match="not a digitpad checkpoint"):
        load_model("digitcnn", weights=path)


class RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    payload = RunsCode()
    payload.marker = marker
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"state_dict": payload}))
    torch.save({"model": "digitcnn", "state_dict": payload}, tmp_path / "evil2.pt")
    for p in (path, tmp_path / "evil2.pt"):
        with pytest.raises(WeightsError):
            load_model("digitcnn", weights=p)
    assert not marker.exists()
    # The same file does run code when loaded unsafely: the test above proves something.
    torch.load(tmp_path / "evil2.pt", weights_only=False)
    assert marker.exists()


def test_save_is_atomic_when_the_writer_is_killed(tmp_path):
    """SIGKILL a process that rewrites the weights in a loop: the file stays loadable."""
    path = tmp_path / "digitcnn.pt"
    save_weights(build_model("digitcnn"), "digitcnn", path)
    writer = subprocess.Popen([sys.executable, "-c", (
        "from digitpad.models import build_model\n"
        "from digitpad.weights import save_weights\n"
        "m = build_model('digitcnn')\n"
        "print('ready', flush=True)\n"
        f"while True: save_weights(m, 'digitcnn', {str(path)!r})\n")],
        stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    writer.kill()
    writer.wait()
    load_model("digitcnn", weights=path)
