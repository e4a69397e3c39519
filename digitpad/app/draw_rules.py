"""The Draw tab's rules, apart from its wiring: whose profiles a page sees, which model reads a
drawing, what the picker offers, what a correction keeps and teaches, the cap on a shared page.
Methods take and return plain data (no gradio); a request refused raises Refused."""
import contextlib
import io
import secrets
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from .. import home, owners, pixels, render, runs, strokes
from ..inference import classify
from ..limits import Limit
from ..models import MODELS
from ..personal import PersonalModels
from ..push import Push
from ..store import Read, ReadOnly, Store
from ..weights import Loaded

# What a page served beyond this machine (shared) allows each browser, and all of them.
SHARED_CAP = 500  # drawings a profile keeps
PROFILES_PER_BROWSER = 20
BROWSERS = 300  # browsers with profiles; a class of 30 is a tenth of it
CORRECTIONS_PER_MINUTE = 30  # each one teaches: a person pressing digits keeps well under it
READINGS_PER_10_S = 300  # readings and clicks: the pad sends about 17 a second while the pen moves
EXPORT_KEPT_S = 600  # a zip made for download is deleted after this, or when replaced
MINE = "mine"  # the picker's key for the profile's own model, whatever its label says


class Refused(Exception):
    """A request the page refuses; the message is the reason, for the person."""


@dataclass(frozen=True)
class Picker:
    """The model picker: its choices as (label, key), and the key to select (None: keep it)."""
    choices: list[tuple[str, str]]
    value: str | None


@dataclass
class Yours:
    """A profile's drawings as the page shows them: the gallery (newest first, with captions),
    the scorecard and the export's zip (None when there is nothing to export)."""
    gallery: list[tuple[Image.Image, str]]
    scorecard: str
    export: Path | None


Last = tuple[torch.Tensor, str]  # the last pen-up's 28x28 input and the pad's value it came from


def drawn(last: Last | None) -> torch.Tensor:
    """The last drawing's input, for a click on a picture of it."""
    if last is None:
        raise Refused("Draw a digit first, then click a picture of it.")
    return last[0]


def clicked(at) -> tuple[int, int]:
    """A click's (x, y) on an image, as the page sends it; a script's anything else is refused."""
    if not (isinstance(at, (list, tuple)) and len(at) == 2 and all(type(v) is int and v >= 0 for v in at)):
        raise Refused("A click is two whole numbers, x and y, on the picture.")
    return at[0], at[1]


def push_of(values: dict) -> Push | None:
    """The sliders' values by name as a Push (None: the drawing as drawn), refused in a sentence
    when out of range."""
    try:
        push = Push(**values)
    except (TypeError, ValueError) as e:
        raise Refused(f"Push: {e}.") from None
    return None if push == Push() else push


def scorecard(drawings: list, base_name: str) -> str:
    """How the base model and the person's own model read the person's drawings, in a sentence."""
    if not drawings:
        return ("No drawings yet. After a reading, press **Right** or the digit it was: "
                "digitpad keeps the drawing and learns your style from it.")
    n = len(drawings)
    base = sum(d.base_said == d.label for d in drawings)
    mine = sum(d.mine_said == d.label for d in drawings)
    return (f"On your {n} drawing{'s' * (n != 1)}, {base_name} read {base} right; your model "
            f"read {mine} right, each before it learned that drawing.")


class DrawRules:
    """The rules for a dict of loaded models (picker label -> model), which grows as runs finish.

    `shared`: served beyond this machine, so each browser sees only the profiles it made and
    the models it trained, within the caps above."""

    def __init__(self, models: dict[str, Loaded], default: str, shared: bool):
        self.models, self.default, self.shared = models, default, shared
        self.filters = {name: pixels.filters_image(m.module) for name, m in models.items()}
        # Tables and layer labels go by architecture (model.name): a trained digitcnn shares digitcnn's.
        self.tables = {m.name: render.architecture(m.module) for m in models.values()}
        self.labels = {m.name: render.layer_labels(m.module) for m in models.values()}
        self.slots = max(map(len, self.labels.values()))  # images for layers; widekernel shows fewer
        self.store = Store(home.store_path())
        self.personal = PersonalModels(self.store, models[default])
        self._drawn_last: dict[str, int] = {}  # page (session) -> hash of its last pen-up's drawing
        self._exports: dict[int, Path] = {}  # profile -> the zip of its drawings last made
        self.trained_by: dict[str, str] = {}  # label -> owner, of models trained on a shared page
        self.corrections = Limit(CORRECTIONS_PER_MINUTE, 60)  # per owner, on a shared page
        self._keeping = threading.Lock()
        self.readings = Limit(READINGS_PER_10_S, 10)  # per owner, on a shared page

    # Whose page, which profile

    def owner(self, token) -> str:
        """The profiles' owner: this machine's user, or when shared the browser's signed token."""
        if not self.shared:
            return owners.LOCAL
        if (signed := owners.owner(token)) is None:
            raise Refused("This page's token is missing or not valid: reload the page.")
        return signed

    def profile(self, who, token) -> int:
        """The profile `who` of the token's owner, made when new (on a shared page, within the
        caps on profiles per browser and browsers per page)."""
        if who is not None and (not isinstance(who, str) or len(who) > 40):
            raise Refused("A profile's name is text of at most 40 characters.")
        with saving():
            return self.store.profile(who or "me", self.owner(token), self.admit if self.shared else None)

    def admit(self, owner: str) -> None:
        """Refuse a shared page's new profile past PROFILES_PER_BROWSER, and a new browser's
        first past BROWSERS."""
        mine = self.store.profiles(owner)
        if len(mine) >= PROFILES_PER_BROWSER:
            raise Refused(f"This browser has {PROFILES_PER_BROWSER} profiles, the most a shared page "
                          "keeps for one: choose one of them under Who is drawing?")
        if not mine and self.store.owners() >= BROWSERS:
            raise Refused(f"This page keeps the drawings of {BROWSERS} browsers already, its most: "
                          "ask whoever serves it to start another.")

    def arrive(self, token, who) -> tuple[str, list[str]]:
        """A page opens: its browser's token when shared (a new one unless this server signed
        the one it has), and the profiles that browser made."""
        if self.shared and owners.owner(token) is None:
            token = owners.new()
        self.profile(who, token)
        return token, self.store.profiles(self.owner(token))

    # Models and the picker

    def model_for(self, name, who, token) -> Loaded:
        """A served model by name, else (MINE) the profile's own model, else the default."""
        if name in self.models:
            if name in self.trained_by and not self.usable(name, self.owner(token)):
                raise Refused("That model was trained by another browser: choose another.")
            return self.models[name]
        return self.personal.get(self.profile(who, token)) or self.models[self.default]

    def usable(self, name: str, owner: str) -> bool:
        """Every served model is everyone's, but on a shared page the one a browser trained there,
        which is that browser's alone."""
        return self.trained_by.get(name, owner) == owner

    def picker(self, name: str | None, who, token) -> Picker:
        """The served models this browser may use, plus the profile's own model, which replaces
        its base as the choice. Its key stays MINE as its label counts drawings, so a page's
        value is never left out of the choices."""
        owner, mine = self.owner(token), self.personal.get(self.profile(who, token))
        choices = [(n, n) for n in self.models if self.usable(n, owner)]
        choices += [(self.mine_label(mine), MINE)] if mine else []
        if name is None:
            return Picker(choices, None)
        if mine and name == self.default:
            name = MINE
        return Picker(choices, name if name in dict(choices).values() else self.default)

    def mine_label(self, model: Loaded) -> str:
        n = len(model.meta["drawings"])
        return f"{self.default} + your {n} drawing{'s' * (n != 1)}"

    def removable(self, name) -> bool:
        """A model trained on the page, on a page not shared with a class (which would lose it)."""
        return not self.shared and name in self.models and runs.is_trained(self.models[name])

    def discard(self, name, who, token) -> Picker:
        """Remove the chosen trained model, its files deleted; the picker goes back to the default."""
        if not self.removable(name):
            raise Refused("Only a model trained in the Train tab can be removed, and only on the "
                          "machine that serves the page.")
        self.remove(name)
        return self.picker(self.default, who, token)

    def add(self, label: str, model: Loaded, owner: str = owners.LOCAL) -> None:
        """A model trained on the page joins the picker's choices: on a shared page, only those
        of the browser that trained it (`owner`)."""
        self.models[label] = model
        self.filters[label] = pixels.filters_image(model.module)
        if self.shared:
            self.trained_by[label] = owner

    def remove(self, label: str) -> None:
        """A trained model leaves the choices, its files deleted."""
        self.filters.pop(label, None)
        self.trained_by.pop(label, None)
        runs.remove(self.models.pop(label))

    def kernels(self, name, model: Loaded):
        return self.filters[name] if name in self.filters else pixels.filters_image(model.module)

    # Readings

    def metered(self, token) -> None:
        """Count a reading (or a click on one) against a shared page's browser, refused past
        READINGS_PER_10_S. Pages without a valid token yet share one count, and so do scripts."""
        owner = owners.owner(token)
        if self.shared and (wait := self.readings.take(owner or "")) is not None:
            who = "This browser" if owner else "Scripts and pages still opening (one count)"
            raise Refused(f"{who} asked for {self.readings.most} readings in {self.readings.seconds:.0f} s, "
                          f"more than a pen sends: try again in {wait:.1f} s.")

    def read(self, value, name, who, token, push: Push | None = None) -> tuple[render.Glance, Last | None]:
        """The pad's value read by the chosen model (pushed, if `push`), and (input, value) kept for
        what follows."""
        self.metered(token)
        g = render.glance(self.model_for(name, who, token).module, value, push)
        return g, None if g.x is None else (g.x, value)

    def pen_up(self, page: str, value) -> None:
        """Note the page's latest whole drawing, so that panels for an older one can be skipped."""
        self._drawn_last[page] = hash(value)
        while len(self._drawn_last) > 10_000:  # pages long gone
            self._drawn_last.pop(next(iter(self._drawn_last)))

    def superseded(self, page: str, value) -> bool:
        """Whether a later pen-up on the same page has replaced this drawing."""
        return self._drawn_last.get(page, hash(value)) != hash(value)

    def panels(self, value, name, who, token, push: Push | None = None) -> render.Panels:
        self.metered(token)
        return render.panels(self.model_for(name, who, token).module, value, self.filters.get(name), push)

    def zoo(self, x, who, token) -> list[tuple[str, int, float]]:
        """Every shipped zoo model's reading of the input x, and the profile's own model's."""
        models = {n: m.module for n, m in self.models.items() if n in MODELS}
        if mine := self.personal.get(self.profile(who, token)):
            models[self.mine_label(mine)] = mine.module
        return render.zoo_row(models, x)

    def curve(self, value, name, who, token, push: Push | None):
        """The pushed drawing's digit and its probability as the rotation sweeps (render.curve)."""
        self.metered(token)
        try:
            return render.curve(self.model_for(name, who, token).module, value, push or Push())
        except ValueError as e:
            raise Refused(f"No curve: {e}.") from None

    def look_at_unit(self, last: Last | None, name, who, token, at) -> tuple | None:
        """The fc1 unit clicked at (x, y) of its squares: (image, text), or None past the last."""
        self.metered(token)
        model = self.model_for(name, who, token).module
        unit = pixels.unit_under(model.fc1.out_features, *clicked(at))
        return None if unit is None else render.look_at_unit(model, drawn(last), unit)

    def softmax(self, last: Last | None, name, who, token, at) -> str | None:
        """The softmax arithmetic of the digit whose bar was clicked at (x, y), or None past them."""
        self.metered(token)
        digit = pixels.score_under(clicked(at)[1])
        model = self.model_for(name, who, token).module
        return None if digit is None else render.softmax_for(model, drawn(last), digit)

    def switch(self, last: Last | None, name, who, token) -> tuple[Loaded, render.Panels]:
        """Another model, and its reading of the last drawing (an empty one without)."""
        self.metered(token)
        model = self.model_for(name, who, token)
        return model, render.reading(model.module, last and last[0], self.filters.get(name))

    def read_strokes(self, value, model) -> dict:
        """The pad's value as JSON -> {"digit", "probabilities" (ten floats), "verdict"}; digit and
        probabilities are None when nothing is drawn."""
        if model not in self.models or model in self.trained_by:  # the API carries no browser's token
            served = [n for n in self.models if n not in self.trained_by]
            raise Refused(f"No model {str(model)[:40]!r}; choose one of {', '.join(served)}.")
        self.metered(None)  # a script carries no browser's token
        g = render.glance(self.models[model].module, value)
        if g.probs is None and g.verdict != render.EMPTY:
            raise Refused(g.verdict)
        return {"digit": g.digit, "probabilities": None if g.probs is None else list(g.probs.values()),
                "verdict": g.verdict}

    def look_closer(self, last: Last | None, name, who, token, slot: int, at):
        """The clicked unit of the `slot`-th layer's maps: (image, text), or None between tiles."""
        self.metered(token)
        model = self.model_for(name, who, token).module
        if slot >= len(model.feature_layers):
            raise Refused("That model shows fewer layers: click a tile of a feature map shown.")
        return render.look_closer(model, drawn(last), model.feature_layers[slot], *clicked(at))

    # A profile's drawings

    def keep(self, label: int | None, last: Last | None, name, who, token) -> int | None:
        """Store the last drawing as `label` (None: the reading was right) with how the chosen,
        base and own models read it; returns the profile, None when nothing is drawn. Raises
        ReadOnly when the store is."""
        if last is None:
            return None
        x, value = last
        p = self.profile(who, token)
        if self.shared and (wait := self.corrections.take(self.owner(token))) is not None:
            raise Refused(f"This browser has sent {self.corrections.most} corrections in a minute, "
                          f"the most a shared page takes: try again in {wait:.0f} s.")
        chosen, base = self.model_for(name, who, token).module, self.models[self.default].module
        mine = (self.personal.get(p) or self.models[self.default]).module  # before it learns this drawing
        said = {m: classify(m, x).digit for m in {chosen, base, mine}}  # each model read once
        label = said[chosen] if label is None else label
        thumbnail = pixels.thumbnail(strokes.parse(value))
        with self._keeping:  # each button is its own event: a script's racing clicks would all pass the count
            if self.shared and len(self.store.ids(p)) >= SHARED_CAP:
                raise Refused(f"This profile holds {SHARED_CAP} drawings, the most a shared page "
                              "keeps: delete some under Your drawings first.")
            if self.store.newest(p) != (value, label):  # else a double click, or a retry whose answer was lost
                self.store.add(p, x, thumbnail, label, Read(name, said[chosen], said[base], said[mine]), value)
        return p

    def learn(self, name, who, token) -> tuple[Picker, str]:
        """Teach the profile's model if its drawings or base weights changed: the picker and the
        scorecard then."""
        p = self.profile(who, token)
        self.personal.update(p)
        return self.picker(name, who, token), scorecard(self.store.drawings(p), self.default)

    def yours(self, p: int) -> Yours:
        kept = self.store.drawings(p)
        shown = [(Image.open(io.BytesIO(d.canvas)) if d.canvas else pixels.input_image(d.input),
                  f"{d.label}" + (f" (read as {d.said})" if d.said != d.label else ""))
                 for d in reversed(kept)]
        return Yours(shown, scorecard(kept, self.default),
                     self.export(p) if kept else self.unexport(p))

    def export(self, p: int) -> Path | None:
        """A fresh zip of the profile's drawings in a folder of an unguessable name (Gradio serves
        files by path to anyone who names one); the profile's previous zip goes."""
        self.unexport(p)
        for old in home.exports_dir().glob("*/"):  # any left by this or an earlier server
            if time.time() - old.stat().st_mtime > EXPORT_KEPT_S:
                shutil.rmtree(old, ignore_errors=True)
        folder = home.exports_dir() / secrets.token_hex(16)
        try:
            folder.mkdir(parents=True)
            self._exports[p] = self.store.export_zip(p, folder / "digitpad-drawings.zip")
        except OSError as e:  # a home turned read-only: the gallery still shows, with no download
            print(f"digitpad: could not write the drawings' zip: {e}", file=sys.stderr, flush=True)
            return None
        return self._exports[p]

    def unexport(self, p: int) -> None:
        if path := self._exports.pop(p, None):
            shutil.rmtree(path.parent, ignore_errors=True)

    def drawing_at(self, index: int, who, token) -> int:
        """The id of the gallery's `index`-th drawing (newest first)."""
        ids = self.store.ids(self.profile(who, token))
        if not isinstance(index, int) or not 0 <= index < len(ids):
            raise Refused("That drawing is not in your gallery: click one that is.")
        return ids[-1 - index]

    def delete(self, chosen, who, token) -> int:
        if chosen is None:
            raise Refused("Click a drawing in the gallery first.")
        p = self.profile(who, token)
        with saving():
            self.store.delete(p, chosen)
        return p

    def forget(self, who, token) -> int:
        p = self.profile(who, token)
        with saving():
            self.store.forget(p)
        return p

    def upload(self, file, who, token) -> tuple[int, str]:
        """Import a zip of drawings; the profile and a report of what was added and skipped."""
        p = self.profile(who, token)
        room = SHARED_CAP - len(self.store.ids(p)) if self.shared else None
        with saving():
            added, problems = self.store.import_zip(p, file, room)
        return p, f"Imported {added} drawing{'s' * (added != 1)}." + "".join(
            f"\n- skipped {problem}" for problem in problems)


@contextlib.contextmanager
def saving():
    """A store that can no longer be written is refused in its own sentence."""
    try:
        yield
    except ReadOnly as e:
        raise Refused(str(e)) from None
