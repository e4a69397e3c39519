import os
from pathlib import Path

import numpy as np
import pytest
import torch

from digitpad import data, pendigits
from digitpad.weights import load_model

torch.set_num_threads(min(2, torch.get_num_threads()))


def require(path: Path, what: str) -> Path:
    """Skip with a reason when test data is missing, but fail under CI, where it must be there."""
    if not path.exists():
        message = f"{what} not found at {path}"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must provide it")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    root = data.default_data_dir()
    require(root / "MNIST" / "raw" / "t10k-images-idx3-ubyte", "MNIST (set DIGITPAD_DATA)")
    return root


@pytest.fixture(scope="session")
def mnist_test(mnist_root):
    return data.load_mnist(mnist_root, train=False)


@pytest.fixture(scope="session")
def drawings():
    return pendigits.load(require(pendigits.default_path(), "pen-drawn digits"))


@pytest.fixture(scope="session")
def model():
    return load_model()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def server():
    """The real console entry point (`python -m digitpad`) on a free loopback port."""
    from digitpad.clients import start_app

    proc, url = start_app()
    proc.url = url
    yield proc
    proc.terminate()
    proc.wait(10)
