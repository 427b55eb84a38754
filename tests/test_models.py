import json

import pytest
import torch

from neuronlabel import models
from neuronlabel.errors import InputError
from neuronlabel.sources import FolderSource


@pytest.mark.parametrize("name", ["efficientnet_lite0", "mobilenet_v2"])
def test_bundled_models_load_offline_with_their_preprocessing(name):
    net, preprocess = models.load(name)
    assert not net.training
    with torch.inference_mode():
        out = net(torch.zeros(1, 3, 224, 224))
    assert out.shape == (1, 1000)


def test_unknown_short_name_lists_the_known_ones():
    with pytest.raises(InputError, match="efficientnet_lite0"):
        models.load("efficientnet_lite")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet_lite0", "mobilenet_v2"])
def test_imagenet_sample_top1_at_least_80_percent(name, shared_data):
    net, preprocess = models.load(name)
    folder = FolderSource(shared_data / "imagenet-sample-256", preprocess)
    labels = torch.arange(len(folder))
    assert len(folder) == 1000
    loader = torch.utils.data.DataLoader(folder, batch_size=50)
    correct = 0
    with torch.inference_mode():
        for i, x in enumerate(loader):
            correct += int((net(x).argmax(1) == labels[i * 50:(i + 1) * 50]).sum())
    print(f"{name}: top-1 {correct / 10:.1f}% on the 1000-image ImageNet sample")
    assert correct >= 800
