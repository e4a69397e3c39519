"""The user's drawings, per profile, in one SQLite file under digitpad's home; zip export/import.

Every call opens its own connection: the page's handlers run on many threads, and SQLite
serializes their writes, so two tabs adding drawings at once both land.
"""
import csv
import io
import json
import sqlite3
import struct
import sys
import time
import zipfile
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data import denormalize, normalize
from .strokes import parse
from .weights import write_atomic

APP_ID = 0x44504144  # "DPAD" in PRAGMA application_id: a file made by digitpad, not another program
SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,        -- '' on this machine; a browser's token when served beyond it
    name TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (owner, name));
CREATE TABLE IF NOT EXISTS drawings (
    id INTEGER PRIMARY KEY,
    profile INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    input BLOB NOT NULL,        -- the 28x28 the model saw, ink as uint8
    canvas BLOB,                -- a small PNG of the pad
    label INTEGER NOT NULL,     -- what the person says it is
    said INTEGER NOT NULL,      -- what the chosen model read
    model TEXT NOT NULL,        -- which model that was
    base_said INTEGER NOT NULL, -- what the base model read
    mine_said INTEGER NOT NULL, -- what the personal model read before it learned this drawing
    created REAL NOT NULL,
    strokes TEXT);              -- the pad's value (strokes.Pad JSON), so it can be read again at any canvas
"""
CSV_FIELDS = ("file", "label", "said", "model", "created")
IMPORT_BYTES = 50_000_000  # an import zip's unpacked size: about 50,000 drawings' PNGs
PROBLEMS_SHOWN = 50  # an import's report names at most this many
CANVAS_SIDE = 1024  # a stored canvas thumbnail's largest side (they are 96 px)
# SQLite's names for a file it can no longer write: read-only, gone from under it, disk full or failing.
UNWRITABLE = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_FULL", "SQLITE_IOERR")


class ReadOnly(Exception):
    """The store can no longer be written; what it holds can still be read."""


@dataclass(frozen=True)
class Read:
    """How the models read a drawing when it was kept: the chosen one (by name), the base model
    and the profile's own model before it learned the drawing."""
    model: str
    said: int
    base_said: int
    mine_said: int


@dataclass
class KeptDrawing:
    """A drawing a profile kept by saying what it was, as the store holds it."""
    id: int
    input: torch.Tensor  # [1, 28, 28], normalized as preprocess returns it
    canvas: bytes | None
    label: int
    said: int
    model: str
    base_said: int
    mine_said: int
    created: float
    strokes: str | None  # the pad's JSON; None for drawings kept before strokes were


class Store:
    """Profiles and their drawings in the SQLite file at `path`, made when missing."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._ids: dict[tuple[str, str], int] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and (problem := _problem(self.path)):
            aside = self.path.with_name(f"{self.path.name}.bad-{time.strftime('%Y%m%d-%H%M%S')}")
            self.path.rename(aside)
            print(f"digitpad: {self.path} {problem}; moved it to {aside} and started a fresh one",
                  file=sys.stderr, flush=True)
        self._made, self.generation = False, 0  # generation: files begun afresh so far
        with self._connection() as db:
            if "strokes" not in {r[1] for r in db.execute("PRAGMA table_info(drawings)")}:
                db.execute("ALTER TABLE drawings ADD COLUMN strokes TEXT")  # made before strokes were kept
        self._made = True

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA foreign_keys = ON")
        if not db.execute("SELECT 1 FROM sqlite_master").fetchone():  # new, or deleted while we ran
            if self._made:
                print(f"digitpad: {self.path} was deleted while digitpad ran; started a fresh one",
                      file=sys.stderr, flush=True)
            self._ids.clear()  # the profiles' ids were the old file's
            self.generation += 1
            db.executescript(f"PRAGMA application_id = {APP_ID};" + SCHEMA)
        return db

    @contextmanager
    def _connection(self):
        """A connection whose work commits at the end; a file that can no longer be written
        raises ReadOnly, in a sentence for the page."""
        try:
            with closing(self._db()) as db, db:
                yield db
        except sqlite3.OperationalError as e:
            if not getattr(e, "sqlite_errorname", "").startswith(UNWRITABLE):
                raise
            raise ReadOnly(f"Your drawings can no longer be saved in {self.path} ({e}); the ones "
                           f"saved before are kept. Make that folder writable (or free some space) "
                           f"and draw again, or restart digitpad with --home and a folder it can "
                           f"write.") from e

    def _run(self, sql: str, args=()) -> list:
        with self._connection() as db:
            return db.execute(sql, args).fetchall()

    def profile(self, name: str, owner: str = "", admit=None) -> int:
        """The id of the profile `name` of `owner`, made when new; `admit(owner)` is asked first
        and may refuse by raising."""
        key = (owner, name.strip() or "me")
        find = "SELECT id FROM profiles WHERE owner = ? AND name = ?"
        # Asked on every reading with a personal model: once from disk, unless the file went.
        if key not in self._ids or not self.path.exists():
            with self._connection() as db:
                # Looked up before any insert: a store that turned read-only still opens its profiles.
                if not (found := db.execute(find, key).fetchone()):
                    if admit:
                        admit(owner)
                    db.execute("INSERT OR IGNORE INTO profiles (owner, name, created) VALUES (?, ?, ?)",
                               (*key, time.time()))
                    found = db.execute(find, key).fetchone()
                self._ids[key] = found[0]
        return self._ids[key]

    def profiles(self, owner: str = "") -> list[str]:
        return [r[0] for r in self._run("SELECT name FROM profiles WHERE owner = ? ORDER BY id", (owner,))]

    def owners(self) -> int:
        """How many owners (browsers, on a shared page) have profiles here."""
        return self._run("SELECT COUNT(DISTINCT owner) FROM profiles")[0][0]

    def add(self, profile: int, x: torch.Tensor, canvas: np.ndarray | None, label: int, read: Read,
            strokes: str | None = None) -> int:
        """Store a drawing (x as preprocess returns it, canvas a small copy, strokes the pad's
        JSON) as `label`, with how the models read it; returns its id."""
        with self._connection() as db:
            return self._insert(db, profile, x, canvas, label, read, strokes)

    @staticmethod
    def _insert(db, profile: int, x: torch.Tensor, canvas: np.ndarray | None, label: int, read: Read,
                strokes: str | None) -> int:
        return db.execute(
            "INSERT INTO drawings (profile, input, canvas, label, said, model, base_said, "
            "mine_said, created, strokes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (profile, to_ink(x).tobytes(), None if canvas is None else png(canvas), int(label),
             int(read.said), read.model, int(read.base_said), int(read.mine_said), time.time(),
             strokes)).lastrowid

    def drawings(self, profile: int) -> list[KeptDrawing]:
        rows = self._run("SELECT id, input, canvas, label, said, model, base_said, mine_said, created, "
                         "strokes FROM drawings WHERE profile = ? ORDER BY id", (profile,))
        return [KeptDrawing(r[0], from_ink(np.frombuffer(r[1], np.uint8)), *r[2:]) for r in rows]

    def created(self, profile: int) -> float | None:
        """When the profile was made: with its id, what ties a personal model to this database."""
        rows = self._run("SELECT created FROM profiles WHERE id = ?", (profile,))
        return rows[0][0] if rows else None

    def newest(self, profile: int) -> tuple[str | None, int] | None:
        """The strokes and label of the profile's newest drawing."""
        rows = self._run("SELECT strokes, label FROM drawings WHERE profile = ? ORDER BY id DESC LIMIT 1", (profile,))
        return tuple(rows[0]) if rows else None

    def ids(self, profile: int) -> list[int]:
        return [r[0] for r in self._run("SELECT id FROM drawings WHERE profile = ? ORDER BY id", (profile,))]

    def delete(self, profile: int, drawing: int) -> None:
        self._run("DELETE FROM drawings WHERE profile = ? AND id = ?", (profile, drawing))

    def forget(self, profile: int) -> None:
        self._run("DELETE FROM drawings WHERE profile = ?", (profile,))

    def export_zip(self, profile: int, path: Path) -> Path:
        """A zip of each drawing's 28x28 input and canvas as PNGs, drawings.csv naming them and
        strokes.json (file -> the pad's value); written atomically, so a download never gets half a zip."""
        def write(f):
            table = io.StringIO()
            rows = csv.writer(table)
            rows.writerow(CSV_FIELDS)
            drawn = {}
            with zipfile.ZipFile(f, "w") as z:
                for d in self.drawings(profile):
                    z.writestr(f"inputs/{d.id}.png", png(to_ink(d.input)))
                    if d.canvas:
                        z.writestr(f"canvases/{d.id}.png", d.canvas)
                    if d.strokes:
                        drawn[f"{d.id}.png"] = json.loads(d.strokes)
                    created = datetime.fromtimestamp(d.created).isoformat(sep=" ", timespec="seconds")
                    rows.writerow((f"{d.id}.png", d.label, d.said, cell(d.model), created))
                z.writestr("drawings.csv", table.getvalue())
                z.writestr("strokes.json", json.dumps(drawn))
        return write_atomic(path, write)

    def import_zip(self, profile: int, path: Path, room: int | None = None) -> tuple[int, list[str]]:
        """Add the drawings of a zip made by export_zip, at most `room` of them; returns how
        many, and what was refused and why."""
        try:
            z = zipfile.ZipFile(path)
            if (size := sum(i.file_size for i in z.infolist())) > IMPORT_BYTES:
                return 0, [f"{Path(path).name}: {size:,} bytes unpacked, more than an import may hold "
                           f"({IMPORT_BYTES:,})"]
            table = z.read("drawings.csv").decode()
        except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, OSError) as e:
            return 0, [f"{Path(path).name}: not a digitpad export (a zip with drawings.csv): {e}"]
        added, problems = 0, []
        try:
            drawn = json.loads(z.read("strokes.json")) if "strokes.json" in z.namelist() else {}
            if not isinstance(drawn, dict):
                raise ValueError("not an object of file -> strokes")
        except (ValueError, zipfile.BadZipFile) as e:
            drawn = {}
            problems.append(f"strokes.json: {e}; the drawings were imported without their strokes")
        with z, self._connection() as db:  # one commit for the import: 500 took 2.2 s one by one
            rows = csv.DictReader(io.StringIO(table))
            line = 1
            try:
                for line, row in enumerate(rows, start=2):
                    where = f"drawings.csv line {line}"
                    if room is not None and added >= room:
                        problems.append(f"{where}: not added: the profile is full")
                        break
                    try:
                        name, label, said = row["file"], digit(row["label"]), digit(row.get("said") or row["label"])
                        where = f"inputs/{name}"
                        ink = np.asarray(image(z.read(where), 28, exact=True).convert("L"))
                        where = f"canvases/{name}"
                        canvas = (np.asarray(image(z.read(where), CANVAS_SIDE).convert("L"))
                                  if where in z.namelist() else None)
                        where = f"strokes.json, {name}"
                        kept = parse(drawn[name]).value() if name in drawn else None
                        model = str(row.get("model") or "imported")[:60]
                        self._insert(db, profile, from_ink(ink), canvas, label, Read(model, said, said, said), kept)
                        added += 1
                    except (KeyError, ValueError, TypeError, OSError) as e:
                        problems.append(f"{where}: {e}")
            except csv.Error as e:
                problems.append(f"drawings.csv line {line + 1}: {e}; the rows before it were imported")
        shown = problems[:PROBLEMS_SHOWN]
        return added, shown + [f"and {len(problems) - len(shown):,} more"] * (len(problems) > len(shown))


def digit(text) -> int:
    """A label or reading from a CSV cell: 0 to 9, else ValueError saying so."""
    if not str(text).strip().isdigit() or not 0 <= int(text) <= 9:
        raise ValueError(f"{str(text)[:20]!r} is not a digit 0-9")
    return int(text)


def image(data: bytes, side: int, exact: bool = False) -> Image.Image:
    """A PNG from an import, its size read from its header before PIL opens it: at most `side`
    pixels a side, or (exact) side x side."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    if exact and (width, height) != (side, side):
        raise ValueError(f"{width}x{height} pixels, not {side}x{side}")
    if max(width, height) > side:
        raise ValueError(f"{width}x{height} pixels, more than {side} a side")
    try:
        return Image.open(io.BytesIO(data))
    except Image.UnidentifiedImageError:
        raise ValueError("not a PNG image") from None


def cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: one starting = + - @ would run as a formula."""
    value = str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def _problem(path: Path) -> str | None:
    """Why the file at `path` is not a usable digitpad database, or None."""
    try:
        with closing(sqlite3.connect(path)) as db:
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if app_id != APP_ID:  # an empty file is fine: it becomes digitpad's
                return "belongs to another program" if tables or app_id else None
            if tables != {"profiles", "drawings"}:
                return f"has tables {sorted(tables)}, not digitpad's"
            if (check := db.execute("PRAGMA quick_check").fetchone()[0]) != "ok":
                return f"is damaged ({check})"
    except sqlite3.DatabaseError as e:
        return f"is not a readable SQLite database ({e})"
    return None


def to_ink(x: torch.Tensor) -> np.ndarray:
    """preprocess's output -> 28x28 uint8 ink, as MNIST stores it."""
    return denormalize(x.reshape(28, 28)).clamp(0, 1).mul(255).round().to(torch.uint8).numpy()


def from_ink(ink: np.ndarray) -> torch.Tensor:
    """28x28 uint8 ink -> [1, 28, 28] as preprocess returns it."""
    return normalize(torch.from_numpy(ink.reshape(1, 28, 28).astype(np.float32) / 255))


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()
