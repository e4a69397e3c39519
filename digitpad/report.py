"""Offline training reports as PNG: learning curves, confusion matrix, misclassified digits."""
import math
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)


def confusion_matrix(labels: torch.Tensor, preds: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """[true, predicted] counts."""
    return torch.bincount(labels * classes + preds, minlength=classes * classes).view(classes, classes)


def plot_curves(history: list[dict], path: Path) -> None:
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax_loss.plot(epochs, [h.get("val_loss", math.nan) for h in history], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.plot(epochs, [h["train_acc"] for h in history], "o-", label="train")
    ax_acc.plot(epochs, [h.get("val_acc", math.nan) for h in history], "o-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(cm: torch.Tensor, path: Path, title: str = "confusion matrix") -> None:
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.imshow(cm.log1p().numpy(), cmap="Blues")  # numpy: matplotlib warns on tensors
    for t in range(10):
        for p in range(10):
            ax.text(p, t, int(cm[t, p]), ha="center", va="center", fontsize=7,
                    color="white" if t == p else "black")
    ax.set(xlabel="predicted", ylabel="true", title=title, xticks=range(10), yticks=range(10))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_misses(images: torch.Tensor, labels, preds, path: Path, count: int = 64) -> None:
    """A sheet of digits the model got wrong, each captioned true -> predicted."""
    wrong = (labels != preds).nonzero().flatten()[:count].tolist()
    cols, side, top, gap = 8, 28, 12, 4  # top: room for each caption
    rows = max(1, -(-len(wrong) // cols))
    cell_w, cell_h = side + gap, top + side + gap
    # One image with one caption per digit, not an axes per digit: a tenth of the time to draw.
    sheet = torch.zeros(rows * cell_h, cols * cell_w)
    fig, ax = plt.subplots(figsize=(cols * cell_w / 30, rows * cell_h / 30))
    for n, i in enumerate(wrong):
        row, col = divmod(n, cols)
        digit = images[i].squeeze()
        digit = (digit - digit.min()) / (digit.max() - digit.min()).clamp_min(1e-6)
        sheet[row * cell_h + top:row * cell_h + top + side, col * cell_w:col * cell_w + side] = digit
        ax.text(col * cell_w + side / 2, row * cell_h + top - 2, f"{int(labels[i])} -> {int(preds[i])}",
                ha="center", va="bottom", fontsize=8)
    ax.imshow(sheet.numpy(), cmap="gray_r", vmin=0, vmax=1)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_all(folder: Path, history, images, labels, preds) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    plot_curves(history, folder / "curves.png")
    plot_confusion(confusion_matrix(labels, preds), folder / "confusion.png")
    plot_misses(images, labels, preds, folder / "misses.png")
