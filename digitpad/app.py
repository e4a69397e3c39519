"""The Gradio page: a sketchpad wired to render.panels. No maths here."""
import sys

import gradio as gr
import numpy as np
import torch

from . import render
from .models import MODELS
from .names import DEFAULT_MODEL
from .pendigits import CANVAS  # the pad's size is the size the accuracy figures were measured at
from .weights import WeightsError, load_model, shipped_path

# Gradio opens the pad with no tool chosen; a person should be able to draw at once.
SELECT_BRUSH = """() => {
  const pick = () => {
    const brush = document.querySelector('#pad button[aria-label="Brush"]');
    if (brush) brush.click(); else setTimeout(pick, 100);
  };
  pick();
}"""
CSS = """#input28 img, #layers img, #filters img, #responses img { image-rendering: pixelated; }
#verdict { font-size: 1.5em; font-weight: 600; }"""


def build_demo(models: dict, default: str = DEFAULT_MODEL) -> gr.Blocks:
    """The page for a dict of loaded models (name -> model); callable without a server."""
    filters = {name: render.filters_image(m) for name, m in models.items()}
    tables = {name: render.architecture(m) for name, m in models.items()}
    labels = {name: render.layer_labels(tables[name], m.feature_layers) for name, m in models.items()}
    slots = max(map(len, labels.values()))  # one image per shown layer; widekernel shows fewer

    def pad(items, fill):
        return items + [fill] * (slots - len(items))

    def read(canvas, name):
        p = render.panels(models[name], canvas, filters[name])
        return p.verdict, p.probs, p.input, *pad(p.layers, None), p.responses

    def switch(canvas, name):
        # Labels change only with the model, so only here; strokes send plain values.
        text, bars, seen_, *maps, resp = read(canvas, name)
        panels = [gr.Image(m, label=label, visible=bool(label))
                  for m, label in zip(maps, pad(labels[name], ""))]
        return text, bars, seen_, *panels, resp, filters[name], tables[name]

    # Every output image is cached as a file; drop those older than 10 minutes, every 10 minutes.
    with gr.Blocks(title="digitpad", analytics_enabled=False, delete_cache=(600, 600)) as demo:
        gr.Markdown("# digitpad\nDraw a digit and watch a small CNN read it layer by layer. "
                    "digitcnn learned from MNIST and from 30 people's pen-drawn digits.")
        with gr.Row():
            with gr.Column(scale=1):
                sketch = gr.Sketchpad(
                    # Start with one empty layer: loading it spends the first change event,
                    # which Gradio 6's editor drops; otherwise the first stroke goes unread.
                    value={"background": None, "layers": [np.zeros((CANVAS, CANVAS, 4), np.uint8)],
                           "composite": None},
                    label="Draw a digit", type="numpy", image_mode="RGBA", format="png", height=520,
                    canvas_size=(CANVAS, CANVAS), layers=False, transforms=(),
                    brush=gr.Brush(default_size=24, colors=["#000000"], color_mode="fixed"),
                    elem_id="pad")
                picker = gr.Dropdown(list(models), value=default, label="Model")
            with gr.Column(scale=1):
                verdict = gr.Markdown(render.EMPTY, elem_id="verdict")
                probs = gr.Label(num_top_classes=10, label="Probability of each digit",
                                 elem_id="probs")
                seen = gr.Image(label="What the model sees: 28 x 28 after crop, fit and centre",
                                interactive=False, elem_id="input28")
        gr.Markdown("**Feature maps of each layer**, input to output, before its ReLU: one tile "
                    "per channel; red positive (passed on), blue negative (ReLU zeroes it), one "
                    "colour scale per layer.")
        with gr.Row(elem_id="layers"):
            layers = [gr.Image(label=label, visible=bool(label), interactive=False)
                      for label in pad(labels[default], "")]
        with gr.Row():
            kernels = gr.Image(filters[default], label="Learned conv1 filters (blue negative, "
                               "red positive weights)", interactive=False, elem_id="filters")
            responses = gr.Image(label="Each conv1 filter's response to your drawing",
                                 interactive=False, elem_id="responses")
        table = gr.Dataframe(tables[default], headers=["layer", "output shape", "parameters",
                                                       "receptive field"],
                             label="Architecture", interactive=False)

        outputs = [verdict, probs, seen, *layers, responses]
        demo.load(None, js=SELECT_BRUSH)
        sketch.change(read, [sketch, picker], outputs, trigger_mode="always_last",
                      show_progress="hidden")
        picker.change(switch, [sketch, picker], [*outputs, kernels, table],
                      show_progress="hidden")
    return demo


def load_models(default: str, weights: str | None) -> dict:
    """The chosen model (from --weights if given) first, then every other zoo model that ships."""
    models = {default: load_model(default, weights)}
    for name in MODELS:
        if name not in models and shipped_path(name).is_file():
            models[name] = load_model(name)
    return models


def serve(args) -> None:
    """Load the models, say what is served where, and serve until Ctrl-C."""
    try:
        models = load_models(args.model, args.weights)
    except WeightsError as e:
        sys.exit(f"digitpad: {e}")
    torch.set_num_threads(1)  # one 28x28 image per call: extra threads only contend
    demo = build_demo(models, args.model)
    try:
        _, local_url, share_url = demo.launch(server_name=args.host, server_port=args.port,
                                              share=args.share, css=CSS, quiet=True,
                                              prevent_thread_lock=True)
    except OSError:  # Gradio's own message names its launch() arguments, not our flags
        sys.exit(f"digitpad: could not serve on {args.host}:{args.port}: the port is taken or the "
                 f"address is not this machine's. Choose another with --port or --host")
    print(f"digitpad: {args.model} from {models[args.model].path}")
    print(f"digitpad: open {local_url}" + (f" or the public link {share_url}" if share_url else
          (" (this machine only; --host 0.0.0.0 to serve the network, --share for a public link)"
           if args.host == "127.0.0.1" else "")))
    print("digitpad: Ctrl-C stops it; digitpad --help lists the flags", flush=True)
    demo.block_thread()
