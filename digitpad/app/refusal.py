"""A request the page refuses: the reason for the person, as one line in the server's log
(Gradio would print a traceback for each, though none is a fault); and a slider that refuses
what is no number in such a sentence."""
import sys

import gradio as gr


def refuse(message: str) -> gr.Error:
    """The error to raise; its message is logged once, on one line."""
    print(f"digitpad: refused: {message}", file=sys.stderr, flush=True)
    return gr.Error(message, print_exception=False)


class Slider(gr.Slider):
    """gr.Slider, drawn by the page as one, whose value from a script that is no number is refused
    in a sentence: Gradio's own bounds check raised a TypeError, which the page shows as 'Error'."""
    is_template = True  # Gradio draws a template with its parent's frontend

    def preprocess(self, payload):
        if type(payload) not in (int, float) or payload != payload:  # NaN is no number either
            raise refuse(f"{self.label}: expected a number from {self.minimum:g} to {self.maximum:g}, "
                         f"got {str(payload)[:20]}.")
        return super().preprocess(payload)
