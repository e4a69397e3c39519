"""The `digitpad` command: flags first, heavy imports (torch, gradio) only once they are read."""
import argparse
import errno
import ipaddress
import os
import re
import signal
import socket
import sys

from . import home
from .names import DEFAULT_MODEL, MODEL_NAMES


def port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give a number from 1 to 65535")
    return int(text)


def host(text: str) -> str:
    """A name, or an address; four dotted numbers must be an IPv4 address as written (Gradio's
    own client refuses 127.0.0.01 with a traceback once the server is up)."""
    if re.fullmatch(r"[0-9]+(\.[0-9]+){3}", text):
        try:
            ipaddress.IPv4Address(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 address: {e}") from None
    return text


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="digitpad",
        description="Launch the digitpad drawing pad in the browser: draw a digit and watch a "
                    "small CNN read it, layer by layer.")
    p.add_argument("--host", type=host, default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=port, default=7860, help="port, 1-65535 (default 7860)")
    p.add_argument("--model", default=DEFAULT_MODEL, choices=MODEL_NAMES,
                   help=f"model shown first (default {DEFAULT_MODEL})")
    p.add_argument("--weights", default=None,
                   help="a checkpoint written by scripts/train.py for --model "
                        "(default: the weights that ship with digitpad)")
    p.add_argument("--share", action="store_true",
                   help="also create a public gradio.live link (off by default)")
    p.add_argument("--home", default=None,
                   help="digitpad's home folder, where your drawings, your models and caches are "
                        "kept (default $DIGITPAD_HOME, else your user data folder)")
    return p.parse_args(argv)


def port_taken(host: str, port: int) -> bool:
    """Whether a server listens there. SO_REUSEADDR, as Gradio's own server sets it, so that a
    crashed server's TIME_WAIT sockets do not keep its restart out for a minute."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            return e.errno == errno.EADDRINUSE
    return False


def main(argv=None):
    args = parse_args(argv)
    # Ctrl-C while torch and gradio load ends the process in the signal handler itself: raised
    # as KeyboardInterrupt, it can land in code an extension runs and be swallowed there (once
    # in CI, the app then started anyway). Nothing is open yet, so there is nothing to tidy.
    signal.signal(signal.SIGINT, stopped)
    try:
        start(args)
    except KeyboardInterrupt:  # from serve(), before the server takes Ctrl-C over
        stopped()


def stopped(*_) -> None:
    print("digitpad: stopped", file=sys.stderr, flush=True)
    # Not sys.exit, which ended with status -2 once in a full test run: an interrupt landing
    # in Python code that an extension runs itself leaves CPython's "unhandled Ctrl-C" flag
    # set, caught or not, and the interpreter then kills itself with SIGINT.
    os._exit(130)


def start(args) -> None:
    if port_taken(args.host, args.port):
        sys.exit(f"digitpad: port {args.port} on {args.host} is already in use (is digitpad "
                 f"already running?). Choose another with --port, e.g. --port {args.port + 1}")
    if args.home:
        os.environ["DIGITPAD_HOME"] = args.home
    try:
        home.writable()
    except OSError as e:
        sys.exit(f"digitpad: cannot write to its home folder {home.home()} ({e.strerror}), where "
                 f"your drawings and models are kept. Choose a folder you can write with --home")
    # The models load before gradio is imported: a bad --weights is named in seconds.
    from .weights import WeightsError
    from .zoo import load_models
    try:
        models = load_models(args.model, args.weights)
    except WeightsError as e:
        sys.exit(f"digitpad: {e}")
    from .app import serve
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the server's Ctrl-C: a clean stop
    serve(args, models)
