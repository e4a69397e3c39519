"""MNIST as in-memory tensors: loaded once, split, normalized and augmented in batches."""
import math
import os
import struct
from pathlib import Path

import torch
import torch.nn.functional as F

from . import home

# MNIST's training-set pixel mean and std: the one place these numbers live.
MEAN, STD = 0.1307, 0.3081
VAL_SIZE = 5000
DATA_DIR_HELP = ("MNIST root holding MNIST/raw/ (default: $DIGITPAD_DATA, else mnist/ in digitpad's "
                 "home, where torchvision downloads it when missing)")  # every command's --data-dir


def default_data_dir() -> Path:
    """$DIGITPAD_DATA, else mnist/ in digitpad's home, made when missing so torchvision can
    download MNIST into it."""
    if os.environ.get("DIGITPAD_DATA"):
        return Path(os.environ["DIGITPAD_DATA"])
    root = home.home() / "mnist"
    root.mkdir(parents=True, exist_ok=True)
    return root


def mnist_files(root: str | Path, train: bool) -> tuple[Path, Path]:
    """One split's two idx files (images, labels), where torchvision keeps them under `root`."""
    raw, split = Path(root) / "MNIST" / "raw", "train" if train else "t10k"
    return raw / f"{split}-images-idx3-ubyte", raw / f"{split}-labels-idx1-ubyte"


def has_mnist(root: str | Path) -> bool:
    """Whether the four MNIST files are already in `root`, so nothing is downloaded."""
    return all(path.is_file() for train in (True, False) for path in mnist_files(root, train))


def normalize(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] ink intensities -> what the models were trained on."""
    return (x - MEAN) / STD


def denormalize(x: torch.Tensor) -> torch.Tensor:
    """What the models were trained on -> [0, 1] ink intensities."""
    return x * STD + MEAN


def load_mnist(root: str | Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float32 [N, 1, 28, 28] in [0, 1] and labels as int64 [N]; torchvision downloads
    the files when they are missing."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"MNIST data folder {root} does not exist. Create it (torchvision downloads MNIST "
            f"into it when online) or point --data-dir / DIGITPAD_DATA at a folder holding MNIST/raw/.")
    images_file, labels_file = mnist_files(root, train)
    try:
        if not has_mnist(root):
            from torchvision.datasets import MNIST  # 2.5 s to import: only to download
            MNIST(str(root), train=train, download=True)
        images, labels = read_idx(images_file, 3), read_idx(labels_file, 1)
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
    except (RuntimeError, OSError, ValueError) as e:
        raise FileNotFoundError(
            f"could not load MNIST from {root}: {e}\nExpected the four official files in "
            f"{images_file.parent} (train-images-idx3-ubyte, ...); with internet access torchvision downloads "
            f"them there, or point --data-dir / DIGITPAD_DATA at a folder holding MNIST/raw/.") from e
    return images.unsqueeze(1).float().div_(255), labels.long()


def read_idx(path: Path, dims: int) -> torch.Tensor:
    """One of MNIST's idx files: a magic number (0, 0, 8 for uint8, the number of dimensions),
    each size as a big-endian int32, then the bytes."""
    data = path.read_bytes()
    head = 4 + 4 * dims
    if data[:4] != bytes((0, 0, 8, dims)) or len(data) < head:
        raise ValueError(f"{path.name} is not an idx file of {dims}-dimensional bytes")
    shape = struct.unpack(f">{dims}I", data[4:head])
    if len(data) != head + math.prod(shape):
        raise ValueError(f"{path.name} holds {len(data) - head:,} bytes, not the {math.prod(shape):,} "
                         f"its header gives")
    return torch.frombuffer(bytearray(data[head:]), dtype=torch.uint8).view(shape)


def split(images, labels, val_size: int = VAL_SIZE, seed: int = 0):
    """A seeded train/validation split of the 60,000 training images."""
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    val, tr = perm[:val_size], perm[val_size:]
    return (images[tr], labels[tr]), (images[val], labels[val])


def batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, gen: torch.Generator):
    """One pass over in-memory tensors: (images, labels) batches in an order drawn from `gen`."""
    order = torch.randperm(len(images), generator=gen, device=images.device)
    for i in range(0, len(images), batch_size):
        idx = order[i:i + batch_size]
        yield images[idx], labels[idx]


def mixed_batches(images, labels, extra: tuple | None, batch_size: int, n_extra: int,
                  gen: torch.Generator):
    """One pass over (images, labels), each batch topped up to `batch_size` with `n_extra` of
    `extra` (images, labels), which is cycled through in fresh orders as often as needed."""
    if extra is None or n_extra == 0:
        yield from batches(images, labels, batch_size, gen)
        return
    topping = _cycle(*extra, n_extra, gen)
    for x, y in batches(images, labels, batch_size - n_extra, gen):
        ex, ey = next(topping)
        yield torch.cat([x, ex]), torch.cat([y, ey])


def _cycle(images, labels, batch_size, gen):
    while True:
        for x, y in batches(images, labels, batch_size, gen):
            if len(y) == batch_size:
                yield x, y


def augment(x: torch.Tensor, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random affine warp, stroke thickness and drawn-digit styles on a batch in [0, 1]."""
    x = add_styles(x, labels, gen)
    b = len(x)

    def uniform(lo, hi):
        return torch.rand(b, generator=gen, device=x.device) * (hi - lo) + lo

    angle = uniform(-10, 10) * math.pi / 180
    scale = uniform(0.9, 1.1)
    shear = uniform(-0.2, 0.2)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # theta maps output coords to input coords: rotation, then horizontal shear (slant).
    theta = torch.stack([
        torch.stack([cos, -sin + shear * cos, uniform(-0.08, 0.08)], 1),
        torch.stack([sin, cos + shear * sin, uniform(-0.08, 0.08)], 1),
    ], 1)
    x = F.grid_sample(x, _affine_grid(theta), align_corners=False)

    # Pens and brushes draw thinner and thicker than MNIST's scanned ink.
    t = uniform(-0.4, 0.8).view(b, 1, 1, 1)
    return torch.where(t > 0, x + t * (_spread(x, torch.maximum, 0.0) - x),
                       x + t.abs() * (_spread(x, torch.minimum, 1.0) - x)).clamp_(0, 1)


def _affine_grid(theta: torch.Tensor) -> torch.Tensor:
    """F.affine_grid(theta, [B, 1, 28, 28]) as one matrix product, 10x faster on a CPU."""
    pixels = (torch.arange(28, dtype=theta.dtype, device=theta.device) * 2 + 1) / 28 - 1
    ys, xs = torch.meshgrid(pixels, pixels, indexing="ij")
    base = torch.stack([xs, ys, torch.ones_like(xs)], -1).view(784, 3)
    return torch.einsum("pk,bjk->bpj", base, theta).view(-1, 28, 28, 2)


def _spread(x: torch.Tensor, pick, border: float) -> torch.Tensor:
    """Max (or min) over each pixel's 3x3 neighbourhood, as two 1-D passes of shifted views:
    6x faster on a CPU than max_pool2d with stride 1."""
    p = F.pad(x, (1, 1, 1, 1), value=border)
    rows = pick(pick(p[..., :-2, :], p[..., 1:-1, :]), p[..., 2:, :])
    return pick(pick(rows[..., :-2], rows[..., 1:-1]), rows[..., 2:])


def add_styles(x: torch.Tensor, labels: torch.Tensor, gen: torch.Generator, p: float = 0.3):
    """Add strokes people draw and MNIST lacks: a flag on 1s, a crossbar on 7s, a curled tail on 9s."""
    dev = x.device
    pick = torch.rand(len(x), generator=gen, device=dev) < p
    chosen = (pick & ((labels == 1) | (labels == 7) | (labels == 9))).nonzero()[:, 0]
    if not len(chosen):
        return x
    # Only the chosen few (about 9% of a batch) are drawn on: the geometry below is most of
    # augmentation's cost when run on every image.
    digits, b = labels[chosen], len(chosen)
    ink = (x[chosen, 0] > 0.3).float()                                # [b, 28, 28]
    rows = torch.arange(28.0, device=dev).view(1, 28, 1)
    cols = torch.arange(28.0, device=dev).view(1, 1, 28)
    mass = ink.sum((1, 2)).clamp(min=1)
    cy = (ink * rows).sum((1, 2)) / mass
    cx = (ink * cols).sum((1, 2)) / mass
    top, top_x, bottom, bottom_x = _ends(ink, cols)

    # Each stroke's ends (x0, y0, x1, y1), [b, 4]; every image then draws only its own.
    # The flag: a segment from the top of the 1 going down and left.
    length = torch.rand(b, generator=gen, device=dev) * 5 + 6
    angle = torch.rand(b, generator=gen, device=dev) * 0.6 + 0.4   # radians below horizontal
    flag = torch.stack([top_x, top, top_x - length * torch.cos(angle), top + length * torch.sin(angle)], 1)

    # The crossbar: a short horizontal stroke through the middle of the 7.
    half = torch.rand(b, generator=gen, device=dev) * 2 + 3
    bar = torch.stack([cx - half, cy, cx + half, cy], 1)

    # The tail: from the foot of the 9, a hook back to the left and slightly up.
    length = torch.rand(b, generator=gen, device=dev) * 4 + 4
    angle = torch.rand(b, generator=gen, device=dev) * 0.7 - 0.1    # radians above horizontal
    tail = torch.stack([bottom_x, bottom, bottom_x - length * torch.cos(angle),
                        bottom - length * torch.sin(angle)], 1)

    ends = torch.where((digits == 1).view(b, 1), flag, torch.where((digits == 7).view(b, 1), bar, tail))
    stroke = _segment(rows, cols, *ends.unbind(1))
    out = x.clone()
    out[chosen] = torch.maximum(x[chosen], stroke.unsqueeze(1))
    return out


def _ends(ink: torch.Tensor, cols: torch.Tensor):
    """Rows of each image's top and bottom ink pixels, and the mean column of the ink on each."""
    has = ink.any(2).float()                                          # [B, 28]
    top, bottom = has.argmax(1), 27 - has.flip(1).argmax(1)           # first row with ink, last
    lines = ink[torch.arange(len(ink), device=ink.device).view(-1, 1),
                torch.stack([top, bottom], 1)]                        # [B, 2, 28]
    x = (lines * cols).sum(2) / lines.sum(2).clamp(min=1)
    return top.float(), x[:, 0], bottom.float(), x[:, 1]


def _segment(rows, cols, x0, y0, x1, y1, width: float = 1.1):
    """Anti-aliased strokes from (x0, y0) to (x1, y1), one per batch item: [B, 28, 28]."""
    x0, y0, x1, y1 = (v.view(-1, 1, 1) for v in (x0, y0, x1, y1))
    dx, dy = x1 - x0, y1 - y0
    t = (((cols - x0) * dx + (rows - y0) * dy) / (dx * dx + dy * dy).clamp(min=1e-6)).clamp(0, 1)
    dist = torch.hypot(cols - (x0 + t * dx), rows - (y0 + t * dy))
    return (width + 0.5 - dist).clamp(0, 1)
