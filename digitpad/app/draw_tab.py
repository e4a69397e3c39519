"""The Draw tab: the pad, the reading, the teaching and the closer look, wired to pure
functions in render, store and personal."""
import base64
import contextlib
import functools
import io
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Callable

import gradio as gr
import numpy as np
from PIL import Image

from .. import home, owners, render, runs, strokes
from ..inference import classify
from ..personal import PersonalModels
from ..store import ReadOnly, Store, png
from .pad import stroke_pad
from .refusal import refuse

SHARED_CAP = 500  # drawings a profile keeps when the page is served beyond this machine
EXPORT_KEPT_S = 600  # a zip made for download is deleted after this, or when replaced
MINE = "mine"  # the picker's key for the profile's own model, whatever its label says


def view28(image: np.ndarray | None) -> str:
    """The 28x28 view as HTML with the PNG inline (about 300 bytes): sent with every live
    reading, it skips Gradio's file cache, which cost a class's server more than the reading."""
    if image is None:
        return VIEW28_EMPTY
    data = base64.b64encode(png(image)).decode()
    return f'<img src="data:image/png;base64,{data}" alt="the 28 x 28 input the model reads">'


VIEW28_EMPTY = "<p>The 28 x 28 image the model reads appears here.</p>"
NOTHING_DRAWN = "Draw a digit first, then say which it was."


def picture(**kwargs) -> gr.Image:
    """An output image, sent as PNG: Gradio 6's default WebP took 3-7x as long to encode these
    flat images, on the server's event loop."""
    return gr.Image(format="png", interactive=False, **kwargs)


@contextlib.contextmanager
def saving():
    """A store that can no longer be written is said on the page in its own sentence, not as
    a bare "Error"."""
    try:
        yield
    except ReadOnly as e:
        raise refuse(str(e)) from None


@dataclass
class Draw:
    """What the other tabs need of this one."""
    picker: gr.Dropdown
    who: gr.Dropdown
    add: Callable  # add(label, model): a freshly trained model joins the picker's choices
    remove: Callable  # remove(label): a trained model leaves them, its files deleted
    choices: Callable  # choices(name, who, token): the picker's update, `name` (None: its value) chosen
    owner: Callable  # owner(token): whose page this is (owners); refuses a token this server did not sign


def build(demo: gr.Blocks, models: dict, default: str, shared: bool, token: gr.BrowserState) -> Draw:
    """The tab for a dict of loaded models (label -> model), which grows as runs finish.

    `shared`: served beyond this machine, so each browser sees only the profiles it made and
    a profile keeps at most SHARED_CAP drawings."""
    filters = {name: render.filters_image(m) for name, m in models.items()}
    # Tables and layer labels go by architecture (model.name): a trained digitcnn shares digitcnn's.
    tables = {m.name: render.architecture(m) for m in models.values()}
    labels = {m.name: render.layer_labels(tables[m.name], m.feature_layers) for m in models.values()}
    slots = max(map(len, labels.values()))  # one image per shown layer; widekernel shows fewer
    store = Store(home.store_path())
    drawn_last = {}  # page (session) -> hash of its last pen-up's drawing
    exports = {}  # profile -> the zip of its drawings last made for download
    personal = PersonalModels(store, models[default], default)

    def pad(items, fill):
        return items + [fill] * (slots - len(items))

    def owner(token):
        """The profiles' owner: this machine's user, or when shared the browser's signed token."""
        if not shared:
            return owners.LOCAL
        if (signed := owners.owner(token)) is None:
            raise refuse("This page's token is missing or not valid: reload the page.")
        return signed

    def profile(who, token):
        if who is not None and (not isinstance(who, str) or len(who) > 40):
            raise refuse("A profile's name is text of at most 40 characters.")
        with saving():
            return store.profile(who or "me", owner(token))

    def model_for(name, who, token):
        """A zoo model by name, else (MINE, the picker's "... + your N drawings") the personal one."""
        if name in models:
            return models[name]
        return personal.get(profile(who, token)) or models[default]

    def mine_label(model):
        n = len(model.meta["drawings"])
        return f"{default} + your {n} drawing{'s' * (n != 1)}"

    def picker_update(p, name):
        """The zoo plus the profile's own model, which replaces its base as the choice. Its key
        stays MINE as its label counts drawings, so a page's value is never left out of the choices."""
        mine = personal.get(p)
        choices = [(n, n) for n in models] + ([(mine_label(mine), MINE)] if mine else [])
        if name is None:
            return gr.Dropdown(choices=choices)
        if mine and name == default:
            name = MINE
        return gr.Dropdown(choices=choices, value=name if name in dict(choices).values() else default)

    def why(p):
        """The two heat maps as plain images (a component update would make Gradio rebuild its
        config on every reading) and the sentence that names them."""
        if not p.why:
            return None, None, render.WHY
        (answer, toward), (runner_up, against) = p.why
        return answer, runner_up, f"**Left**: {toward}. **Right**: {against}. {render.WHY}"

    def read(value, name, who, token):
        """The pad's value, while the pen moves and at pen-up: the verdict, the probabilities and
        the 28x28 view, and (input, value) kept for the buttons, the picker and look closer."""
        g = render.glance(model_for(name, who, token), value)
        return g.verdict, g.probs, view28(g.input), None if g.x is None else (g.x, value)

    def read_drawing(value, name, who, token, request: gr.Request):
        """At pen-up: the reading of the whole drawing, and the drawing noted as this page's last."""
        drawn_last[request.session_hash] = hash(value)
        while len(drawn_last) > 10_000:  # pages long gone
            drawn_last.pop(next(iter(drawn_last)))
        return read(value, name, who, token)

    def look(value, name, who, token, request: gr.Request):
        """After a pen-up's reading: the heat maps, every layer's maps and conv1's responses,
        unless a later pen-up on the same page has superseded this drawing."""
        if drawn_last.get(request.session_hash, hash(value)) != hash(value):
            return [gr.skip()] * (3 + slots + 1)  # costly in Gradio, but far less than the maps
        p = render.panels(model_for(name, who, token), value, filters.get(name))
        return *why(p), *pad(p.layers, None), p.responses

    def read_strokes(value: str, model: str = default) -> dict:
        """The pad's value as JSON -> {"digit", "probabilities" (ten floats), "verdict"}; digit and
        probabilities are None when nothing is drawn."""
        if model not in models:
            raise refuse(f"No model {str(model)[:40]!r}; choose one of {', '.join(models)}.")
        g = render.glance(models[model], value)
        if g.probs is None and g.verdict != render.EMPTY:
            raise refuse(g.verdict)
        return {"digit": g.digit, "probabilities": None if g.probs is None else list(g.probs.values()),
                "verdict": g.verdict}

    def switch(last, name, who, token):
        """Another model: its reading of the last drawing, its layer labels (they change only
        here; readings send plain values), filters and table. With no drawing yet the reading is
        left alone: a page that opens with the profile's own model must not blank a first drawing
        read meanwhile."""
        model = model_for(name, who, token)
        p = render.reading(model, last and last[0], filters.get(name))
        panels = [gr.Image(m, label=label, visible=bool(label))
                  for m, label in zip(pad(p.layers, None), pad(labels[model.name], ""))]
        kernel = filters[name] if name in filters else render.filters_image(model)
        reading = (p.verdict, p.probs, view28(p.input), *why(p)) if last else [gr.skip()] * 6
        return (*reading, *panels, p.responses if last else gr.skip(), kernel, tables[model.name],
                gr.Button(visible=removable(name)))

    def removable(name):
        """A model trained on the page, on a page not shared with a class (which would lose it)."""
        return not shared and name in models and runs.is_trained(models[name])

    def discard(name, who, token):
        """Remove the chosen trained model, its files deleted; the picker goes back to the default."""
        if not removable(name):
            raise refuse("Only a model trained in the Train tab can be removed, and only on the "
                         "machine that serves the page.")
        remove(name)
        return picker_update(profile(who, token), default)

    def looker(slot):
        """The select handler of the `slot`-th layer image: look closer at the clicked unit."""
        def look(last, name, who, token, evt: gr.SelectData):
            model = model_for(name, who, token)
            if last is None or slot >= len(model.feature_layers):
                raise refuse("Draw a digit first, then click a tile of a feature map.")
            found = render.look_closer(model, last[0], model.feature_layers[slot], *evt.index)
            return found if found else (gr.skip(), "That click fell between two tiles: click a tile.")
        return look

    def yours(p, note=""):
        """The gallery, the scorecard and the export of a profile's drawings."""
        kept = store.drawings(p)
        shown = [(Image.open(io.BytesIO(d.canvas)) if d.canvas else render.input_image(d.input),
                  f"{d.label}" + (f" (read as {d.said})" if d.said != d.label else ""))
                 for d in reversed(kept)]
        return shown, render.scorecard(kept, default) + note, gr.DownloadButton(
            value=export(p) if kept else unexport(p), interactive=bool(kept))

    def export(p):
        """A fresh zip of the profile's drawings in a folder of an unguessable name (Gradio serves
        files by path to anyone who names one); the profile's previous zip goes."""
        unexport(p)
        for old in home.exports_dir().glob("*/"):  # any left by this or an earlier server
            if time.time() - old.stat().st_mtime > EXPORT_KEPT_S:
                shutil.rmtree(old, ignore_errors=True)
        folder = home.exports_dir() / secrets.token_hex(16)
        try:
            folder.mkdir(parents=True)
            exports[p] = store.export_zip(p, folder / "digitpad-drawings.zip")
        except OSError as e:  # a home turned read-only: the gallery still shows, with no download
            print(f"digitpad: could not write the drawings' zip: {e}", file=sys.stderr, flush=True)
            return None
        return exports[p]

    def unexport(p):
        if path := exports.pop(p, None):
            shutil.rmtree(path.parent, ignore_errors=True)

    def keep(label, last, name, who, token):
        """Store the drawing as `label` (None: the reading was right): the gallery, the score
        line and the export, then the taught model in the picker and the scorecard."""
        if last is None:
            yield gr.skip(), gr.skip(), NOTHING_DRAWN, gr.skip()
            return
        x, value = last
        p = profile(who, token)
        if shared and len(store.ids(p)) >= SHARED_CAP:
            raise refuse(f"This profile holds {SHARED_CAP} drawings, the most a shared page "
                           "keeps: delete some under Your drawings first.")
        chosen, base = model_for(name, who, token), models[default]
        mine = personal.get(p) or base  # before it learns this drawing; none yet: the base
        said = {m: classify(m, x).digit for m in {chosen, base, mine}}  # each model read once
        try:
            store.add(p, x, render.thumbnail(strokes.parse(value)), said[chosen] if label is None else label,
                      said[chosen], name, said[base], said[mine], value)
        except ReadOnly as e:
            yield gr.skip(), gr.skip(), str(e), gr.skip()
            return
        yield gr.skip(), *yours(p, " Learning from it...")
        picked, card = learn(name, who, token)
        yield picked, gr.skip(), card, gr.skip()

    def learn(name, who, token):
        """Teach the profile's model if its drawings or base weights changed; the picker and
        the scorecard then (the gallery and export were updated with the drawings)."""
        p = profile(who, token)
        personal.update(p)
        return picker_update(p, name), render.scorecard(store.drawings(p), default)

    def enter(name, who, token):
        """A profile is chosen: its model, taught if need be, and its drawings."""
        picked, _ = learn(name, who, token)
        return picked, *yours(profile(who, token))

    def choose(evt: gr.SelectData, who, token):
        return list(reversed(store.ids(profile(who, token))))[evt.index]

    def delete(chosen, who, token):
        if chosen is None:
            raise refuse("Click a drawing in the gallery first.")
        p = profile(who, token)
        with saving():
            store.delete(p, chosen)
        return None, *yours(p)

    def forget(who, token):
        p = profile(who, token)
        with saving():
            store.forget(p)
        return yours(p)

    def upload(file, who, token):
        p = profile(who, token)
        with saving():
            added, problems = store.import_zip(p, file, SHARED_CAP - len(store.ids(p)) if shared else None)
        report = f"Imported {added} drawing{'s' * (added != 1)}." + "".join(
            f"\n- skipped {problem}" for problem in problems)
        return report, *yours(p)

    def arrive(token, who):
        """A page opens: its browser's token when shared (a new one unless this server signed
        the one it has), the profiles that browser made."""
        if shared and owners.owner(token) is None:
            token = owners.new()
        profile(who, token)
        return token, gr.Dropdown(choices=store.profiles(owner(token)))

    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=300):
            sketch = stroke_pad()
            with gr.Row():
                # Minimum widths stack the two on a phone, where side by side the picker's
                # "digitcnn + your 2 drawings" was cut under its arrow.
                picker = gr.Dropdown(list(models), value=default, label="Model", elem_id="picker",
                                     min_width=230)
                who = gr.Dropdown(["me"], value="me", allow_custom_value=True,
                                  label="Who is drawing?", elem_id="who", min_width=150)
            drop = gr.Button("Remove this trained model", size="sm", visible=False, elem_id="drop")
        with gr.Column(scale=3, min_width=300):
            verdict = gr.Markdown(render.EMPTY, elem_id="verdict")
            with gr.Row(elem_id="correct"):
                right = gr.Button("Right", variant="primary", min_width=0, scale=2, size="sm")
                digit_buttons = [gr.Button(str(d), min_width=0, size="sm") for d in range(10)]
            score = gr.Markdown(elem_id="score")
            probs = gr.Label(num_top_classes=10, label="Probability of each digit",
                             show_label=False, elem_id="probs")
        with gr.Column(scale=3, min_width=300):
            gr.Markdown("**What the model sees**: 28 x 28 after crop, fit and centre",
                        elem_id="input28-label")
            seen = gr.HTML(VIEW28_EMPTY, elem_id="input28")
            with gr.Row(elem_id="why"):
                reasons = [picture(label=label, height=190, buttons=[])
                           for label in ("Toward its answer", "Toward the runner-up")]
            why_text = gr.Markdown(render.WHY, elem_id="why-text")
    # One line on a laptop, or the maps fall below the fold.
    gr.Markdown("**Feature maps**, input to output, before each ReLU: a tile per channel; red "
                "positive, blue negative (the ReLU zeroes it, in bncnn after BatchNorm), one "
                "colour scale per layer.")
    with gr.Row(elem_id="layers"):
        layers = [picture(label=label, visible=bool(label), buttons=[])
                  for label in pad(labels[default], "")]
    with gr.Row():
        zoomed = picture(label="Look closer: click any tile of a map above", elem_id="closer")
        sums = gr.Markdown("Click a tile of any feature map to see which input pixels that unit "
                           "sees; for conv1, the arithmetic that made its value.", elem_id="arithmetic")
    with gr.Row():
        kernels = picture(value=filters[default], label="Learned conv1 filters (blue negative, "
                          "red positive weights)", elem_id="filters")
        responses = picture(label="Each conv1 filter's response to your drawing", elem_id="responses")
    table = gr.Dataframe(tables[default], headers=["layer", "output shape", "parameters",
                                                   "receptive field"],
                         label="Architecture", interactive=False)
    with gr.Accordion("Your drawings", open=False, elem_id="yours"):
        gr.Markdown(f"What you taught, newest first, kept on this machine only, in "
                    f"{home.store_path()}. Click a drawing to select it.")
        chosen = gr.State(None)
        # No label or buttons over the gallery: they covered the first drawing.
        drawings = gr.Gallery(show_label=False, buttons=[], columns=10, height=260,
                              fit_columns=False, object_fit="contain", format="png",
                              allow_preview=False, interactive=False, elem_id="drawings")
        with gr.Row():
            remove = gr.Button("Delete the selected drawing", size="sm")
            exported = gr.DownloadButton("Export all (zip)", size="sm")
            imported = gr.UploadButton("Import a zip", file_types=[".zip"], size="sm")
            wipe = gr.Button("Forget everything", variant="stop", size="sm")
        notes = gr.Markdown()

    last = gr.State(None)
    outputs = [verdict, probs, seen, *reasons, why_text, *layers, responses]
    page = [last, picker, who, token]
    mine = [drawings, score, exported]
    then_learn = dict(fn=learn, inputs=[picker, who, token], outputs=[picker, score],
                      api_visibility="private")
    demo.load(arrive, [token, who], [token, who], api_visibility="private").then(
        enter, [picker, who, token], [picker, *mine], api_visibility="private")
    drawn = [sketch, picker, who, token]
    quiet = dict(trigger_mode="always_last", show_progress="hidden")
    # Pen-up readings have workers of their own; live readings and maps share one, so that under
    # a class's load they cannot take the time the pen-up readings need. No handler here returns
    # gr.skip() or a component on the hot path: Gradio rebuilds a component's config for each.
    sketch.stroke(read, drawn, [verdict, probs, seen, last], api_name="read", **quiet,
                  concurrency_id="background")
    sketch.penup(read_drawing, drawn, [verdict, probs, seen, last], api_name="read_drawing", **quiet,
                 concurrency_id="pen-up", concurrency_limit=2).then(
        look, drawn, [*reasons, why_text, *layers, responses], api_name="look", api_visibility="undocumented",
        show_progress="hidden", concurrency_id="background")
    gr.api(read_strokes, api_name="read_strokes")
    picker.change(switch, page, [*outputs, kernels, table, drop], show_progress="hidden")
    drop.click(discard, [picker, who, token], picker, api_visibility="private")
    who.change(enter, [picker, who, token], [picker, *mine], api_name="profile")
    for label, button in [(None, right), *enumerate(digit_buttons)]:
        button.click(functools.partial(keep, label), page, [picker, *mine],
                     api_name="right" if label is None else f"it_was_{label}")
    drawings.select(choose, [who, token], chosen, api_visibility="private")
    for slot, image in enumerate(layers):
        image.select(looker(slot), [last, picker, who, token], [zoomed, sums], api_visibility="private")
    remove.click(delete, [chosen, who, token], [chosen, *mine]).success(**then_learn)
    wipe.click(forget, [who, token], mine).success(**then_learn)
    imported.upload(upload, [imported, who, token], [notes, *mine]).success(**then_learn)

    def add(label, model):
        models[label] = model
        filters[label] = render.filters_image(model)

    def remove(label):
        filters.pop(label, None)
        runs.remove(models.pop(label))

    def choices(name, who, token):
        return picker_update(profile(who, token), name)

    return Draw(picker, who, add, remove, choices, owner)

