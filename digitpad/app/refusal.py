"""A request the page refuses: the reason for the person, as one line in the server's log
(Gradio would print a traceback for each, though none is a fault)."""
import sys

import gradio as gr


def refuse(message: str) -> gr.Error:
    """The error to raise; its message is logged once, on one line."""
    print(f"digitpad: refused: {message}", file=sys.stderr, flush=True)
    return gr.Error(message, print_exception=False)
