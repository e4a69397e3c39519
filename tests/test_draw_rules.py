"""The Draw tab's rules without a browser: the picker, corrections, profiles and the shared
page's limits, on the shipped models and real pen strokes."""
import contextlib
import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from digitpad import owners, pendigits, zoo
from digitpad.app import draw_rules
from digitpad.limits import Limit
from digitpad.app.draw_rules import MINE, DrawRules, Refused
from digitpad.names import DEFAULT_MODEL


@pytest.fixture(scope="module")
def zoo_models():
    return zoo.load_models(DEFAULT_MODEL, None)


@pytest.fixture
def rules(own_home, monkeypatch, zoo_models):
    """The rules over a home of the test's own (its store and personal models)."""
    monkeypatch.setenv("DIGITPAD_HOME", str(own_home))
    return DrawRules(dict(zoo_models), DEFAULT_MODEL, shared=False)


def value_of(drawings, label: int) -> str:
    return pendigits.pad_value(next(d for d in drawings if d.label == label), np.random.default_rng(0))


def test_a_correction_is_kept_taught_and_offered_in_the_picker(rules, drawings):
    p = rules.profile("ana", "")
    zoo_choices = [(name, name) for name in rules.models]
    assert rules.picker(DEFAULT_MODEL, "ana", "").choices == zoo_choices  # nothing taught yet

    glance, last = rules.read(value_of(drawings, 7), DEFAULT_MODEL, "ana", "")
    assert glance.digit == 7 and last[1] == value_of(drawings, 7)
    for _ in range(2):  # a double click, or a script's retry: kept once
        assert rules.keep(3, last, DEFAULT_MODEL, "ana", "") == p  # told it was a 3
    [kept] = rules.store.drawings(p)
    assert (kept.label, kept.said, kept.base_said, kept.mine_said, kept.model) == (3, 7, 7, 7, DEFAULT_MODEL)

    picker, card = rules.learn(DEFAULT_MODEL, "ana", "")
    assert picker.choices == zoo_choices + [(f"{DEFAULT_MODEL} + your 1 drawing", MINE)]
    assert picker.value == MINE  # the profile's own model stands in for its base
    assert "On your 1 drawing" in card
    assert rules.model_for(MINE, "ana", "") is rules.personal.get(p)
    assert rules.picker("no such model", "ana", "").value == DEFAULT_MODEL
    assert rules.picker(None, "ana", "").value is None  # the page's value stays
    # Another profile has its own drawings and no model of its own.
    assert rules.picker(DEFAULT_MODEL, "ben", "").value == DEFAULT_MODEL
    assert rules.model_for(MINE, "ben", "") is rules.models[DEFAULT_MODEL]

    yours = rules.yours(p)
    assert [caption for _, caption in yours.gallery] == ["3 (read as 7)"] and yours.export.is_file()


def test_nothing_drawn_keeps_nothing_and_bad_requests_are_refused_in_words(rules, drawings):
    assert rules.keep(3, None, DEFAULT_MODEL, "me", "") is None
    assert rules.store.drawings(rules.profile("me", "")) == []
    for call, words in [(lambda: rules.profile("x" * 41, ""), "at most 40 characters"),
                        (lambda: rules.profile(["a"], ""), "at most 40 characters"),
                        (lambda: rules.delete(None, "me", ""), "Click a drawing"),
                        (lambda: rules.discard(DEFAULT_MODEL, "me", ""), "Only a model trained"),
                        (lambda: rules.look_closer(None, DEFAULT_MODEL, "me", "", 0, (5, 5)), "Draw a digit first"),
                        (lambda: rules.read_strokes("{}", "nope"), "No model 'nope'"),
                        (lambda: rules.read_strokes("{oops", DEFAULT_MODEL), "not JSON")]:
        with pytest.raises(Refused, match=words):
            call()
    answer = rules.read_strokes(value_of(drawings, 4), DEFAULT_MODEL)
    assert answer["digit"] == 4 and len(answer["probabilities"]) == 10
    assert rules.read_strokes(json.dumps({"size": [400, 400], "strokes": []}), DEFAULT_MODEL)["digit"] is None


def test_only_the_latest_pen_up_of_a_page_gets_its_panels(rules):
    rules.pen_up("page-a", "first")
    assert not rules.superseded("page-a", "first")
    rules.pen_up("page-a", "second")
    assert rules.superseded("page-a", "first") and not rules.superseded("page-a", "second")
    assert not rules.superseded("page-b", "first")  # another page's drawings are its own


def test_a_shared_page_keeps_profiles_to_their_browser_and_caps_them(rules, drawings, monkeypatch):
    rules.shared = True
    with pytest.raises(Refused, match="token is missing or not valid"):
        rules.profile("me", "forged")
    token, profiles = rules.arrive(None, "me")
    assert owners.owner(token) is not None and profiles == ["me"]
    other, _ = rules.arrive(None, "me")
    assert rules.profile("me", token) != rules.profile("me", other)
    assert rules.arrive(token, "me")[0] == token  # a token this server signed is kept

    monkeypatch.setattr(draw_rules, "SHARED_CAP", 2)
    _, last = rules.read(value_of(drawings, 1), DEFAULT_MODEL, "me", token)
    for label in (None, 7):  # the same drawing twice is kept once: told apart by their labels
        rules.keep(label, last, DEFAULT_MODEL, "me", token)
    with pytest.raises(Refused, match="holds 2 drawings"):
        rules.keep(None, last, DEFAULT_MODEL, "me", token)
    assert len(rules.store.ids(rules.profile("me", token))) == 2

    add = rules.store.add

    def slow_add(*args):  # a slow disk: the count of one click and its insert lie far apart
        time.sleep(0.05)
        return add(*args)
    monkeypatch.setattr(rules.store, "add", slow_add)

    def click(label):  # eleven buttons clicked at once by a script: each is its own event
        with contextlib.suppress(Refused):
            rules.keep(label, last, DEFAULT_MODEL, "racing", token)
    with ThreadPoolExecutor(11) as pool:
        list(pool.map(click, [None, *range(10)]))
    assert len(rules.store.ids(rules.profile("racing", token))) == 2
    assert not rules.removable(DEFAULT_MODEL)


def test_deleting_and_forgetting_change_only_that_profile(rules, drawings):
    _, last = rules.read(value_of(drawings, 2), DEFAULT_MODEL, "ana", "")
    for who, label in (("ana", None), ("ana", 3), ("ben", None)):
        rules.keep(label, last, DEFAULT_MODEL, who, "")
    ana, ben = rules.profile("ana", ""), rules.profile("ben", "")
    newest = rules.drawing_at(0, "ana", "")
    assert newest == max(rules.store.ids(ana)) and rules.drawing_at(1, "ana", "") == min(rules.store.ids(ana))
    for index in (2, -1, 10**30, "0"):  # past the gallery, or not an index: as a script might send
        with pytest.raises(Refused, match="not in your gallery"):
            rules.drawing_at(index, "ana", "")
    assert rules.delete(newest, "ana", "") == ana and len(rules.store.ids(ana)) == 1
    rules.forget("ana", "")
    assert rules.store.ids(ana) == [] and len(rules.store.ids(ben)) == 1
    assert rules.yours(ana).export is None


def test_a_shared_page_caps_profiles_per_browser_browsers_and_corrections(rules, drawings, monkeypatch):
    rules.shared = True
    monkeypatch.setattr(draw_rules, "PROFILES_PER_BROWSER", 3)
    monkeypatch.setattr(draw_rules, "BROWSERS", 2)
    token, _ = rules.arrive(None, "me")
    for who in ("a", "b"):
        rules.profile(who, token)
    with pytest.raises(Refused, match="has 3 profiles"):
        rules.profile("c", token)
    assert rules.profile("a ", token) == rules.profile("a", token)  # an old one is no new profile
    rules.arrive(None, "me")  # a second browser
    with pytest.raises(Refused, match="2 browsers already"):
        rules.arrive(None, "me")
    assert rules.store.owners() == 2

    monkeypatch.setattr(rules, "corrections", Limit(2, 60))
    _, last = rules.read(value_of(drawings, 5), DEFAULT_MODEL, "me", token)
    for label in (None, 3):
        rules.keep(label, last, DEFAULT_MODEL, "me", token)
    with pytest.raises(Refused, match=r"2 corrections in a minute.*try again in \d+ s"):
        rules.keep(None, last, DEFAULT_MODEL, "me", token)
    assert len(rules.store.ids(rules.profile("me", token))) == 2


def test_a_shared_page_meters_each_browsers_readings(rules, drawings, monkeypatch):
    rules.shared = True
    monkeypatch.setattr(rules, "readings", Limit(3, 10))
    mine, theirs = rules.arrive(None, "me")[0], rules.arrive(None, "me")[0]
    value = value_of(drawings, 4)
    for _ in range(3):
        rules.read(value, DEFAULT_MODEL, "me", mine)
    for asked in (lambda: rules.panels(value, DEFAULT_MODEL, "me", mine),
                  lambda: rules.look_closer((None, value), DEFAULT_MODEL, "me", mine, 0, (5, 5))):
        with pytest.raises(Refused, match=r"asked for 3 readings in 10 s.*try again in \d+\.\d s"):
            asked()
    assert rules.read(value, DEFAULT_MODEL, "me", theirs)[0].digit == 4  # another browser reads on
    for _ in range(3):  # the API carries no token: scripts share one count
        rules.read_strokes(value, DEFAULT_MODEL)
    with pytest.raises(Refused, match=r"Scripts and pages still opening \(one count\) asked for 3 readings"):
        rules.read_strokes(value, DEFAULT_MODEL)


def test_a_model_trained_on_a_shared_page_is_its_browsers_alone(rules, drawings, zoo_models):
    rules.shared = True
    mine, theirs = rules.arrive(None, "me")[0], rules.arrive(None, "me")[0]
    rules.add("digitcnn (trained at 10:00)", zoo_models["simplecnn"], owners.owner(mine))
    labels = [label for label, _ in rules.picker(None, "me", mine).choices]
    assert "digitcnn (trained at 10:00)" in labels
    assert "digitcnn (trained at 10:00)" not in [label for label, _ in rules.picker(None, "me", theirs).choices]
    value = value_of(drawings, 8)
    assert rules.read(value, "digitcnn (trained at 10:00)", "me", mine)[0].probs
    with pytest.raises(Refused, match="trained by another browser"):
        rules.read(value, "digitcnn (trained at 10:00)", "me", theirs)
    with pytest.raises(Refused, match="No model"):  # the API carries no token: the zoo only
        rules.read_strokes(value, "digitcnn (trained at 10:00)")


def test_a_limit_counts_each_key_in_a_sliding_window():
    now = [0.0]
    limit = Limit(2, 60, clock=lambda: now[0])
    assert limit.take("a") is None and limit.take("a") is None
    assert limit.take("a") == 60 and limit.take("b") is None  # another browser has its own
    now[0] = 59.5
    assert limit.take("a") == 0.5
    now[0] = 60.0
    assert limit.take("a") is None
    for n in range(10_001):  # tokens a script made up, one action each
        limit.take(f"fake {n}")
    now[0] = 200.0
    limit.take("b")
    assert set(limit.times) == {"b"}  # the idle ones are forgotten
