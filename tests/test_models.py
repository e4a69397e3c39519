import pytest
import torch
import torch.nn.functional as F

from digitpad import data
from digitpad.models import MODELS, build_model, count_parameters
from digitpad.render import architecture
from digitpad.weights import load_model
from scripts.bench import WriteupDigitCNN

# Parameter counts from each write-up's layer list (seeds.md).
PARAMS = {"digitcnn": 206_922, "simplecnn": 421_642, "bncnn": 582_218, "widekernel": 1_103_539}


@pytest.mark.parametrize("name", MODELS)
def test_parameter_count_matches_write_up(name):
    assert count_parameters(build_model(name)) == PARAMS[name]


@pytest.mark.parametrize("name", MODELS)
def test_logits_for_a_batch(name):
    assert build_model(name)(torch.zeros(5, 1, 28, 28)).shape == (5, 10)


def test_digitcnn_shape_table_and_receptive_fields():
    rows = {r[0]: r[1:] for r in architecture(build_model("digitcnn").eval())}
    assert rows["conv1"] == ["16 x 28 x 28", 160, "3 x 3"]
    assert rows["pool1"] == ["16 x 14 x 14", 0, "4 x 4"]
    assert rows["conv2"] == ["32 x 14 x 14", 4640, "8 x 8"]    # S1: a conv2 unit sees 8x8
    assert rows["pool2"] == ["32 x 7 x 7", 0, "10 x 10"]       # ... and 10x10 after pool2
    assert rows["fc1"][1] == 200_832
    assert rows["total"][1] == 206_922


def test_pooling_before_relu_trains_the_same_function_as_s1(mnist_test):
    """digitpad moves ReLU after max-pooling for speed; the logits and gradients stay S1's."""
    images, labels = mnist_test
    x, y = data.normalize(images[:500]), labels[:500]
    shipped = load_model("digitcnn").state_dict()
    ours, writeup = build_model("digitcnn"), WriteupDigitCNN()
    logits = []
    for model in (ours, writeup):
        model.load_state_dict(shipped)
        torch.manual_seed(0)  # the same dropout mask for both
        out = model.train()(x)
        F.cross_entropy(out, y).backward()
        logits.append(out)
    assert torch.equal(logits[0], logits[1])
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, writeup.get_parameter(name).grad, msg=name)


def test_widekernel_init_follows_s4():
    m = build_model("widekernel")
    assert m.conv1.weight.shape == (25, 1, 12, 12)
    assert abs(m.fc1.weight.std().item() - 0.05) < 0.002
    assert torch.all(m.fc1.bias == 0.1)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="choose one of"):
        build_model("resnet")
