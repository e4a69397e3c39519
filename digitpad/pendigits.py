"""Pen-drawn digits (UCI pendigits, UNIPEN strokes): rendered as canvases by the pad's own rasterizer,
or sent as the pad sends them; preprocessed and cached as tensors under digitpad's home, split
into writer folds."""
import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import home
from .data import denormalize
from .canvas import VERSION as PREPROCESS_VERSION
from .canvas import preprocess
from .strokes import BRUSH as PAD_BRUSH
from .strokes import CANVAS, Pad, parse, rasterize
from .weights import save_atomic

VARIANTS = ("white", "transparent", "dark")  # canvases, as images reach preprocess
PAD = "pad"                                  # strokes, as the page's pad sends them
BRUSH = (0.02, 0.08)    # brush width, as a fraction of the canvas, drawn uniformly from this range
EXTENT = (0.3, 0.85)    # the digit's larger side, likewise
RENDER_VERSION = 2      # bump when render() draws differently (2: round joins drawn as discs)
FOLDS = 3

# The UCI archive's copy (CC BY 4.0), `compress`ed; the checksum is of the decompressed file.
URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/pendigits/pendigits-orig.tra.Z"
SHA256 = "a66225d68d7d68591e62944df1ad33b3f5aa608e2df2505844b41f5568a80da4"


@dataclass
class PenDigit:
    """One of UCI's pen-drawn digits, as its writer drew it."""
    label: int
    writer: int
    strokes: list[np.ndarray]  # each [n, 2] of (x, y) with y pointing down


def locate(path: str | Path | None = None, download: bool = False) -> Path:
    """The pendigits-orig.tra to read: `path`, else $DIGITPAD_PENDIGITS, else the copy in
    digitpad's home, fetched from the UCI archive when `download` allows."""
    given = path or os.environ.get("DIGITPAD_PENDIGITS")
    if given:
        if not Path(given).is_file():
            raise FileNotFoundError(
                f"pen-drawn digits not found at {given} (from {'--pendigits' if path else 'DIGITPAD_PENDIGITS'}): "
                f"expected UCI's pendigits-orig.tra there")
        return Path(given)
    local = home.home() / "pendigits" / "pendigits-orig.tra"
    if local.is_file():
        return local
    if download:
        return fetch(local, URL)
    raise FileNotFoundError(
        "pen-drawn digits not found: pass --pendigits PATH or set DIGITPAD_PENDIGITS to UCI's "
        f"pendigits-orig.tra (or let training download it to {local})")


def fetch(dest: Path, url: str) -> Path:
    """Download and decompress the UCI file to `dest`, refusing it unless its checksum matches."""
    import unlzw3

    print(f"downloading pen-drawn digits from {url}")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            raw = unlzw3.unlzw(response.read())
    except (OSError, ValueError) as e:
        raise FileNotFoundError(f"pen-drawn digits: could not download {url} ({e}); pass "
                                f"--pendigits PATH or set DIGITPAD_PENDIGITS to a local copy") from e
    if hashlib.sha256(raw).hexdigest() != SHA256:
        raise FileNotFoundError(f"{url} did not match the expected checksum; nothing was saved")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    tmp.write_bytes(raw)
    tmp.replace(dest)
    return dest


def load(path: str | Path) -> list[PenDigit]:
    """Parse a UNIPEN file into drawings, flipping the tablet's upward y axis."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pen-drawn digits not found at {path}; pass --pendigits or set "
                                f"DIGITPAD_PENDIGITS")
    drawings, stroke = [], None
    for line in path.read_text().splitlines():
        if line.startswith(".SEGMENT"):
            label = int(line.split('"')[1])
            drawings.append(PenDigit(label, -1, []))
        elif line.startswith(".COMMENT"):
            drawings[-1].writer = int(line.split()[2])
        elif line.startswith(".PEN_DOWN"):
            stroke = []
        elif line.startswith(".PEN_UP"):
            drawings[-1].strokes.append(np.array(stroke, dtype=np.float32).reshape(-1, 2))
            stroke = None
        elif stroke is not None and line.strip():
            x, y = line.split()
            stroke.append((float(x), -float(y)))
    return drawings


def placed(d: PenDigit, rng: np.random.Generator, size: int = CANVAS, brush: float | None = None,
           extent: float | None = None, centre: tuple[float, float] | None = None) -> tuple[list, float]:
    """The drawing's strokes moved onto a size x size canvas, and the brush width, in pixels;
    brush width and digit height as canvas fractions.

    Unset, brush is drawn from BRUSH, extent (the digit's larger side) from EXTENT, and the
    digit lands anywhere it fits.
    """
    brush = (brush or rng.uniform(*BRUSH)) * size
    extent = (extent or rng.uniform(*EXTENT)) * size
    pts = np.concatenate(d.strokes)
    lo, hi = pts.min(0), pts.max(0)
    scale = extent / max((hi - lo).max(), 1)
    half = (hi - lo) * scale / 2 + brush / 2
    if centre is None:
        centre = [rng.uniform(h, size - h) if h < size - h else size / 2 for h in half]
    offset = np.asarray(centre) - (lo + hi) / 2 * scale
    return [s * scale + offset for s in d.strokes], brush


def pad_value(d: PenDigit, rng: np.random.Generator, extent: float | None = None,
              centre: tuple[float, float] | None = None) -> str:
    """The drawing as the pad sends it: its strokes on the pad, drawn with the pad's brush."""
    strokes, _ = placed(d, rng, CANVAS, PAD_BRUSH, extent, centre)
    return Pad((CANVAS, CANVAS), tuple(s.round(1) for s in strokes)).value()  # the pad sends tenths


def render(d: PenDigit, rng: np.random.Generator, variant: str = "white", size: int = CANVAS,
           brush: float | None = None, extent: float | None = None,
           centre: tuple[float, float] | None = None) -> np.ndarray:
    """The drawing on a size x size RGBA canvas, placed as `placed` places it."""
    strokes, brush = placed(d, rng, size, brush, extent, centre)
    ink = rasterize(strokes, (size, size), brush)

    canvas = np.empty((size, size, 4), np.uint8)
    if variant == "white":      # black ink composited on white, as the pad draws
        canvas[..., :3] = (255 - ink)[..., None]
        canvas[..., 3] = 255
    elif variant == "transparent":  # ink only in alpha; the colour under alpha 0 is noise
        canvas[..., :3] = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        canvas[ink > 0, :3] = 0
        canvas[..., 3] = ink
    elif variant == "dark":     # light ink on a dark, opaque background
        canvas[..., :3] = (30 + ink.astype(np.uint16) * 225 // 255).astype(np.uint8)[..., None]
        canvas[..., 3] = 255
    else:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return canvas


def inputs(drawings: list, variant: str = "white", seed: int = 0, progress=None) -> torch.Tensor:
    """Render each drawing on a random canvas and preprocess it: [N, 1, 28, 28] (NaN when blank).

    Variant "pad" sends each drawing as the pad does instead: its strokes' JSON, parsed and
    rasterized at the pad's brush."""
    rng = np.random.default_rng(seed)
    out = torch.full((len(drawings), 1, 28, 28), float("nan"))
    for i, d in enumerate(progress(drawings) if progress else drawings):
        x = preprocess(parse(pad_value(d, rng)) if variant == PAD else render(d, rng, variant))
        if x is not None:
            out[i] = x[0]
    return out


@dataclass
class PenSet:
    """Preprocessed pen digits: ink in [0, 1] (NaN where preprocess saw nothing), labels, writers."""
    images: torch.Tensor   # [N, 1, 28, 28]
    labels: torch.Tensor   # [N]
    writers: torch.Tensor  # [N]

    def only(self, writers) -> "PenSet":
        keep = torch.isin(self.writers, torch.tensor(sorted(writers), dtype=torch.long))
        return PenSet(self.images[keep], self.labels[keep], self.writers[keep])

    def drawn(self) -> "PenSet":
        """Without the renders preprocess read as blank: what training can learn from."""
        keep = ~self.images.isnan().flatten(1).any(1)
        return PenSet(self.images[keep], self.labels[keep], self.writers[keep])


def cached(path: Path, variant: str = "white", renders: int = 1, seed: int = 0, progress=None) -> PenSet:
    """Every drawing in `path` rendered `renders` times (seeds seed, seed+1, ...) and preprocessed.

    Built once, then read from digitpad's cache; the key covers the file's bytes, the rendering
    settings, the canvas and preprocess's version, so a change never reads a stale cache.
    """
    settings = {"source": hashlib.sha256(Path(path).read_bytes()).hexdigest(), "variant": variant,
                "renders": renders, "seed": seed, "canvas": CANVAS, "brush": BRUSH, "extent": EXTENT,
                "render": RENDER_VERSION, "preprocess": PREPROCESS_VERSION}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    file = home.cache_dir() / f"pendigits-{variant}-{key}.pt"
    if file.is_file():
        c = torch.load(file, weights_only=True)
        return PenSet(_from_uint8(c["images"], c["blank"]), c["labels"], c["writers"])
    drawings = load(path)
    images = torch.cat([inputs(drawings, variant, seed + r, progress) for r in range(renders)])
    labels = torch.tensor([d.label for d in drawings] * renders)
    writers = torch.tensor([d.writer for d in drawings] * renders)
    ink = denormalize(images).clamp(0, 1)
    blank = ink.isnan().flatten(1).any(1)
    # uint8, as MNIST stores its pixels: a quarter of the size of float32.
    stored = torch.nan_to_num(ink).mul(255).round().to(torch.uint8)
    save_atomic({"settings": settings, "images": stored, "blank": blank, "labels": labels,
                 "writers": writers}, file)
    return PenSet(_from_uint8(stored, blank), labels, writers)


def _from_uint8(stored: torch.Tensor, blank: torch.Tensor) -> torch.Tensor:
    images = stored.float().div_(255)
    images[blank] = float("nan")
    return images


def fold_writers(writers, fold: int) -> set[int]:
    """The writers held out in `fold`: every FOLDS-th of the sorted writer ids, fixed for good."""
    if not 0 <= fold < FOLDS:
        raise ValueError(f"fold must be 0 to {FOLDS - 1}, got {fold}")
    return set(sorted(set(int(w) for w in writers))[fold::FOLDS])
