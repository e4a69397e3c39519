"""The Draw tab's rules without a browser: the picker, corrections, profiles and the shared
page's limits, on the shipped models and real pen strokes."""
import json

import numpy as np
import pytest

from digitpad import owners, pendigits, zoo
from digitpad.app import draw_rules
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
    assert rules.picker(p, DEFAULT_MODEL).choices == zoo_choices  # nothing taught yet

    glance, last = rules.read(value_of(drawings, 7), DEFAULT_MODEL, "ana", "")
    assert glance.digit == 7 and last[1] == value_of(drawings, 7)
    assert rules.keep(3, last, DEFAULT_MODEL, "ana", "") == p  # told it was a 3
    [kept] = rules.store.drawings(p)
    assert (kept.label, kept.said, kept.base_said, kept.mine_said, kept.model) == (3, 7, 7, 7, DEFAULT_MODEL)

    picker, card = rules.learn(DEFAULT_MODEL, "ana", "")
    assert picker.choices == zoo_choices + [(f"{DEFAULT_MODEL} + your 1 drawing", MINE)]
    assert picker.value == MINE  # the profile's own model stands in for its base
    assert "On your 1 drawing" in card
    assert rules.model_for(MINE, "ana", "") is rules.personal.get(p)
    assert rules.picker(p, "no such model").value == DEFAULT_MODEL
    assert rules.picker(p, None).value is None  # the page's value stays
    # Another profile has its own drawings and no model of its own.
    assert rules.picker(rules.profile("ben", ""), DEFAULT_MODEL).value == DEFAULT_MODEL
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
    for _ in range(2):
        rules.keep(None, last, DEFAULT_MODEL, "me", token)
    with pytest.raises(Refused, match="holds 2 drawings"):
        rules.keep(None, last, DEFAULT_MODEL, "me", token)
    assert len(rules.store.ids(rules.profile("me", token))) == 2
    assert not rules.removable(DEFAULT_MODEL)


def test_deleting_and_forgetting_change_only_that_profile(rules, drawings):
    _, last = rules.read(value_of(drawings, 2), DEFAULT_MODEL, "ana", "")
    for who in ("ana", "ana", "ben"):
        rules.keep(None, last, DEFAULT_MODEL, who, "")
    ana, ben = rules.profile("ana", ""), rules.profile("ben", "")
    newest = rules.drawing_at(0, "ana", "")
    assert newest == max(rules.store.ids(ana))
    assert rules.delete(newest, "ana", "") == ana and len(rules.store.ids(ana)) == 1
    rules.forget("ana", "")
    assert rules.store.ids(ana) == [] and len(rules.store.ids(ben)) == 1
    assert rules.yours(ana).export is None
