"""Teaching a model one writer's style: digitpad.teach, the drawings store, personal models."""
import re
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest
import torch

import digitpad
from digitpad import data, drawn, pendigits, pixels, teaching
from digitpad.personal import PersonalModels
from digitpad.store import Read, ReadOnly, Store, png
from digitpad.steps import evaluate
from digitpad.weights import load

WRITER = 28  # held out of fold 0; the writer the fold models read worst


@pytest.fixture(scope="module")
def rehearsal(mnist_root, small_pendigits, fold_loaded):
    """Rehearsal as bench.py builds it for fold 0: MNIST and pen digits of the fold's own writers."""
    pen = [d for d in pendigits.load(small_pendigits) if d.writer in fold_loaded.meta["pen_writers"]]
    x = data.denormalize(pendigits.inputs(pen))
    keep = ~x.isnan().flatten(1).any(1)
    mnist = data.load_mnist(mnist_root, train=True)
    return teaching.rehearsal_set(mnist, (x[keep], torch.tensor([d.label for d in pen])[keep]), 20)


@pytest.fixture(scope="module")
def writer(drawings):
    """The held-out writer's digits as the pad delivers them: (inputs, labels, first 3 of each digit)."""
    mine = [d for d in drawings if d.writer == WRITER]
    x = pendigits.inputs(mine, seed=3)
    labels = torch.tensor([d.label for d in mine])
    shown = torch.zeros(len(mine), dtype=torch.bool)
    for digit in range(10):
        shown[(labels == digit).nonzero()[:3, 0]] = True
    drawn = ~x.isnan().flatten(1).any(1)
    return x, labels, shown & drawn, ~shown


def test_teach_learns_a_writer_it_never_saw_and_forgets_little(fold_model, fold_loaded, drawings, writer,
                                                                 rehearsal, mnist_test):
    x, labels, shown, rest = writer
    assert WRITER not in fold_loaded.meta["pen_writers"]
    before = {k: v.clone() for k, v in fold_model.state_dict().items()}
    taught = digitpad.teach(fold_model, x[shown], labels[shown], rehearsal)
    assert all(torch.equal(before[k], v) for k, v in fold_model.state_dict().items())

    def errors(model, x, labels):
        return int((drawn.predict(model, x) != labels).sum())
    assert errors(taught, x[rest], labels[rest]) <= errors(fold_model, x[rest], labels[rest]) // 2

    # Everyone else: other writers the fold model never saw, and MNIST's test set.
    others = drawn.sample([d for d in drawings if d.writer not in fold_loaded.meta["pen_writers"]
                           and d.writer != WRITER], 300, seed=5)
    ox, oy = pendigits.inputs(others, seed=5), torch.tensor([d.label for d in others])
    assert errors(taught, ox, oy) <= errors(fold_model, ox, oy) + 3
    images, targets = mnist_test
    assert evaluate(taught, images, targets)[1] >= evaluate(fold_model, images, targets)[1] - 0.012


def test_teach_is_deterministic_and_refuses_what_it_cannot_learn(fold_model, writer, rehearsal):
    x, labels, shown, _ = writer
    a = digitpad.teach(fold_model, x[shown][:5], labels[shown][:5], rehearsal)
    b = digitpad.teach(fold_model, x[shown][:5], labels[shown][:5], rehearsal)
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    with pytest.raises(ValueError, match="blank"):
        digitpad.teach(fold_model, torch.full((1, 1, 28, 28), float("nan")), torch.tensor([1]), rehearsal)
    with pytest.raises(ValueError, match="digits 0-9"):
        digitpad.teach(fold_model, x[:1], torch.tensor([10]), rehearsal)
    with pytest.raises(ValueError, match=r"\[N, 1, 28, 28\]"):
        digitpad.teach(fold_model, x[0], labels[:1], rehearsal)


def test_shipped_rehearsal_set_loads_safely():
    images, labels = teaching.load_rehearsal()
    assert images.shape[1:] == (1, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert torch.bincount(labels, minlength=10).min() >= 100


def add_drawings(store, profile, drawings, rng, count):
    for d in drawings[:count]:
        canvas = pendigits.render(d, rng)
        store.add(profile, digitpad.preprocess(canvas), pixels.thumbnail(canvas), d.label,
                  Read("digitcnn", d.label, d.label, d.label))


@pytest.mark.parametrize("content", [b"this is not a database" * 100, "foreign"])
def test_a_corrupt_or_foreign_database_is_moved_aside(tmp_path, content, capsys, drawings, rng):
    path = tmp_path / "drawings.sqlite"
    if content == "foreign":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE invoices (id INTEGER)")
    else:
        path.write_bytes(content)
    store = Store(path)
    assert "moved it to" in capsys.readouterr().err
    assert [p.name for p in tmp_path.glob("drawings.sqlite.bad-*")]
    add_drawings(store, store.profile("me"), drawings, rng, 2)
    assert len(Store(path).drawings(store.profile("me"))) == 2  # and it opens again, quietly
    assert capsys.readouterr().err == ""


def test_two_tabs_teaching_at_once_lose_no_drawing(tmp_path, shipped, drawings):
    store = Store(tmp_path / "drawings.sqlite")
    personal = PersonalModels(store, shipped, tmp_path / "profiles")
    me = store.profile("me")

    def tab(seed, picks):
        rng = np.random.default_rng(seed)
        for d in picks:  # each click: store the drawing, then teach
            add_drawings(store, me, [d], rng, 1)
            personal.update(me)
    tabs = [threading.Thread(target=tab, args=(k, drawings[k * 4:k * 4 + 4])) for k in range(2)]
    for t in tabs:
        t.start()
    for t in tabs:
        t.join()
    assert len(store.ids(me)) == 8
    assert personal.get(me).meta["drawings"] == store.ids(me)
    assert load("digitcnn", personal.path(me)).meta["drawings"] == store.ids(me)


KILL = """
import os, signal, sys
import numpy as np
from digitpad import personal, teaching, weights
from digitpad.store import Store
sys.path.insert(0, {tests!r})
from test_teach import add_drawings
from digitpad.pendigits import load
store = Store({db!r})
me = store.profile("me")
models = personal.PersonalModels(store, weights.load(), {folder!r})
drawings = load({pen!r})
add_drawings(store, me, drawings, np.random.default_rng(0), 3)
models.update(me)
add_drawings(store, me, drawings[3:], np.random.default_rng(1), 1)
calls = 0
def die(*args, **kwargs):
    global calls
    calls += 1
    if calls == {at_call}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
real = {target}
{patch} = die
models.update(me)
"""


@pytest.mark.parametrize("point", ["mid-teach", "mid-save"])
def test_killed_mid_teach_leaves_the_previous_model(tmp_path, shipped, pendigits_path, point):
    target, at_call = {"mid-teach": ("teaching.train_step", 10),
                       "mid-save": ("weights.os.replace", 1)}[point]
    script = KILL.format(tests=str(__file__.rsplit("/", 1)[0]), db=str(tmp_path / "d.sqlite"),
                         folder=str(tmp_path / "profiles"), pen=str(pendigits_path),
                         target=target, patch=target, at_call=at_call)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == -9, run.stderr
    store = Store(tmp_path / "d.sqlite")
    me = store.profile("me")
    personal = PersonalModels(store, shipped, tmp_path / "profiles")
    assert len(store.ids(me)) == 4  # the drawing was kept ...
    assert personal.get(me).meta["drawings"] == store.ids(me)[:3]  # ... the old model still loads
    assert not personal.current(me)
    assert personal.update(me).meta["drawings"] == store.ids(me)  # and the next teach catches up


def test_a_fresh_database_never_gets_the_old_ones_personal_models(tmp_path, shipped, drawings, rng):
    """The database is moved aside (damaged) and begun afresh: its profile 1 is not the old one."""
    store = Store(tmp_path / "drawings.sqlite")
    me = store.profile("me")
    add_drawings(store, me, drawings, rng, 3)
    assert PersonalModels(store, shipped, tmp_path / "profiles").update(me) is not None
    (tmp_path / "drawings.sqlite").rename(tmp_path / "drawings.sqlite.bad")
    time.sleep(0.01)  # a later creation stamp, as any real reset has
    fresh = Store(tmp_path / "drawings.sqlite")
    again = fresh.profile("me")
    add_drawings(fresh, again, drawings[10:], rng, 3)
    assert again == me and fresh.ids(again) == [1, 2, 3]  # the ids the old model learned
    personal = PersonalModels(fresh, shipped, tmp_path / "profiles")
    assert personal.get(again) is None and not personal.current(again)
    assert personal.update(again).meta["profile_created"] == fresh.created(again)


def test_a_database_deleted_while_the_page_runs_is_begun_afresh(tmp_path, shipped, drawings, rng, capsys):
    """The next drawing goes into a fresh file, the log says so once, and the profile's old
    model (taught from the deleted drawings) is not served for its new self."""
    store = Store(tmp_path / "drawings.sqlite")
    me = store.profile("me")
    add_drawings(store, me, drawings, rng, 3)
    personal = PersonalModels(store, shipped, tmp_path / "profiles")
    assert personal.update(me) is not None
    (tmp_path / "drawings.sqlite").unlink()
    time.sleep(0.01)  # a later creation stamp, as any real reset has
    again = store.profile("me")
    add_drawings(store, again, drawings[10:], rng, 1)
    assert again == me and store.ids(again) == [1]
    assert capsys.readouterr().err.count("was deleted while digitpad ran; started a fresh one") == 1
    assert personal.get(again) is None


def test_a_store_turned_read_only_says_so_and_keeps_what_it_held(tmp_path, shipped, drawings, rng,
                                                                monkeypatch, capsys):
    """The home is remounted read-only while the page runs (simulated: a read-only connection,
    and a save that fails as on such a disk): saving says why in a sentence, nothing saved is lost."""
    store = Store(tmp_path / "drawings.sqlite")
    me = store.profile("me")
    add_drawings(store, me, drawings, rng, 2)
    monkeypatch.setattr(Store, "_db", lambda self: sqlite3.connect(f"file:{self.path}?mode=ro", uri=True))
    with pytest.raises(ReadOnly, match=r"can no longer be saved in .*drawings.sqlite .*attempt to write "
                                       r"a readonly database.*saved before are kept.*--home"):
        add_drawings(store, me, drawings[5:], rng, 1)
    for damaged in (store.delete, lambda p, _: store.forget(p)):
        with pytest.raises(ReadOnly):
            damaged(me, 1)
    again = Store(tmp_path / "drawings.sqlite")  # as after a restart: it opens, and reads
    assert again.profile("me") == me and len(again.drawings(me)) == 2
    with pytest.raises(ReadOnly):
        again.profile("a new one")

    def unwritable(*args, **kwargs):
        raise OSError(30, "Read-only file system")
    monkeypatch.setattr("digitpad.personal.save_weights", unwritable)
    taught = PersonalModels(again, shipped, tmp_path / "profiles").update(me)
    assert taught.meta["drawings"] == again.ids(me)  # taught, and served from memory
    assert "could not save" in capsys.readouterr().err


def test_a_model_whose_base_changed_is_taught_again(tmp_path, shipped, fold_loaded, drawings, rng):
    store = Store(tmp_path / "drawings.sqlite")
    me = store.profile("me")
    add_drawings(store, me, drawings, rng, 3)
    PersonalModels(store, shipped, tmp_path / "profiles").update(me)
    later = PersonalModels(store, fold_loaded, tmp_path / "profiles")  # new base weights
    assert not later.current(me)
    assert later.update(me).meta["base_sha256"] == later.base_sha256


def test_export_then_import_keeps_good_drawings_and_names_each_bad_file(tmp_path, drawings, rng):
    store = Store(tmp_path / "drawings.sqlite")
    me, other = store.profile("me"), store.profile("other")
    add_drawings(store, me, drawings, rng, 4)
    path = store.export_zip(me, tmp_path / "mine.zip")
    with zipfile.ZipFile(path, "a") as z:
        table = z.read("drawings.csv").decode()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", table.splitlines()[1].split(",")[-1])  # readable
        z.writestr("inputs/junk.png", b"not a png")
        z.writestr("inputs/big.png", png(np.zeros((30, 30), np.uint8)))
    table += "junk.png,3,3,digitcnn,0\nbig.png,3,3,digitcnn,0\ngone.png,3,3,digitcnn,0\n1.png,x,3,digitcnn,0\n"
    rebuilt = tmp_path / "edited.zip"
    with zipfile.ZipFile(path) as z, zipfile.ZipFile(rebuilt, "w") as out:
        for item in z.namelist():
            if item != "drawings.csv":
                out.writestr(item, z.read(item))
        out.writestr("drawings.csv", table)
    added, problems = store.import_zip(other, rebuilt)
    assert added == 4 and len(problems) == 4, problems
    assert [p.split(":")[0] for p in problems] == [
        "inputs/junk.png", "inputs/big.png", "inputs/gone.png", "drawings.csv line 9"]
    ours, theirs = store.drawings(me), store.drawings(other)
    assert [d.label for d in ours] == [d.label for d in theirs]
    assert all(torch.allclose(a.input, b.input) for a, b in zip(ours, theirs))
    assert store.import_zip(other, tmp_path / "drawings.sqlite")[0] == 0  # not a zip: said so
    added, problems = store.import_zip(store.profile("full"), path, room=3)  # a shared page's cap
    assert added == 3 and problems == ["drawings.csv line 5: not added: the profile is full"]
