"""The concept inventory: names people use, plurals, the WordNet tree, terms and lookups."""

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torchvision

from neuronlabel.concepts import GENERIC, Inventory, UnknownConceptError
from neuronlabel.concepts.inventory import DATA
from neuronlabel.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="module")
def inv():
    return Inventory.load()


def test_imagenet_order_is_torchvisions(inv):
    categories = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]
    assert [inv.name(inv.imagenet_wnid(i)) for i in range(1000)] == list(categories)
    assert inv.imagenet_wnid(0) == "n01440764" and inv.imagenet_index("n01440764") == 0
    assert all(inv.concept(w).everyday for w in inv.imagenet_classes)


def test_everyday_names_not_wordnet_first_lemmas(inv):
    crab = inv.imagenet_wnid(118)
    assert inv.name(inv.ancestors(crab)[0], plural=True) == "crabs"
    assert inv.name("n03051540", plural=True) == "clothes"              # not "habiliments"
    assert inv.name("n07705711", plural=True) == "fruits and vegetables"  # not "garden trucks"
    assert inv.name("n07707451", plural=True) == "vegetables"
    assert inv.name("n01976146", plural=True) == "crabs and lobsters"   # not "decapod crustaceans"
    assert inv.name("n01661091", plural=True) == "reptiles"             # not "reptilians"
    assert inv.name("n01698434") == "alligator"                         # WordNet's first lemma beats "gator"


def test_plurals(inv):
    by_first = {inv.synset_lemmas(w)[0]: w for w in inv.ids("object") if ":" not in w}
    assert inv.name(by_first["fish"], plural=True) == "fish"
    assert inv.name(by_first["furniture"], plural=True) == "furniture"
    assert inv.name(by_first["dog"], plural=True) == "dogs"
    assert inv.name(by_first["box"], plural=True) == "boxes"
    assert inv.name(by_first["knife"], plural=True) == "knives"
    assert inv.name(by_first["glass"], plural=True) == "glasses"
    assert inv.name(by_first["place of business"], plural=True) == "businesses"
    assert inv.name(by_first["durables"], plural=True) == "durable goods"
    assert inv.name(inv.imagenet_wnid(447), plural=True) == "binoculars"
    assert inv.name("coco:person", plural=True) == "people"


def test_common_internal_nodes_use_common_words(inv):
    wordfreq = pytest.importorskip("wordfreq")
    rare = []
    for w in inv.ids("object"):
        if ":" in w or inv.imagenet_index(w) is not None or len(inv.classes_under(w)) < 5:
            continue
        words = [x for x in inv.name(w, plural=True).replace("-", " ").split() if x not in ("and", "or", "of")]
        if min(wordfreq.zipf_frequency(x, "en") for x in words) < 2.0:
            rare.append(inv.name(w, plural=True))
    assert rare == []


def test_tree(inv):
    dog = "n02084071"
    assert len(inv.classes_under(dog)) == 118
    assert inv.classes_under(inv.imagenet_wnid(207)) == [207]
    assert dog in inv.ancestors(inv.imagenet_wnid(207))
    nodes, member = inv.imagenet_tree()
    assert member[nodes.index("n00001740")].all()                       # entity holds every class
    assert member.sum(0).min() >= 5                                    # every class sits under a chain
    assert inv.is_generic("n00015388") and inv.is_generic("n00021939") and not inv.is_generic(dog)
    assert "animal" in GENERIC


def test_kinds_and_terms(inv):
    assert {k: len(inv.ids(k)) for k in ("texture", "colour", "scene", "body", "text")} == \
        {"texture": 22, "colour": 11, "scene": 7, "body": 5, "text": 1}
    assert len(inv.ids("object")) > 1900
    assert {"stripes", "striped", "banded"} <= set(inv.terms("texture:striped"))
    assert {"faces", "facial"} <= set(inv.terms("body:face"))
    assert "grey" in inv.terms("colour:gray")
    assert "wear" not in inv.terms("n03051540")        # "wear" is mostly a verb, clothing its 2nd noun sense
    assert "machine" not in inv.terms("n02958343")     # a car is "machine"'s 6th sense, after the artifact
    assert "clothe" not in inv.terms("n03051540")
    assert inv.parents("coco:tv") == ("n04405907",) and "televisions" in inv.terms("coco:tv")


def test_find(inv):
    assert inv.find("") == []
    found = inv.find("Red and white STRIPES on dog faces")
    assert {"colour:red", "colour:white", "texture:striped", "n02084071", "body:face"} <= set(found)
    assert "body:face" not in inv.find("the surface of a typeface")
    assert [inv.imagenet_index(c) for c in inv.find("sports-car wheels")][:1] == [817]


def test_errors(inv):
    with pytest.raises(UnknownConceptError, match="colour:red"):
        inv.concept("colour:rde")
    with pytest.raises(KeyError):
        inv.name("n99999999")
    with pytest.raises(InputError, match="0..999"):
        inv.imagenet_wnid(1000)
    with pytest.raises(InputError, match="kinds"):
        inv.ids("shape")


def test_data_file_is_small():
    assert DATA.stat().st_size < 1_000_000


@pytest.mark.slow
@pytest.mark.shared_data
def test_build_script_reproduces_the_data_file(tmp_path):
    if not Path("/usr/share/wordnet/data.noun").is_file() or not SHARED.is_dir():
        pytest.skip("needs Debian's wordnet-base and ../shared/data")
    pytest.importorskip("wordfreq")
    out = tmp_path / "inventory.json.gz"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_concepts.py"), "--data", str(SHARED),
                    "--out", str(out)], check=True, capture_output=True)
    assert json.loads(gzip.open(out).read()) == json.loads(gzip.open(DATA).read())
