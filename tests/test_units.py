import pytest
import torchvision

from neuronlabel import UnitRef
from neuronlabel.errors import InputError, UnknownLayerError
from neuronlabel.units import resolve_layers


NET = torchvision.models.resnet18()


def test_unit_ref_parses_and_prints():
    ref = UnitRef.parse("layer4.1.conv2:37")
    assert (ref.layer, ref.channel, str(ref)) == ("layer4.1.conv2", 37, "layer4.1.conv2:37")
    with pytest.raises(AttributeError):
        ref.channel = 3
    assert UnitRef.parse(ref) is ref


@pytest.mark.parametrize("bad", ["layer4", "layer4:x", ":3", "layer4:-1", 12])
def test_bad_unit_strings_name_the_form(bad):
    with pytest.raises(InputError, match="layer"):
        UnitRef.parse(bad)


def test_names_globs_and_predicates():
    assert resolve_layers(NET, "layer4") == ["layer4"]
    assert resolve_layers(NET, ["layer1.*.conv1"]) == ["layer1.0.conv1", "layer1.1.conv1"]
    assert resolve_layers(NET, "layer1.**.conv1") == ["layer1.0.conv1", "layer1.1.conv1"]
    assert resolve_layers(NET, lambda name, m: name.endswith("downsample.0")) == [
        "layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"]
    assert resolve_layers(NET, ["layer2", "layer1", "layer2"]) == ["layer1", "layer2"]


def test_unknown_names_suggest_the_closest():
    with pytest.raises(UnknownLayerError, match="'layer4'") as err:
        resolve_layers(NET, ["layer4", "layr4"])
    assert isinstance(err.value, KeyError)
    with pytest.raises(UnknownLayerError, match="matched no module"):
        resolve_layers(NET, "blocks.*")
    with pytest.raises(InputError, match="no layers"):
        resolve_layers(NET, [])
