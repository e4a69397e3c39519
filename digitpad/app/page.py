"""The page: its tabs put together, the models it serves, and the server."""
import importlib
import os
import sys
import threading

import gradio as gr
import torch

from .. import home
from ..names import DEFAULT_MODEL
from ..store import IMPORT_BYTES
from . import draw_tab, train_tab

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
CSS = """#input28 img, #why img, #layers img, #closer img, #filters img, #responses img,
#train-filters img, #units img { image-rendering: pixelated; }
#zoo p { margin: 0; font-size: 0.9em; }
#zoo span { display: inline-block; margin: 2px 4px 0 0; padding: 0 6px; border-radius: 4px;
  background: var(--background-fill-secondary); }
#zoo span.differs { background: #fde2c4; outline: 1px solid #e07b00; }  /* disagrees with the reading */
#verdict p { font-size: 1.4em; font-weight: 600; }
#input28 img, #why img { object-fit: contain; }  /* 28x28 images, scaled up by the browser */
#input28 img { display: block; width: 210px; height: 210px; margin: 0 auto; border: 1px solid var(--border-color-primary); }
#input28 p { height: 210px; margin: 0; color: var(--body-text-color-subdued); }
#layers img, #why img, #dense img { margin-top: 28px; }  /* below the label Gradio lays over an image */
#units button, #units .image-frame, #units img { width: 100%; }  /* fc1's units fill their column */
#why img { height: calc(100% - 28px); }
#probs .output-class { display: none; }  /* the verdict above already names the digit */
#probs .confidence-set { margin-bottom: 0; }
#correct { flex-wrap: nowrap; gap: 4px; align-items: center; }
#correct button { min-width: 0 !important; padding-left: 0; padding-right: 0; }
@media (max-width: 500px) { #intro p { display: none; } }  /* a phone keeps the verdict in view */
"""


# Gradio summarizes its last 10,000 events in a pandas DataFrame after every event, on the path
# of every reading: a class's server spent a tenth of its event loop there, more as it ran.
for name, value in (("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000"), ("GRADIO_ANALYTICS_MAX_EVENTS", "1000")):
    os.environ.setdefault(name, value)


def build_demo(models: dict, default: str = DEFAULT_MODEL, shared: bool = False) -> gr.Blocks:
    """The page for a dict of loaded models (picker label -> model); callable without a server.

    `shared`: served beyond this machine (see draw_tab.build)."""
    # Every output image is cached as a file; drop those older than 10 minutes, every 10 minutes.
    with gr.Blocks(title="digitpad", analytics_enabled=False, delete_cache=(600, 600)) as demo:
        # The token is signed on the server (owners), so the browser-side encryption, whose key
        # Gradio puts in the page's config, protects nothing: a fixed key, not the home's secret.
        token = gr.BrowserState(None, storage_key="digitpad-owner", secret="digitpad-token")
        gr.Markdown("## digitpad: draw a digit, watch a small CNN read it layer by layer\n"
                    "digitcnn learned from MNIST and 30 people's pen-drawn digits; tell it when it "
                    "is wrong and it learns your style.", elem_id="intro")
        with gr.Tab("Draw", elem_id="draw-tab"):
            draw = draw_tab.build(demo, models, default, shared, token)
        with gr.Tab("Train", elem_id="train-tab"):
            train_tab.build(models, default, draw, token)
    # Gradio sends queue estimates to every waiting page after every job: O(pages) per reading.
    # The page hides them; on a timer, 30 students' p95 fell from 1.75 s to 1.04 s (bench.py class).
    return demo.queue(status_update_rate=10)


def serve(args, models: dict) -> None:
    """Say what is served where, and serve the loaded models until Ctrl-C."""
    torch.set_num_threads(1)  # one 28x28 image per call: extra threads only contend
    # A first optimizer imports torch._dynamo (1.4 s here): pay that while the page loads, not
    # on the first correction.
    threading.Thread(target=importlib.import_module, args=("torch._dynamo",), daemon=True).start()
    shared = args.share or args.host not in LOCAL_HOSTS
    demo = build_demo(models, args.model, shared)
    try:
        _, local_url, share_url = demo.launch(server_name=args.host, server_port=args.port,
                                              share=args.share, css=CSS, quiet=True,
                                              prevent_thread_lock=True, max_file_size=IMPORT_BYTES,
                                              allowed_paths=[str(home.exports_dir())])
    except OSError:  # Gradio's own message names its launch() arguments, not our flags
        sys.exit(f"digitpad: could not serve on {args.host}:{args.port}: the port is taken or the "
                 f"address is not this machine's. Choose another with --port or --host")
    print(f"digitpad: {args.model} from {models[args.model].path}")
    print(f"digitpad: open {local_url}" + (f" or the public link {share_url}" if share_url else
          (" (this machine only; --host 0.0.0.0 to serve the network, --share for a public link)"
           if args.host == "127.0.0.1" else "")))
    if shared:
        print("digitpad: shared: each browser sees only the profiles it made, within the limits "
              "in docs/reliability.md; profiles made on this machine alone are not shown")
    print("digitpad: Ctrl-C stops it; digitpad --help lists the flags", flush=True)
    demo.block_thread()
