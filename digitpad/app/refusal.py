"""A request the page refuses: the reason for the person, as one line in the server's log
(Gradio would print a traceback for each, though none is a fault); and a slider that refuses
what is no number in such a sentence."""
import sys

import gradio as gr


def refuse(message: str) -> gr.Error:
    """The error to raise; its message is logged once, on one line."""
    print(f"digitpad: refused: {message}", file=sys.stderr, flush=True)
    return gr.Error(message, print_exception=False)


def slider(*args, **kwargs) -> gr.Slider:
    """gr.Slider, whose value from a script that is no number is refused in a sentence: Gradio's
    own bounds check raised a TypeError, which the page showed as 'Error'."""
    # Not a subclass: Gradio writes a .pyi stub beside the module of every component class.
    made = gr.Slider(*args, **kwargs)
    check = made.preprocess

    def preprocess(payload):
        if type(payload) not in (int, float) or payload != payload:  # NaN is no number either
            raise refuse(f"{made.label}: expected a number from {made.minimum:g} to {made.maximum:g}, "
                         f"got {str(payload)[:20]}.")
        return check(payload)
    made.preprocess = preprocess
    return made
