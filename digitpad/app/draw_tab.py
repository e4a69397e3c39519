"""The Draw tab: the pad, the reading, the teaching and the closer look, laid out and wired to
DrawRules; each handler calls the rules and says which components change."""
import base64
import functools
import html
import inspect
from dataclasses import dataclass
from typing import Callable

import gradio as gr
import numpy as np
import pandas as pd

from .. import home, render
from ..models import layer_facts
from ..push import Push
from ..store import ReadOnly, png
from .draw_rules import SHARED_CAP, DrawRules, Picker, Refused, push_of
from .pad import stroke_pad
from .pictures import gallery, picture, update
from .refusal import refuse, slider

VIEW28_EMPTY = "<p>The 28 x 28 image the model reads appears here.</p>"
NOTHING_DRAWN = "Draw a digit first, then say which it was."
DENSE = ("**Dense layers**: fc1's units (a square each, before the ReLU, the maps' colours) and the ten "
         "output scores (logits), which softmax turns into the probabilities. Click a unit for its "
         "weights, a digit's bar for the softmax arithmetic.")
SOFTMAX = "Click a digit's bar to see how its score became its probability."
PUSH = ("Turn the drawing and change its stroke width (on your strokes, before the crop, fit and "
        "centre), or shift and scale the 28 x 28 the model reads (after them: the crop would undo "
        "a shift of the strokes). The curve: the reading's probability as the drawing turns.")
SLIDERS = {"rotation": ("Turn (degrees)", 5), "shift_x": ("Shift right (pixels)", 1),
           "shift_y": ("Shift down (pixels)", 1), "scale": ("Scale", 0.05),
           "thickness": ("Stroke width (x)", 0.25)}  # Push's fields: label, step
SHARED = (f"This page is shared: what you taught, newest first, is kept on the machine serving it, "
          f"for this browser alone (no other browser sees it, and profiles made on that machine "
          f"itself are not shown here), at most {SHARED_CAP} drawings a profile.")
WHY = ("Red pixels pushed the network toward the digit, blue pixels away from it: each pixel's "
       "share of the change from a blank canvas to your drawing (integrated gradients).")


def view28(image: np.ndarray | None) -> str:
    """The 28x28 view as HTML with the PNG inline (about 300 bytes): sent with every live
    reading, it skips Gradio's file cache, which cost a class's server more than the reading."""
    if image is None:
        return VIEW28_EMPTY
    data = base64.b64encode(png(image)).decode()
    return f'<img src="data:image/png;base64,{data}" alt="the 28 x 28 input the model reads">'


def zoo_html(row: list[tuple[str, int, float]], digit: int | None) -> str:
    """Each model's digit and probability in a line, those that differ from the reading marked."""
    if digit is None:
        return ""
    chips = "".join(f'<span class="{"differs" if d != digit else "agrees"}">{html.escape(name)}: '
                    f"<b>{d}</b> {p:.0%}</span>" for name, d, p in row)
    return f"<p>Every model on this drawing: {chips}</p>"


def units_label(model) -> str:
    return f"fc1: {layer_facts(model)['fc1'].shape[0]} units (click one)"


def dropdown(picker: Picker) -> gr.Dropdown:
    """The picker's update: new choices, and a new value when the rules chose one."""
    if picker.value is None:
        return gr.Dropdown(choices=picker.choices)
    return gr.Dropdown(choices=picker.choices, value=picker.value)


def refusing(fn):
    """The handler `fn` with the rules' refusals shown on the page as Gradio errors."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def steps(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Refused as e:
                raise refuse(str(e)) from None
        return steps

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Refused as e:
            raise refuse(str(e)) from None
    return call


@dataclass
class Draw:
    """What the other tabs need of this one."""
    picker: gr.Dropdown
    who: gr.Dropdown
    add: Callable  # add(label, model, owner): a model trained on the page joins the picker (DrawRules.add)
    remove: Callable  # remove(label): a trained model leaves them, its files deleted
    choices: Callable  # choices(name, who, token): the picker's update, `name` (None: its value) chosen
    owner: Callable  # owner(token): whose page this is (owners); refuses a token this server did not sign
    shared: bool  # served beyond this machine (see DrawRules)


def build(demo: gr.Blocks, models: dict, default: str, shared: bool, token: gr.BrowserState) -> Draw:
    """The tab for a dict of loaded models (label -> model), which grows as runs finish; see
    DrawRules for `shared`."""
    rules = DrawRules(models, default, shared)
    tab = DrawTab(rules)
    tab.listen(demo, token)
    return Draw(tab.picker, tab.who, rules.add, rules.remove,
                refusing(lambda name, who, token: dropdown(rules.picker(name, who, token))),
                refusing(rules.owner), shared)


class DrawTab:
    """The tab's components (made by layout) and its handlers (wired by listen)."""

    def __init__(self, rules: DrawRules):
        self.rules = rules
        self.layout()

    def per_layer(self, items: list, fill) -> list:
        """One entry per layer image: a model with fewer shown layers leaves the rest empty."""
        return items + [fill] * (self.rules.slots - len(items))

    def layout(self) -> None:
        rules = self.rules
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=300):
                self.sketch = stroke_pad()
                with gr.Row():
                    # Minimum widths stack the two on a phone, where side by side the picker's
                    # "digitcnn + your 2 drawings" was cut under its arrow.
                    self.picker = gr.Dropdown(list(rules.models), value=rules.default, label="Model",
                                              elem_id="picker", min_width=230)
                    self.who = gr.Dropdown(["me"], value="me", allow_custom_value=True,
                                           label="Who is drawing?", elem_id="who", min_width=150)
                self.drop = gr.Button("Remove this trained model", size="sm", visible=False, elem_id="drop")
            with gr.Column(scale=3, min_width=300):
                self.verdict = gr.Markdown(render.EMPTY, elem_id="verdict")
                self.zoo = gr.HTML("", elem_id="zoo")
                with gr.Row(elem_id="correct"):
                    self.right = gr.Button("Right", variant="primary", min_width=0, scale=2, size="sm")
                    self.digits = [gr.Button(str(d), min_width=0, size="sm") for d in range(10)]
                self.probs = gr.Label(num_top_classes=10, label="Probability of each digit",
                                      show_label=False, elem_id="probs")
                # Below the bars: on a laptop the zoo row, buttons and bars fill the first screen.
                self.score = gr.Markdown(elem_id="score")
            with gr.Column(scale=3, min_width=300):
                gr.Markdown("**What the model sees**: 28 x 28 after crop, fit and centre",
                            elem_id="input28-label")
                self.seen = gr.HTML(VIEW28_EMPTY, elem_id="input28")
                with gr.Row(elem_id="why"):
                    self.reasons = [picture(label=label, height=190, buttons=[])
                                    for label in ("Toward its answer", "Toward the runner-up")]
                self.why_text = gr.Markdown(WHY, elem_id="why-text")
        # One line on a laptop, or the maps fall below the fold.
        gr.Markdown("**Feature maps**, input to output, before each ReLU: a tile per channel; red "
                    "positive, blue negative (the ReLU zeroes it, in bncnn after BatchNorm), one "
                    "colour scale per layer.")
        with gr.Row(elem_id="layers"):
            self.layers = [picture(label=label, visible=bool(label), buttons=[])
                           for label in self.per_layer(rules.labels[rules.default], "")]
        gr.Markdown(DENSE)
        with gr.Row(elem_id="dense"):
            self.units = picture(label=units_label(rules.models[rules.default].module), elem_id="units",
                                 buttons=[], scale=3)
            self.scores = picture(label="Output scores (click a bar)", elem_id="scores", buttons=[], scale=2)
            with gr.Column(scale=3, min_width=300):
                self.softmax = gr.Markdown(SOFTMAX, elem_id="softmax")
        with gr.Row():
            self.zoomed = picture(label="Look closer: click any tile of a map or unit above", elem_id="closer")
            self.sums = gr.Markdown("Click a tile of any feature map to see which input pixels that "
                                    "unit sees; for conv1, the arithmetic that made its value.",
                                    elem_id="arithmetic")
        with gr.Accordion("Push it until it breaks", open=False, elem_id="push") as self.pushes:
            gr.Markdown(PUSH)
            with gr.Row():
                self.sliders = [slider(*Push.RANGES[name], value=getattr(Push(), name), step=step, label=label,
                                          elem_id=f"push-{name}", min_width=150)
                                for name, (label, step) in SLIDERS.items()]
                self.reset = gr.Button("Put it back", size="sm", elem_id="push-reset", scale=0, min_width=120)
            self.curve = gr.LinePlot(x="turn", y="probability", color="reading", x_title="turn (degrees)",
                                     x_lim=[-90, 90], y_lim=[0, 1], height=220, show_label=False, elem_id="sweep")
            self.push = gr.State(None)  # None: the drawing as drawn
            self.sweeping = gr.State(False)  # the curve is drawn while the accordion is open
        with gr.Row():
            self.kernels = picture(value=rules.filters[rules.default], label="Learned conv1 filters "
                                   "(blue negative, red positive weights)", elem_id="filters")
            self.responses = picture(label="Each conv1 filter's response to your drawing",
                                     elem_id="responses")
        self.table = gr.Dataframe(rules.tables[rules.default], headers=[
            "layer", "output shape", "parameters", "receptive field"], label="Architecture",
            interactive=False)
        with gr.Accordion("Your drawings", open=False, elem_id="yours"):
            gr.Markdown((SHARED if rules.shared else f"What you taught, newest first, kept on this "
                         f"machine only, in {home.store_path()}.") + " Click a drawing to select it.")
            self.chosen = gr.State(None)
            # No label or buttons over the gallery: they covered the first drawing.
            self.drawings = gallery(show_label=False, buttons=[], columns=10, height=260, fit_columns=False,
                                    object_fit="contain", allow_preview=False, elem_id="drawings")
            with gr.Row():
                self.remove = gr.Button("Delete the selected drawing", size="sm")
                self.exported = gr.DownloadButton("Export all (zip)", size="sm")
                self.imported = gr.UploadButton("Import a zip", file_types=[".zip"], size="sm")
                self.wipe = gr.Button("Forget everything", variant="stop", size="sm")
            self.notes = gr.Markdown()
        self.last = gr.State(None)

    def listen(self, demo: gr.Blocks, token: gr.BrowserState) -> None:
        page, drawn = [self.last, self.picker, self.who, token], [self.sketch, self.picker, self.who, token]
        mine, shown = [self.drawings, self.score, self.exported], [self.verdict, self.probs, self.seen, self.last]
        self.after = panels = [*self.reasons, self.why_text, *self.layers, self.responses, self.units,
                               self.scores, self.zoo]  # what follows a reading, in `panels`' order
        then_learn = dict(fn=self.learn, inputs=[self.picker, self.who, token],
                          outputs=[self.picker, self.score], api_visibility="private")
        private = dict(api_visibility="private")
        demo.load(self.arrive, [token, self.who], [token, self.who], **private).then(
            self.enter, [self.picker, self.who, token], [self.picker, *mine], **private)
        quiet = dict(trigger_mode="always_last", show_progress="hidden")
        # The curve reads the drawing at 37 turns (about 0.14 s): a queue of its own, so that it
        # never holds up anyone's live readings.
        sweep = dict(fn=self.draw_curve, inputs=[*drawn, self.sweeping, *self.sliders], outputs=self.curve,
                     concurrency_id="sweep", **private, **quiet)
        # Pen-up readings have workers of their own; live readings and maps share one, so that
        # under a class's load they cannot take the time the pen-up readings need. No handler here
        # returns gr.skip() or a component on the hot path: Gradio rebuilds a component's config
        # for each.
        self.sketch.stroke(self.read, [*drawn, self.push], shown, api_name="read", **quiet,
                           concurrency_id="background")
        self.sketch.penup(self.read_drawing, [*drawn, self.push], shown, api_name="read_drawing", **quiet,
                          concurrency_id="pen-up", concurrency_limit=2).then(
            self.look, [*drawn, self.push], panels, api_name="look", api_visibility="undocumented",
            show_progress="hidden", concurrency_id="background").then(**sweep)
        gr.on([s.change for s in self.sliders], self.pushed, [*drawn, *self.sliders], [self.push, *shown, *panels],
              concurrency_id="background", **private, **quiet)
        gr.on([s.release for s in self.sliders], **sweep)
        self.reset.click(lambda: [getattr(Push(), name) for name in SLIDERS], None, self.sliders,
                         **private).then(**sweep)
        self.pushes.expand(lambda: True, None, self.sweeping, **private).then(**sweep)
        self.pushes.collapse(lambda: False, None, self.sweeping, **private)
        default = self.rules.default

        def read_strokes(value: str, model: str = default) -> dict:
            """The pad's value as JSON -> {"digit", "probabilities" (ten floats), "verdict"}; digit
            and probabilities are None when nothing is drawn."""
            return refusing(self.rules.read_strokes)(value, model)
        gr.api(read_strokes, api_name="read_strokes")
        self.picker.change(self.switch, page, [self.verdict, self.probs, self.seen, *panels,
                                               self.kernels, self.table, self.drop], show_progress="hidden")
        self.drop.click(self.discard, [self.picker, self.who, token], self.picker, **private)
        self.who.change(self.enter, [self.picker, self.who, token], [self.picker, *mine], api_name="profile")
        for label, button in [(None, self.right), *enumerate(self.digits)]:
            button.click(functools.partial(self.keep, label), page, [self.picker, *mine],
                         api_name="right" if label is None else f"it_was_{label}")
        self.drawings.select(self.choose, [self.who, token], self.chosen, **private)
        for slot, image in enumerate(self.layers):
            image.select(self.looker(slot), page, [self.zoomed, self.sums], **private)
        self.units.select(self.look_at_unit, page, [self.zoomed, self.sums], **private)
        self.scores.select(self.look_at_score, page, self.softmax, **private)
        self.remove.click(self.delete, [self.chosen, self.who, token], [self.chosen, *mine]).success(**then_learn)
        self.wipe.click(self.forget, [self.who, token], mine).success(**then_learn)
        self.imported.upload(self.upload, [self.imported, self.who, token],
                             [self.notes, *mine]).success(**then_learn)

    # The readings: plain values in fixed order, the hot path.

    @refusing
    def read(self, value, name, who, token, push=None):
        """While the pen moves: the verdict, the probabilities and the 28x28 view, and (input,
        value) kept for the buttons, the picker and look closer."""
        g, last = self.rules.read(value, name, who, token, push)
        return g.verdict, g.probs, view28(g.input), last

    def read_drawing(self, value, name, who, token, push, request: gr.Request):
        """At pen-up: the reading of the whole drawing, and the drawing noted as this page's last."""
        self.rules.pen_up(request.session_hash, value)
        return self.read(value, name, who, token, push)

    @refusing
    def look(self, value, name, who, token, push, request: gr.Request):
        """After a pen-up's reading: the heat maps, every layer's maps, conv1's responses, the
        dense layers and the zoo's row, unless a later pen-up on the same page has superseded
        this drawing."""
        if self.rules.superseded(request.session_hash, value):
            return [gr.skip()] * len(self.after)  # costly in Gradio, but far less than the maps
        return self.panels(self.rules.panels(value, name, who, token, push), who, token)

    def panels(self, p: render.Panels, who, token) -> tuple:
        """What follows a reading, in `look`'s order: plain images (a component update would make
        Gradio rebuild its config on every reading)."""
        zoo = "" if p.x is None else zoo_html(self.rules.zoo(p.x, who, token), p.digit)
        return *self.why(p), *self.per_layer(p.layers, None), p.responses, p.units, p.scores, zoo

    @staticmethod
    def why(p: render.Panels) -> tuple:
        """The two heat maps and the sentence that names them."""
        if not p.why:
            return None, None, WHY
        (answer, toward), (runner_up, against) = p.why
        return answer, runner_up, f"**Left**: {toward}. **Right**: {against}. {p.torn} {WHY}"

    @refusing
    def pushed(self, value, name, who, token, *values):
        """A slider moved: the push kept for the pad's readings, and the drawing read pushed."""
        push = push_of(dict(zip(SLIDERS, values)))
        p = self.rules.panels(value, name, who, token, push)
        last = None if p.x is None else (p.x, value)
        return push, p.verdict, p.probs, view28(p.input), last, *self.panels(p, who, token)

    @refusing
    def draw_curve(self, value, name, who, token, open_, *values):
        """The reading's probability as the drawing turns, while the accordion is open."""
        if not open_:
            return gr.skip()
        found = self.rules.curve(value, name, who, token, push_of(dict(zip(SLIDERS, values))))
        if found is None:
            return None
        digit, points = found
        return pd.DataFrame({"turn": [a for a, _ in points], "probability": [p for _, p in points],
                             "reading": f"probability of {digit}"})

    # The rest: {component: value}, what is left out stays as it is.

    @refusing
    def switch(self, last, name, who, token) -> dict:
        """Another model: its reading of the last drawing, its layer labels (they change only
        here; readings send plain values), filters and table. With no drawing yet the reading is
        left alone: a page that opens with the profile's own model must not blank a first drawing
        read meanwhile."""
        model, p = self.rules.switch(last, name, who, token)
        labels = self.per_layer(self.rules.labels[model.name], "")
        changes = {image: update(image, m, label=label, visible=bool(label))
                   for image, m, label in zip(self.layers, self.per_layer(p.layers, None), labels)}
        changes[self.units] = update(self.units, p.units, label=units_label(model.module))
        if last:
            changes |= dict(zip([self.verdict, self.probs, self.seen, *self.reasons, self.why_text],
                                [p.verdict, p.probs, view28(p.input), *self.why(p)]))
            changes |= {self.responses: p.responses, self.scores: p.scores,
                        self.zoo: zoo_html(self.rules.zoo(p.x, who, token), p.digit)}
        return changes | {self.kernels: self.rules.kernels(name, model),
                          self.table: self.rules.tables[model.name],
                          self.drop: gr.Button(visible=self.rules.removable(name))}

    @refusing
    def discard(self, name, who, token):
        return dropdown(self.rules.discard(name, who, token))

    @refusing
    def look_at_unit(self, last, name, who, token, evt: gr.SelectData):
        """A click on fc1's units: the unit's weights and the sum that makes its value."""
        found = self.rules.look_at_unit(last, name, who, token, evt.index)
        return found if found else (gr.skip(), "That click fell past the last unit: click a square.")

    @refusing
    def look_at_score(self, last, name, who, token, evt: gr.SelectData):
        """A click on the output scores: the softmax arithmetic for that digit."""
        return self.rules.softmax(last, name, who, token, evt.index) or SOFTMAX

    def looker(self, slot: int):
        """The select handler of the `slot`-th layer image: look closer at the clicked unit."""
        @refusing
        def look(last, name, who, token, evt: gr.SelectData):
            found = self.rules.look_closer(last, name, who, token, slot, evt.index)
            return found if found else (gr.skip(), "That click fell between two tiles: click a tile.")
        return look

    def yours(self, p: int, note: str = "") -> dict:
        """The gallery, the scorecard and the export of a profile's drawings."""
        y = self.rules.yours(p)
        return {self.drawings: y.gallery, self.score: y.scorecard + note,
                self.exported: gr.DownloadButton(value=y.export, interactive=bool(y.gallery))}

    @refusing
    def keep(self, label, last, name, who, token):
        """Store the drawing as `label` (None: the reading was right): the gallery, the score
        line and the export, then the taught model in the picker and the scorecard."""
        try:
            p = self.rules.keep(label, last, name, who, token)
        except ReadOnly as e:
            yield {self.score: str(e)}
            return
        if p is None:
            yield {self.score: NOTHING_DRAWN}
            return
        yield self.yours(p, " Learning from it...")
        yield self.learn(name, who, token)

    @refusing
    def learn(self, name, who, token) -> dict:
        """Teach the profile's model if need be: the picker and the scorecard."""
        picker, card = self.rules.learn(name, who, token)
        return {self.picker: dropdown(picker), self.score: card}

    @refusing
    def enter(self, name, who, token) -> dict:
        """A profile is chosen: its model, taught if need be, and its drawings."""
        return self.learn(name, who, token) | self.yours(self.rules.profile(who, token))

    @refusing
    def arrive(self, token, who):
        token, profiles = self.rules.arrive(token, who)
        return token, gr.Dropdown(choices=profiles)

    @refusing
    def choose(self, evt: gr.SelectData, who, token):
        return self.rules.drawing_at(evt.index, who, token)

    @refusing
    def delete(self, chosen, who, token) -> dict:
        return {self.chosen: None} | self.yours(self.rules.delete(chosen, who, token))

    @refusing
    def forget(self, who, token) -> dict:
        return self.yours(self.rules.forget(who, token))

    @refusing
    def upload(self, file, who, token) -> dict:
        p, report = self.rules.upload(file, who, token)
        return {self.notes: report} | self.yours(p)
