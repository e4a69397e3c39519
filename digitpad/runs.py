"""Training runs started from the page: one `python -m digitpad.train` at a time, followed
through its events file, stopped with Ctrl-C's signal, and the models they leave under
runs/trained/ in digitpad's home."""
import os
import shutil
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

from . import events, home
from .settings import Settings
from .weights import Loaded, WeightsError, load

HELD_OUT_FOLD = 0  # with pen digits on, this writer group is held out and scored at the end
THREADS = max(1, (os.cpu_count() or 2) - 1)  # a run's threads: one core stays with the pad
KEEP = 5  # trained models the page keeps: a sixth run's model pushes out the oldest
SERVER_PID = "DIGITPAD_SERVER_PID"  # tells a run which process started it (train.end_with_parent)


def trained_dir() -> Path:
    return home.runs_dir() / "trained"


class Busy(RuntimeError):
    """A run is going already: one at a time, so the pad keeps a core."""


class Run:
    """A training subprocess and what it has reported so far."""

    _lock = threading.Lock()
    current: "Run | None" = None

    def __init__(self, model: str, epochs: int, pen: bool, images: int | None, threads: int,
                 owner: str = ""):
        self.folder = trained_dir() / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        self.folder.mkdir(parents=True)
        self.events_path, self.log_path = self.folder / "events.jsonl", self.folder / "log.txt"
        self.model, self.read_bytes, self.stopped = model, 0, False
        self.owner = owner  # who started it (owners): on a shared page, only they may stop it
        settings = Settings(model=model, epochs=epochs, out=self.folder, report_dir=self.folder / "reports",
                            events=self.events_path, threads=threads, limit=images,
                            **(dict(fold=HELD_OUT_FOLD) if pen else dict(data="mnist")))
        argv = [sys.executable, "-m", "digitpad.train", *settings.to_argv()]
        with open(self.log_path, "w") as log:
            # SIGINT as a terminal gives it (a server started in the background ignores it, and
            # its children would inherit that): Stop must reach the run's own Ctrl-C handling.
            env = {**os.environ, "PYTHONUNBUFFERED": "1", SERVER_PID: str(os.getpid())}
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    @classmethod
    def start(cls, *args, on_end=None, **kwargs) -> "Run":
        """Start a run unless one is going (Busy); `on_end(run)` is called from a thread of its
        own once the run exits, whether or not a page still follows it."""
        with cls._lock:
            if cls.current and cls.current.proc.poll() is None:
                raise Busy("a model is training already: wait for it, or press Stop")
            run = cls.current = cls(*args, **kwargs)
        if on_end:
            threading.Thread(target=lambda: (run.proc.wait(), on_end(run)), daemon=True).start()
        return run

    def events(self) -> list[dict]:
        """The events (digitpad.events) written since the last call."""
        found, self.read_bytes = events.read(self.events_path, self.read_bytes)
        return found

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Ctrl-C, as from a terminal: the run keeps its best finished epoch, if it has one."""
        if self.running():
            self.stopped = True
            self.proc.send_signal(signal.SIGINT)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def last_words(self) -> str:
        """The last line the run printed: why it ended, when it failed."""
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"it exited with status {self.proc.returncode}"

    def weights(self) -> Path:
        return self.folder / f"{self.model}.pt"


def label(model: Loaded, taken=()) -> str:
    """How the picker names a trained model: "digitcnn (trained at 14:32)", with the day if
    it was not today, and the seconds if another name in `taken` is the same."""
    at = datetime.fromisoformat(model.meta["trained_at"])
    when = at.strftime("%H:%M") if at.date() == datetime.now().date() else at.strftime("%d %b %H:%M")
    name = f"{model.name} (trained at {when})"
    return name if name not in taken else f"{name[:-1]}:{at.strftime('%S')})"


def trained_models() -> dict[str, Loaded]:
    """Every model the page has trained, oldest first, by picker label; a file that does not
    load is named and skipped, never fatal."""
    found = {}
    for path in sorted(trained_dir().glob("*/*.pt")):
        if path.name.endswith(".resume.pt"):
            continue
        try:
            model = load(path.stem, path)
        except WeightsError as e:
            print(f"digitpad: skipped a trained model: {e}", file=sys.stderr)
            continue
        found[label(model, found)] = model
    return found


def is_trained(model: Loaded) -> bool:
    """Whether a loaded model is one the page trained (its weights in a run folder)."""
    return model.path.parent.parent == trained_dir()


def beyond_keep(models: dict) -> list[str]:
    """The labels of the trained models among `models` (oldest first) older than the newest KEEP:
    the page removes them as a new one joins."""
    return [name for name, m in models.items() if is_trained(m)][:-KEEP]


def remove(model: Loaded) -> None:
    """Delete a trained model's run folder: its weights, events, log and plots."""
    if not is_trained(model):
        raise ValueError(f"{model.path} is not a model trained on the page")
    shutil.rmtree(model.path.parent)
