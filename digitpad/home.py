"""digitpad's home folder: where everything it writes at run time lives (caches, runs, downloads,
the user's drawings and models)."""
import os
import secrets
import tempfile
from pathlib import Path


def home() -> Path:
    """$DIGITPAD_HOME, else the user's data folder for digitpad as platformdirs finds it per OS."""
    if os.environ.get("DIGITPAD_HOME"):
        return Path(os.environ["DIGITPAD_HOME"]).expanduser()
    from platformdirs import user_data_dir
    return Path(user_data_dir("digitpad", appauthor=False))


def writable() -> Path:
    """The home folder, made if need be; OSError if digitpad cannot write there."""
    folder = home()
    folder.mkdir(parents=True, exist_ok=True)
    tempfile.TemporaryFile(dir=folder).close()
    return folder


def cache_dir() -> Path:
    return home() / "cache"


def runs_dir() -> Path:
    return home() / "runs"


def store_path() -> Path:
    """The SQLite file of everyone's drawings on this machine."""
    return home() / "drawings.sqlite"


def exports_dir() -> Path:
    return home() / "exports"


def secret() -> str:
    """A random key made once per home: owners signs each browser's token with it, so a browser
    keeps its profiles across restarts and cannot make up another's."""
    path = home() / "secret"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another digitpad made it just now
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(16))
    return path.read_text().strip()
