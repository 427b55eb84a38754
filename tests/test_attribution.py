import torch
import torchvision
from torch import nn

from neuronlabel import assert_no_hooks, label_model
from neuronlabel.attribution import explain, unit_attributions, unit_contributions
from neuronlabel.captioner import Captioner, CaptionerConfig


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 4, 3, stride=2, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()


def test_neuron_gradient_matches_autograd():
    net, x = small_net(), torch.rand(3, 3, 12, 12)
    got = unit_attributions(net, "2", 1, x)
    y = x.clone().requires_grad_(True)
    net[:3](y)[:, 1].amax(dim=(1, 2)).sum().backward()
    assert torch.allclose(got, y.grad.sum(1), atol=1e-6)
    assert_no_hooks(net)


def test_integrated_gradients_satisfy_completeness():
    net, x = small_net(), torch.rand(2, 3, 12, 12)
    attr = unit_attributions(net, "3", 2, x, method="integrated_gradients", steps=64)
    with torch.no_grad():
        f = lambda z: net[:4](z)[:, 2].amax(dim=(1, 2))
        delta = f(x) - f(torch.zeros_like(x))
    assert torch.allclose(attr.sum(dim=(1, 2)), delta, rtol=0.05, atol=1e-3)


def test_unit_contributions_are_gradient_times_activation():
    net, x = small_net(), torch.rand(1, 3, 12, 12)
    scores, target = unit_contributions(net, "3", x, target=1)
    acts = net[:4](x)
    acts.retain_grad()
    net[4:](acts)[0, 1].backward()
    assert target == 1
    assert torch.allclose(scores, (acts.grad * acts).sum(dim=(2, 3))[0].detach(), atol=1e-6)


def test_label_model_attributions_and_explain_in_report(tmp_path):
    net = torchvision.models.resnet18().eval()
    images = torch.rand(8, 3, 48, 48)
    captioner = Captioner(CaptionerConfig(embedding_size=8, hidden_size=16, attention_hidden_size=16, max_length=3),
                          vocab=["red", "dog", "faces"])
    report = label_model(net, ["layer3"], images=images, k=3, captioner=captioner, progress=False, attributions=2)
    assert report["layer3:0"].attributions.shape == (3, 128, 128)
    assert report["layer3:5"].attributions is None
    entry = report.explain(images[0], layer="layer3", top=4, image_id=0)
    scores = [s for _, _, s in entry["contributions"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 4
    assert entry["contributions"][0][1] == report[entry["contributions"][0][0]].label
    html = report.to_html(tmp_path / "r.html").read_text()
    assert "layer3:0" in html
    assert_no_hooks(net)
