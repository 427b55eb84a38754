import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from neuronlabel import probe
from neuronlabel.errors import ProbeSourceError
from neuronlabel.sources import FolderSource, as_source, data_config, load_rgb, transform_from_config

CFG = {"input_size": (3, 32, 32), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "crop_pct": 1.0}


def write(path, arr, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    write(tmp_path / "cats" / "a.png", rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    write(tmp_path / "cats" / "deep" / "b.jpg", rng.integers(0, 255, (60, 40, 3), dtype=np.uint8))
    write(tmp_path / "dogs" / "gray.png", rng.integers(0, 255, (33, 33), dtype=np.uint8))
    write(tmp_path / "dogs" / "rgba.png", rng.integers(0, 255, (33, 33, 4), dtype=np.uint8))
    Image.fromarray(rng.integers(0, 65535, (36, 36), dtype=np.uint16)).save(tmp_path / "sixteen.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "dogs" / "empty.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_folder_is_recursive_sorted_and_skips_corrupt_files_with_one_warning(folder):
    with pytest.warns(UserWarning, match="skipped 2 unreadable") as record:
        src = FolderSource(folder, transform_from_config(CFG))
    assert len(record) == 1
    assert [p.name for p in src.files] == ["a.png", "b.jpg", "gray.png", "rgba.png", "sixteen.png"]
    for i in range(len(src)):
        x, shown = src[i], src.display(i)
        assert x.shape == shown.shape == (3, 32, 32)
        assert torch.allclose(x, (shown - 0.5) / 0.25, atol=1e-6)
        assert 0 <= float(shown.min()) and float(shown.max()) <= 1


def test_sixteen_bit_and_rgba_images_are_read_faithfully(tmp_path):
    arr = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "deep.png")
    im = np.asarray(load_rgb(tmp_path / "deep.png"))
    assert im.shape == (64, 64, 3) and im.min() == 0 and im.max() == 255 and len(np.unique(im)) > 200
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[:2, :, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "t.png")
    out = np.asarray(load_rgb(tmp_path / "t.png"))
    assert out[0, 0].tolist() == [200, 0, 0] and out[3, 3].tolist() == [255, 255, 255]


def test_missing_empty_and_all_corrupt_folders_fail_clearly(tmp_path):
    with pytest.raises(ProbeSourceError, match="does not exist"):
        as_source(tmp_path / "nope")
    with pytest.raises(ProbeSourceError, match="no image files"):
        as_source(tmp_path)
    (tmp_path / "x.jpg").write_bytes(b"junk")
    with pytest.warns(UserWarning), pytest.raises(ProbeSourceError, match="none of the 1 image files"):
        as_source(tmp_path)


def test_probe_on_a_folder_uses_the_network_preprocessing(folder):
    net = torchvision.models.resnet18().eval()
    net.neuronlabel_data_config = CFG
    with pytest.warns(UserWarning):
        result = probe(net, folder, ["layer4"], k=3, progress=False)
    assert result.num_images == 5 and result.image_size == (32, 32)
    assert result.exemplar_images("layer4", 0).shape == (3, 3, 32, 32)


class PilDataset(torch.utils.data.Dataset):
    def __init__(self):
        rng = np.random.default_rng(1)
        self.items = [(Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)), i) for i in range(6)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_dataset_of_pil_tuples_and_tensor_sources():
    src = as_source(PilDataset(), transform=transform_from_config(CFG))
    assert src[2].shape == (3, 32, 32) and float(src.display(2).max()) <= 1
    tensor = as_source(torch.rand(3, 3, 8, 8))
    assert torch.equal(tensor.display(1), tensor[1])
    with pytest.raises(ProbeSourceError, match=r"\[N, C, H, W\]"):
        as_source(torch.rand(3, 8, 8))
    with pytest.raises(ProbeSourceError, match="cannot read probe images"):
        as_source(42)


def test_data_configs_come_from_the_model():
    import timm

    assert data_config(timm.create_model("tf_efficientnet_lite0"))["mean"] == (0.5, 0.5, 0.5)
    assert data_config(torchvision.models.vit_b_16())["input_size"] == (3, 224, 224)
    assert data_config(torchvision.models.resnet18())["std"] == (0.229, 0.224, 0.225)


def test_demo_photos_are_real_and_many():
    src = as_source(None)
    assert len(src) >= 60
    shown = src.display(0)
    assert shown.shape == (3, 224, 224) and float(shown.std()) > 0.05


def test_demo_photos_hold_no_photo_twice():
    from neuronlabel.demo import demo_photos

    photos = demo_photos()
    thumbs = [np.asarray(im.convert("L").resize((32, 32)), dtype=np.float32) for _, im in photos]
    for i in range(len(thumbs)):
        for j in range(i):
            assert np.abs(thumbs[i] - thumbs[j]).mean() >= 4.0, (photos[i][0], photos[j][0])
    assert "chelsea" in [n for n, _ in photos] and "cat" not in [n for n, _ in photos]
