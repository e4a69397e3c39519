"""digitpad's home folder: where everything it writes at run time lives (caches, runs, downloads)."""
import os
from pathlib import Path


def home() -> Path:
    """$DIGITPAD_HOME, else the user's data folder for digitpad as platformdirs finds it per OS."""
    if os.environ.get("DIGITPAD_HOME"):
        return Path(os.environ["DIGITPAD_HOME"]).expanduser()
    from platformdirs import user_data_dir
    return Path(user_data_dir("digitpad", appauthor=False))


def cache_dir() -> Path:
    return home() / "cache"


def runs_dir() -> Path:
    return home() / "runs"
