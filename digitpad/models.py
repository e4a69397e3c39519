"""The model zoo: the seed CNNs from ../shared/seeds.md, one registry by name.

Every model has a `conv1` (its learned filters are shown in the app) and names the
layers worth looking at in `feature_layers`, in forward order.

ReLU comes after max-pooling, where the write-ups put it before: the two commute (the max
of ReLUs is the ReLU of the max), so the function and the weights are the same, and ReLU
and its backward touch a quarter of the values: digitcnn trains about 1.5x faster.
"""
import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .names import MODEL_NAMES


class DigitCNN(nn.Module):
    """S1, digitpad's default: two 3x3 convs (16, 32), FC 1568 -> 128 -> 10; 206,922 parameters."""

    feature_layers = ("conv1", "pool1", "conv2", "pool2")

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.dropout = nn.Dropout(0.25)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):                        # [B, 1, 28, 28]
        x = F.relu(self.pool1(self.conv1(x)))    # [B, 16, 14, 14]
        x = F.relu(self.pool2(self.conv2(x)))    # [B, 32, 7, 7]
        x = F.relu(self.fc1(x.flatten(1)))       # [B, 128]
        return self.fc2(self.dropout(x))         # [B, 10]


class SimpleCNN(nn.Module):
    """S0/S2: two 3x3 convs (32, 64), FC 3136 -> 128 -> 10 with dropout 0.5."""

    feature_layers = ("conv1", "pool1", "conv2", "pool2")

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):                        # [B, 1, 28, 28]
        x = F.relu(self.pool1(self.conv1(x)))    # [B, 32, 14, 14]
        x = F.relu(self.pool2(self.conv2(x)))    # [B, 64, 7, 7]
        x = F.relu(self.fc1(x.flatten(1)))       # [B, 128]
        return self.fc2(self.dropout(x))         # [B, 10]


class BatchNormCNN(nn.Module):
    """S3: two unpadded 5x5 convs with batch norm and dropout, FC 1024 -> 512 -> 10."""

    feature_layers = ("conv1", "pool1", "conv2", "pool2")

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5)
        self.bn1 = nn.BatchNorm2d(32)
        self.pool1 = nn.MaxPool2d(2)
        self.drop1 = nn.Dropout(0.45)
        self.conv2 = nn.Conv2d(32, 64, 5)
        self.bn2 = nn.BatchNorm2d(64)
        self.pool2 = nn.MaxPool2d(2)
        self.drop2 = nn.Dropout(0.35)
        self.fc1 = nn.Linear(64 * 4 * 4, 512)
        self.fc2 = nn.Linear(512, 10)

    def forward(self, x):                                          # [B, 1, 28, 28]
        x = self.drop1(F.relu(self.pool1(self.bn1(self.conv1(x)))))  # [B, 32, 12, 12]
        x = self.drop2(F.relu(self.pool2(self.bn2(self.conv2(x)))))  # [B, 64, 4, 4]
        x = F.relu(self.fc1(x.flatten(1)))                         # [B, 512]
        return self.fc2(x)                                         # [B, 10]


class WideKernelCNN(nn.Module):
    """S4: 25 filters 12x12 stride 2, 64 filters 5x5 'same', one pool, FC 1024 -> 1024 -> 10."""

    feature_layers = ("conv1", "conv2", "pool2")

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 25, 12, stride=2)
        self.conv2 = nn.Conv2d(25, 64, 5, padding=2)
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * 4 * 4, 1024)
        self.dropout = nn.Dropout(0.2)
        self.fc2 = nn.Linear(1024, 10)
        # S4's own init: the write-up's recipe, kept so the seed is reproduced faithfully.
        for layer in (self.conv1, self.conv2, self.fc1, self.fc2):
            nn.init.normal_(layer.weight, std=0.05)
            nn.init.constant_(layer.bias, 0.1)

    def forward(self, x):                        # [B, 1, 28, 28]
        x = F.relu(self.conv1(x))                # [B, 25, 9, 9]
        x = F.relu(self.pool2(self.conv2(x)))    # [B, 64, 4, 4]
        x = F.relu(self.fc1(x.flatten(1)))       # [B, 1024]
        return self.fc2(self.dropout(x))         # [B, 10]


MODELS = dict(zip(MODEL_NAMES, (DigitCNN, SimpleCNN, BatchNormCNN, WideKernelCNN)))


def build_model(name: str) -> nn.Module:
    """A fresh, untrained model from the zoo."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class LayerFacts:
    """One layer as the page describes it: what one image's output is, what it holds, and which
    input pixels one of its units sees."""
    name: str
    shape: tuple[int, ...]  # the output for one image: [C, H, W], or [N] for a dense layer
    parameters: int
    kernel: int = 1  # a conv's or pool's window, stride and padding (square); 1, 1, 0 otherwise
    stride: int = 1
    padding: int = 0
    field: int = 28  # the receptive field's side in input pixels; a dense unit sees all 28

    @property
    def label(self) -> str:
        return f"{self.name}: {' x '.join(map(str, self.shape))}"


def layer_facts(model: nn.Module) -> dict[str, LayerFacts]:
    """Every layer but dropout, in forward order (the zoo defines its layers in that order)."""
    return _facts(type(model))


@functools.cache
@torch.no_grad()
def _facts(architecture: type) -> dict[str, LayerFacts]:
    """An architecture's facts, read once off one pass of a blank image through a fresh copy:
    hooks on a served model would be added while other threads run it, on every click. The
    receptive field grows by (k - 1) * jump at each window."""
    model, shapes = architecture().eval(), {}
    layers = [(name, m) for name, m in model.named_children() if not isinstance(m, nn.Dropout)]
    for name, m in layers:
        m.register_forward_hook(lambda mod, i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
    model(torch.zeros(1, 1, 28, 28))
    facts, field, jump = {}, 1, 1
    for name, m in layers:
        window = {}
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            k, s, p = (v if isinstance(v, int) else v[0] for v in (m.kernel_size, m.stride, m.padding))
            field, jump, window = field + (k - 1) * jump, jump * s, dict(kernel=k, stride=s, padding=p)
        elif isinstance(m, nn.Linear):
            field = 28
        facts[name] = LayerFacts(name, shapes[name], count_parameters(m), **window, field=field)
    return facts
