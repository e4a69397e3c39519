"""The Gradio page, one module per tab (draw_tab, train_tab) put together in page. Only this
package imports gradio, and it only wires components to functions that work without it."""
from .pad import stroke_pad
from .page import CSS, build_demo, serve

__all__ = ["CSS", "build_demo", "serve", "stroke_pad"]
