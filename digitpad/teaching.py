"""teach: a taught copy of a model from a few of one person's drawings, without forgetting.

Each step's batch is mostly the person's drawings, topped up with rehearsal digits (MNIST and
pen digits of the writers the model trained on), all augmented as in training: the person's
few examples pull the model toward their style, the rehearsal keeps everyone else's.
"""
import copy
import functools

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from . import data
from .steps import train_step
from .weights import WEIGHTS_DIR, read_checkpoint, save_atomic

STEPS = 40
BATCH = 64
MINE = 48           # of each batch, the person's drawings; the rest rehearses
LR = 2e-3
EMA = 0.9           # the copy returned is an average of the last steps' weights: less noise
REHEARSAL_PER_DIGIT = 100
REHEARSAL_PATH = WEIGHTS_DIR / "rehearsal.pt"


def teach(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
          rehearsal: tuple | None = None, seed: int = 0) -> nn.Module:
    """A taught copy of `model` from images [N, 1, 28, 28] as preprocess returns them and labels [N].

    `model` is left as it was; the same inputs give the same copy. `rehearsal` is (images in
    [0, 1], labels); by default the set that ships with digitpad.
    """
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28) or len(images) != len(labels) or not len(images):
        raise ValueError(f"expected images [N, 1, 28, 28] and labels [N] with N > 0, got "
                         f"{list(images.shape)} and {list(labels.shape)}")
    if images.isnan().any():
        raise ValueError("an image is blank (NaN): preprocess found nothing drawn in it")
    if not ((labels >= 0) & (labels <= 9)).all():
        raise ValueError(f"labels must be digits 0-9, got {labels.tolist()}")
    old_x, old_y = rehearsal if rehearsal is not None else load_rehearsal()
    mine_x, mine_y = data.denormalize(images).clamp(0, 1), labels.long()
    taught = copy.deepcopy(model)
    averaged = AveragedModel(taught, multi_avg_fn=get_ema_multi_avg_fn(EMA))
    opt = torch.optim.Adam(taught.parameters(), lr=LR)
    taught.train()
    for m in taught.modules():  # a few dozen images would skew batch norm's statistics
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    with torch.random.fork_rng(devices=[]):  # dropout's masks, without touching the caller's seed
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(STEPS):
            mine = torch.randint(len(mine_y), (MINE,), generator=gen)
            old = torch.randint(len(old_y), (BATCH - MINE,), generator=gen)
            x, y = torch.cat([mine_x[mine], old_x[old]]), torch.cat([mine_y[mine], old_y[old]])
            train_step(taught, opt, data.normalize(data.augment(x, y, gen)), y)
            averaged.update_parameters(taught)
    return averaged.module.eval()


def rehearsal_set(mnist: tuple, pen: tuple, per_digit: int, seed: int = 0) -> tuple:
    """`per_digit` images of each digit from MNIST and as many from pen digits, each (images in
    [0, 1], labels): what teach rehearses."""
    gen = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for images, labels in (mnist, pen):
        for digit in range(10):
            idx = (labels == digit).nonzero()[:, 0]
            idx = idx[torch.randperm(len(idx), generator=gen)[:per_digit]]
            xs.append(images[idx])
            ys.append(labels[idx])
    return torch.cat(xs), torch.cat(ys)


def save_rehearsal(images: torch.Tensor, labels: torch.Tensor, path, **meta) -> None:
    """As uint8, the way MNIST stores pixels: 784 bytes an image."""
    stored = images.mul(255).round().to(torch.uint8)
    save_atomic({"images": stored, "labels": labels, "meta": meta}, path)


@functools.cache
def load_rehearsal(path=REHEARSAL_PATH) -> tuple[torch.Tensor, torch.Tensor]:
    """The rehearsal set (read once per process): images [N, 1, 28, 28] in [0, 1], labels [N]."""
    c = read_checkpoint(path, "Make it with: python scripts/rehearsal.py", key="images")
    return c["images"].float().div_(255), c["labels"]
