"""The page's output images, written into Gradio's file cache whole: Gradio's own writer rewrites
a cached file in place, so a page downloading a picture while another page was sent the same
one (a model's filters, a run's frame, one drawing read twice) got half of it."""
import io
import os
import secrets
import tempfile
from hashlib import sha256
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

SALT = secrets.token_bytes(16)  # a file's name cannot be worked out from a picture someone guesses


def served(image: np.ndarray | Image.Image | str | None, cache: str) -> str | None:
    """`image` as a PNG in `cache`, named by its content, written under a temporary name and
    renamed into place: a download never sees part of it. A path is left as it is."""
    if image is None or isinstance(image, str):
        return image
    out = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(out, "PNG")
    data = out.getvalue()
    path = Path(cache) / f"digitpad-{sha256(SALT + data).hexdigest()[:32]}" / "image.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as f:
            f.write(data)
        os.replace(f.name, path)
    return str(path)


def picture(**kwargs) -> gr.Image:
    """An output image, sent as PNG (Gradio 6's default WebP took 3-7x as long to encode these
    flat images, on the server's event loop) and cached whole."""
    made = gr.Image(format="png", interactive=False, **kwargs)
    # Per instance, not a subclass: Gradio writes a .pyi stub beside the module of every component class.
    postprocess = made.postprocess
    made.postprocess = lambda value: postprocess(served(value, made.GRADIO_CACHE))
    return made


def update(image: gr.Image, value, **kwargs) -> gr.Image:
    """A picture's update with new settings: its value cached whole (a new gr.Image caches the
    value it is made with in Gradio's way)."""
    return gr.Image(served(value, image.GRADIO_CACHE), **kwargs)


def gallery(**kwargs) -> gr.Gallery:
    """A gallery of (image, caption) pairs, each image cached whole."""
    made = gr.Gallery(format="png", interactive=False, **kwargs)
    postprocess = made.postprocess
    made.postprocess = lambda value: postprocess(
        value and [(served(image, made.GRADIO_CACHE), caption) for image, caption in value])
    return made
