"""A training run's settings as plain data, the two recipes, and the command line that
starts a run with them (train.py parses it back)."""
from dataclasses import dataclass, fields, replace
from pathlib import Path

from . import home
from .data import VAL_SIZE
from .names import DEFAULT_MODEL


@dataclass(frozen=True)
class Settings:
    """One training run, as plain data: a recipe's values, any of them overridden by its flag."""
    recipe: str = "fast"
    model: str = DEFAULT_MODEL
    data: str = "mnist+pen"  # or "mnist": MNIST alone, as the seeds trained
    pen_share: float = 0.25
    pen_renders: str = "fresh"  # or "cached": three fixed renders per pen digit
    fold: int | None = None  # pen writer group held out; None: train on every writer
    pendigits: Path | None = None
    epochs: int = 15
    batch_size: int = 64
    lr: float = 6.5e-3
    lr_schedule: str = "linear"
    label_smoothing: float = 0.1
    augment_share: float = 0.5
    ema: float = 0.999
    precision: str = "bf16"
    patience: int = 0  # 0: never stop early
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    data_dir: Path | None = None
    out: Path | None = None  # None: runs/ in digitpad's home
    report_dir: Path | None = None  # None: reports/ in digitpad's home
    val_size: int = VAL_SIZE
    limit: int | None = None
    events: Path | None = None
    resume: bool = False

    @property
    def out_dir(self) -> Path:
        return self.out or home.runs_dir()

    @property
    def reports_dir(self) -> Path:
        return self.report_dir or home.home() / "reports"

    def to_argv(self) -> list[str]:
        """The command line that parses back into these settings: how every caller starts a
        training process."""
        argv, recipe = ["--recipe", self.recipe], RECIPES[self.recipe]
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "recipe" and value != getattr(recipe, f.name):
                flag = "--" + f.name.replace("_", "-")
                argv += [flag] if value is True else [flag, str(value)]
        return argv


# The recipes. fast was chosen by a sweep (docs/benchmarks.md): one epoch reaches 99% MNIST
# test, 15 the shipped quality; the rate warms up over the first 5% of steps, then falls
# linearly to zero. seeds is S0-S2's own: Adam 1e-3, batch 64, plain MNIST, S0's 20 epochs
# with patience 3.
FAST = Settings()
SEEDS = replace(FAST, recipe="seeds", data="mnist", epochs=20, lr=1e-3, lr_schedule="constant",
                label_smoothing=0.0, augment_share=0.0, ema=0.0, precision="fp32", patience=3)
RECIPES = {"fast": FAST, "seeds": SEEDS}
RECIPE_FIELDS = ("data", "epochs", "batch_size", "lr", "lr_schedule", "label_smoothing",
                 "augment_share", "ema", "precision", "patience")
