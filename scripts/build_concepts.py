"""Build neuronlabel/concepts/inventory.json.gz: the 1000 ImageNet classes, their WordNet ancestors
and the COCO objects, each with the everyday name people use for it.

Rebuild (Debian/Ubuntu):

    apt-get install -y wordnet-base                   # WordNet 3.0 in /usr/share/wordnet
    pip install wordfreq                              # word frequencies, offline
    python scripts/build_concepts.py --data ../shared/data

``--data`` is optional: with it, word use in MILANNOTATIONS (how people describe neurons) and
in the COCO captions (how people describe photos) also counts when a name is chosen; only
counts of words are used, nothing of those files goes into the package.

How a name is chosen, per WordNet node (synset):

* ImageNet classes keep torchvision's category name ("tench", "Dungeness crab").
* Other nodes: among the synset's lemmas (not Latin names, at most three words), the highest
  ``zipf + 0.6 * log10(1 + uses) - sense penalty - phrase penalty`` where ``zipf`` is wordfreq's
  frequency of the word (a phrase: of its rarest word), ``uses`` the phrase's count in the
  descriptions and captions, the sense penalty says how seldom the word means *this* synset
  (WordNet's SemCor sense counts: "wear" means clothing in 0 of 107 tagged uses, "produce" is
  mostly a verb), and a phrase never used in the texts costs 1.5 ("garden truck").
* :data:`NAMES` overrides the few nodes whose everyday word is no lemma of the synset
  ("clothes" for clothing, "vegetables" for produce, "crabs and lobsters" for decapods).
* Plurals: regular English plurals (neuronlabel.ci.inflection.plural); a word whose plural
  nobody uses (wordfreq: plural >= 1.5 zipf rarer than a common singular, "furnitures",
  or never written while the singular is, "guacamoles") is a mass noun and keeps
  its singular; names already plural ("binoculars") stay.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import os
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDNET = Path("/usr/share/wordnet")
OUT = ROOT / "neuronlabel" / "concepts" / "inventory.json.gz"

# everyday names where no lemma of the synset is the word people use, or the frequency rule picks a
# worse one; keyed by the synset's first WordNet lemma: first lemma -> (singular, plural)
NAMES = {
    "clothing": ("clothing", "clothes"), "apparel": ("clothing", "clothes"), "attire": ("clothing", "clothes"),
    "produce": ("produce", "fruits and vegetables"), "decapod crustacean": ("crab or lobster", "crabs and lobsters"),
    "lepidopterous insect": ("butterfly or moth", "butterflies and moths"), "placental": ("mammal", "mammals"),
    "organism": ("living thing", "living things"), "whole": ("object", "objects"),
    "instrumentality": ("equipment", "equipment"), "commodity": ("goods", "goods"), "matter": ("material", "materials"),
    "conveyance": ("vehicle", "vehicles"), "nutriment": ("food", "food"), "fastener": ("fastener", "fasteners"),
    "mercantile establishment": ("shop", "shops"), "gallinaceous bird": ("fowl", "fowl"),
    "game": ("game animal", "game animals"), "musteline mammal": ("weasel", "weasels"),
    "starches": ("starchy food", "starchy foods"), "timepiece": ("timepiece", "clocks and watches"),
    "cetacean": ("whale", "whales"), "cattle": ("cow", "cows"), "natural elevation": ("hill", "hills"),
    "dipterous insect": ("fly", "flies"), "durables": ("durable goods", "durable goods"),
    "geological formation": ("landform", "landforms"), "anseriform bird": ("waterfowl", "waterfowl"),
    "saurian": ("lizard", "lizards"), "colubrid snake": ("snake", "snakes"), "chelonian": ("turtle", "turtles"),
    "anapsid": ("turtle", "turtles"), "elasmobranch": ("shark or ray", "sharks and rays"),
    "cartilaginous fish": ("shark or ray", "sharks and rays"), "gastropod": ("snail", "snails"),
    "arachnid": ("spider", "spiders"), "leporid": ("rabbit", "rabbits"), "lagomorph": ("rabbit", "rabbits"),
    "phasianid": ("pheasant", "pheasants"), "metatherian": ("marsupial", "marsupials"),
    "coelenterate": ("jellyfish or coral", "jellyfish and corals"),
    "echinoderm": ("starfish or sea urchin", "starfish and sea urchins"), "equine": ("horse", "horses"),
    "proboscidean": ("elephant", "elephants"), "procyonid": ("raccoon", "raccoons"),
    "viverrine": ("mongoose", "mongooses"), "prototherian": ("egg-laying mammal", "egg-laying mammals"),
    "monotreme": ("egg-laying mammal", "egg-laying mammals"), "odonate": ("dragonfly", "dragonflies"),
    "hymenopterous insect": ("bee or ant", "bees and ants"), "orthopterous insect": ("grasshopper", "grasshoppers"),
    "ambystomid": ("salamander", "salamanders"), "cyprinid": ("carp", "carp"), "cypriniform fish": ("carp", "carp"),
    "teleost fish": ("fish", "fish"), "bony fish": ("fish", "fish"), "aquatic vertebrate": ("fish", "fish"),
    "percoid fish": ("perch", "perch"), "scorpaenoid": ("scorpionfish", "scorpionfish"),
    "scorpaenid": ("scorpionfish", "scorpionfish"), "plectognath": ("pufferfish", "pufferfish"),
    "ganoid": ("sturgeon or gar", "sturgeons and gars"), "salmonid": ("salmon", "salmon"),
    "iguanid": ("iguana", "iguanas"), "agamid": ("agama", "agamas"), "elapid": ("cobra", "cobras"),
    "crocodilian reptile": ("crocodile", "crocodiles"),
    "archosaur": ("crocodile or dinosaur", "crocodiles and dinosaurs"),
    "ornithischian": ("dinosaur", "dinosaurs"), "ceratopsian": ("horned dinosaur", "horned dinosaurs"),
    "piciform bird": ("woodpecker", "woodpeckers"), "coraciiform bird": ("kingfisher", "kingfishers"),
    "cuculiform bird": ("cuckoo", "cuckoos"), "apodiform bird": ("hummingbird", "hummingbirds"),
    "corvine bird": ("crow", "crows"), "pelecaniform seabird": ("pelican", "pelicans"),
    "sphenisciform seabird": ("penguin", "penguins"), "passerine": ("songbird", "songbirds"),
    "oscine": ("songbird", "songbirds"), "ratite": ("flightless bird", "flightless birds"),
    "acarine": ("tick or mite", "ticks and mites"), "phasmid": ("stick insect", "stick insects"),
    "neuropteron": ("lacewing", "lacewings"),
    "dictyopterous insect": ("cockroach or mantis", "cockroaches and mantises"),
    "homopterous insect": ("cicada", "cicadas"), "danaid": ("monarch butterfly", "monarch butterflies"),
    "pierid": ("white butterfly", "white butterflies"), "nymphalid": ("butterfly", "butterflies"),
    "lamellicorn beetle": ("beetle", "beetles"), "scarabaeid beetle": ("scarab beetle", "scarab beetles"),
    "anthozoan": ("sea anemone or coral", "sea anemones and corals"),
    "malacostracan crustacean": ("crustacean", "crustaceans"),
    "edentate": ("sloth or armadillo", "sloths and armadillos"),
    "odd-toed ungulate": ("horse or rhino", "horses and rhinos"),
    "even-toed ungulate": ("hoofed animal", "hoofed animals"), "ungulate": ("hoofed animal", "hoofed animals"),
    "bovid": ("cattle or antelope", "cattle and antelopes"), "pinniped mammal": ("seal", "seals"),
    "sea cow": ("sea cow", "sea cows"), "chordate": ("animal", "animals"), "vertebrate": ("animal", "animals"),
    "diapsid": ("reptile", "reptiles"), "reptile": ("reptile", "reptiles"),
    "canine": ("dog or wolf", "dogs and wolves"), "feline": ("cat", "cats"), "domestic cat": ("cat", "cats"),
    "dog": ("dog", "dogs"), "cat": ("cat", "cats"), "person": ("person", "people"),
    "artifact": ("object", "objects"), "physical entity": ("thing", "things"), "entity": ("thing", "things"),
    "object": ("object", "objects"), "foodstuff": ("food", "food"), "food": ("food", "food"),
    "beverage": ("drink", "drinks"), "overgarment": ("coat", "coats"), "headdress": ("headwear", "headwear"),
    "plaything": ("toy", "toys"), "dwelling": ("house", "houses"),
    "alligator": ("alligator", "alligators"), "firearm": ("gun", "guns"), "cutter": ("cutting tool", "cutting tools"),
    "bedclothes": ("bedding", "bedding"), "hosiery": ("stockings", "stockings"),
    "control": ("controller", "controllers"), "apparatus": ("machine", "machines"),
    "autoloader": ("automatic gun", "automatic guns"), "airfoil": ("wing", "wings"), "design": ("pattern", "patterns"),
    "chest of drawers": ("dresser", "dressers"), "place of worship": ("church", "churches"),
    "gymnastic apparatus": ("gym equipment", "gym equipment"), "drug of abuse": ("drug", "drugs"),
    "blind": ("screen", "screens"), "spermatophyte": ("plant", "plants"),
    "angiosperm": ("flowering plant", "flowering plants"), "vascular plant": ("plant", "plants"),
    "fungus": ("mushroom", "mushrooms"), "flavorer": ("seasoning", "seasonings"), "crockery": ("dishes", "dishes"),
    "handcart": ("cart", "carts"), "gown": ("robe", "robes"), "plate": ("shell", "shells"),
    "woman's clothing": ("women's clothing", "women's clothing"), "cleaning implement": ("cleaning tool",
                                                                                         "cleaning tools"),
    "data input device": ("input device", "input devices"), "heavier-than-air craft": ("aircraft", "aircraft"),
    "lighter-than-air craft": ("balloon", "balloons"),
    "bowed stringed instrument": ("string instrument", "string instruments"),
    "beating-reed instrument": ("reed instrument", "reed instruments"),
    "double-reed instrument": ("reed instrument", "reed instruments"),
    "defensive structure": ("fortification", "fortifications"), "memorial": ("monument", "monuments"),
    "obstruction": ("barrier", "barriers"), "place of business": ("business", "businesses"),
    "self-propelled vehicle": ("motor vehicle", "motor vehicles"), "audio system": ("sound system", "sound systems"),
    "brake system": ("brake", "brakes"), "phalanger": ("possum", "possums"), "titmouse": ("tit", "tits"),
    "true frog": ("frog", "frogs"), "teiid lizard": ("lizard", "lizards"), "lacertid lizard": ("lizard", "lizards"),
    "anguid lizard": ("lizard", "lizards"), "cephalopod": ("octopus or squid", "octopuses and squid"),
    "stony coral": ("coral", "corals"), "pelagic bird": ("ocean bird", "ocean birds"),
    "tree squirrel": ("squirrel", "squirrels"), "cavy": ("guinea pig", "guinea pigs"),
    "Old World buffalo": ("buffalo", "buffalo"), "source of illumination": ("light", "lights"),
    "aquatic bird": ("water bird", "water birds"), "abstraction": ("abstraction", "abstractions"),
    "glass": ("glass", "glasses"),
}

COCO = [("person", "person"), ("bicycle", "vehicle"), ("car", "vehicle"), ("motorcycle", "vehicle"),
        ("airplane", "vehicle"), ("bus", "vehicle"), ("train", "vehicle"), ("truck", "vehicle"), ("boat", "vehicle"),
        ("traffic light", "outdoor"), ("fire hydrant", "outdoor"), ("stop sign", "outdoor"),
        ("parking meter", "outdoor"), ("bench", "outdoor"), ("bird", "animal"), ("cat", "animal"), ("dog", "animal"),
        ("horse", "animal"), ("sheep", "animal"), ("cow", "animal"), ("elephant", "animal"), ("bear", "animal"),
        ("zebra", "animal"), ("giraffe", "animal"), ("backpack", "accessory"), ("umbrella", "accessory"),
        ("handbag", "accessory"), ("tie", "accessory"), ("suitcase", "accessory"), ("frisbee", "sports"),
        ("skis", "sports"), ("snowboard", "sports"), ("sports ball", "sports"), ("kite", "sports"),
        ("baseball bat", "sports"), ("baseball glove", "sports"), ("skateboard", "sports"), ("surfboard", "sports"),
        ("tennis racket", "sports"), ("bottle", "kitchen"), ("wine glass", "kitchen"), ("cup", "kitchen"),
        ("fork", "kitchen"), ("knife", "kitchen"), ("spoon", "kitchen"), ("bowl", "kitchen"), ("banana", "food"),
        ("apple", "food"), ("sandwich", "food"), ("orange", "food"), ("broccoli", "food"), ("carrot", "food"),
        ("hot dog", "food"), ("pizza", "food"), ("donut", "food"), ("cake", "food"), ("chair", "furniture"),
        ("couch", "furniture"), ("potted plant", "furniture"), ("bed", "furniture"), ("dining table", "furniture"),
        ("toilet", "furniture"), ("tv", "electronic"), ("laptop", "electronic"), ("mouse", "electronic"),
        ("remote", "electronic"), ("keyboard", "electronic"), ("cell phone", "electronic"),
        ("microwave", "appliance"), ("oven", "appliance"), ("toaster", "appliance"), ("sink", "appliance"),
        ("refrigerator", "appliance"), ("book", "indoor"), ("clock", "indoor"), ("vase", "indoor"),
        ("scissors", "indoor"), ("teddy bear", "indoor"), ("hair drier", "indoor"), ("toothbrush", "indoor")]

# COCO names -> (WordNet lemma, noun sense number) of the synset they mean, where that is not sense 1 of
# the name itself (checked by hand against the glosses)
COCO_SENSE = {
    "fire hydrant": ("fireplug", 1), "stop sign": ("street sign", 1), "tie": ("necktie", 1), "skis": ("ski", 1),
    "sports ball": ("ball", 1), "kite": ("kite", 3), "wine glass": ("wineglass", 1), "banana": ("banana", 2),
    "broccoli": ("broccoli", 2), "carrot": ("carrot", 3), "hot dog": ("hot dog", 2), "donut": ("doughnut", 2),
    "cake": ("cake", 3), "couch": ("sofa", 1), "potted plant": ("pot plant", 1), "toilet": ("toilet", 2),
    "tv": ("television receiver", 1), "mouse": ("computer mouse", 1), "remote": ("remote control", 1),
    "keyboard": ("computer keyboard", 1), "cell phone": ("cellular telephone", 1), "microwave": ("microwave oven", 1),
    "toaster": ("toaster", 2), "book": ("book", 2), "teddy bear": ("teddy", 1), "hair drier": ("hand blower", 1),
}

PLURALIA = {"binoculars", "sunglasses", "swimming trunks", "parallel bars", "jeans", "trousers", "pants",
            "scissors", "pajamas", "shorts", "tights", "goggles", "pliers", "tongs", "clothes", "skis",
            "bleachers", "stairs", "goods", "consumer goods", "durable goods", "white goods", "baked goods"}
IRREGULAR = {"scarf": "scarves", "wharf": "wharves", "hoof": "hooves", "dwarf": "dwarfs"}
# WordNet lexicographer files of things one can see: body, animal, artifact, food, object, person, plant
PHYSICAL = {5, 6, 8, 13, 17, 18, 20}
WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")


def parse_wordnet(root: Path) -> tuple[dict, dict, Counter]:
    """``synsets[wnid] = (lemmas, parents, gloss)``, ``senses[lemma] = [wnid, ...]`` and SemCor counts."""
    synsets = {}
    for line in (root / "data.noun").open(encoding="latin-1"):
        if line.startswith("  "):
            continue
        head, _, gloss = line.partition(" | ")
        f = head.split()
        offset, n_words = f[0], int(f[3], 16)
        lemmas = [f[4 + 2 * i].replace("_", " ") for i in range(n_words)]
        lemmas = [re.sub(r"\((a|p|ip)\)$", "", w) for w in lemmas]
        i = 4 + 2 * n_words
        n_ptr = int(f[i])
        parents = []
        for j in range(n_ptr):
            sym, target, pos = f[i + 1 + 4 * j: i + 4 + 4 * j]
            if sym in ("@", "@i") and pos == "n":
                parents.append("n" + target)
        synsets["n" + offset] = (lemmas, parents, gloss.strip().split(";")[0].strip(), int(f[1]))
    senses = {}
    for line in (root / "index.noun").open(encoding="latin-1"):
        if line.startswith("  "):
            continue
        f = line.split()
        n_syn, n_ptr = int(f[2]), int(f[3])
        senses[f[0].replace("_", " ")] = ["n" + o for o in f[-n_syn:]]
        del n_ptr
    counts = Counter()
    for line in (root / "cntlist.rev").open(encoding="latin-1"):
        f = line.split()
        if len(f) != 3:
            continue
        lemma, _, rest = f[0].partition("%")
        pos = rest.split(":")[0]
        counts[(lemma.replace("_", " "), pos, int(f[1]))] += int(f[2])
    return synsets, senses, counts


def text_counts(data: "Path | None") -> Counter:
    """Counts of 1-, 2- and 3-word phrases in MILANNOTATIONS and the COCO captions (empty without ``data``)."""
    counts = Counter()
    if data is None:
        return counts
    texts = []
    for name in ("resnet152_imagenet.csv",):
        path = data / "milannotations" / name
        if path.is_file():
            with path.open(newline="") as f:
                texts += [r["summary"] for r in csv.DictReader(f)]
    for path in [data / "coco-captions" / "captions_val2017.json",
                 data / "coco-mini" / "annotations" / "captions_train2017.json"]:
        if path.is_file():
            texts += [a["caption"] for a in json.loads(path.read_text())["annotations"]]
    for text in texts:
        words = WORD.findall(text.lower())
        for n in (1, 2, 3):
            for i in range(len(words) - n + 1):
                counts[" ".join(words[i:i + n])] += 1
    print(f"counted phrases in {len(texts)} descriptions and captions", file=sys.stderr)
    return counts


class Namer:
    """Chooses a synset's everyday lemma and its plural (see the module docstring)."""

    def __init__(self, synsets: dict, senses: dict, sense_counts: Counter, uses: Counter):
        from wordfreq import zipf_frequency

        self.synsets = synsets
        self.zipf = lambda w: zipf_frequency(w, "en")
        self.senses, self.sense_counts, self.uses = senses, sense_counts, uses
        self.class_words: set = set()
        self.total = Counter()
        for (lemma, _, _), c in sense_counts.items():
            self.total[lemma] += c

    def used(self, phrase: str) -> int:
        from neuronlabel.ci.inflection import forms

        return sum(self.uses.get(f, 0) for f in forms(phrase.lower()))

    def sense_penalty(self, lemma: str, wnid: str) -> float:
        low = lemma.lower()
        noun = self.senses.get(low, [])
        if wnid not in noun:
            return 0.0
        rank = noun.index(wnid) + 1
        mine = self.sense_counts.get((low, "1", rank), 0)
        return 0.7 * -math.log10((mine + 0.5) / (self.total[low] + 1.0)) + 0.3 * (rank - 1)

    def score(self, lemma: str, wnid: str, first: bool) -> float:
        words = lemma.lower().split()
        uses = self.used(lemma)
        z = min(self.zipf(w) for w in words) - 0.5 * (len(words) - 1)
        if len(words) > 1 and uses == 0:
            z -= 1.5
        return z + 0.6 * math.log10(1 + uses) - self.sense_penalty(lemma, wnid) + (0.7 if first else 0.0)

    def choose(self, lemmas: list, wnid: str) -> str:
        ok = [lem for lem in lemmas if len(lem.split()) <= 3 and not any(c.isdigit() for c in lem)]
        pool = ok or lemmas
        return max(pool, key=lambda lem: (self.score(lem, wnid, lem == lemmas[0]), -pool.index(lem)))

    def plural(self, name: str) -> str:
        from neuronlabel.ci.inflection import _UNCOUNTABLE, looks_plural, plural

        if " of " in name:
            head, _, tail = name.partition(" of ")
            return f"{self.plural(head)} of {tail}"
        head, _, last = name.rpartition(" ")
        prefix = head + " " if head else ""
        low = last.lower()
        if name.lower() in PLURALIA or low in PLURALIA or low in _UNCOUNTABLE:
            return name
        if low.endswith(("fish", "sheep", "deer", "ware", "wear", "gear", "equipment", "furniture", "craft")):
            return name
        regular = IRREGULAR.get(low) or plural(last)
        zs, zp = self.zipf(low), self.zipf(regular.lower())
        if looks_plural(low) and zp == 0 and zs > 0:
            return name
        if zs >= 3.0 and zp < zs - 1.5:
            return name
        if zs >= 2.5 and zp == 0:                   # a plural nobody writes: "guacamole", "broccoli"
            return name
        return prefix + regular

    def names(self, lemma: str, wnid: str) -> bool:
        """A lemma names a synset in a label unless an earlier noun sense of it is a thing one could see
        ("machine" is a car only in sense 6, after the artifact "machine"), or it is mostly a verb and
        this is not its first noun sense ("wear" means clothing in sense 2)."""
        low = lemma.lower()
        found = self.senses.get(low, [])
        if not found or found[0] == wnid or wnid not in found:
            return True
        if any(self.synsets[w][3] in PHYSICAL for w in found[:found.index(wnid)]):
            return False
        verb = sum(c for (lem, pos, _), c in self.sense_counts.items() if lem == low and pos == "2") \
            if low in self.total else 0
        return verb <= self.total[low] - verb

    def everyday(self, name: str) -> bool:
        """Every word of ``name`` is in common use (zipf >= 2.5), or people use the phrase (>= 3 times);
        with ``--data``, also every word is one people used in a description or caption ("carnivores",
        "primates", "implements" are common words nobody in 37,000 descriptions of images wrote), or a
        word of an ImageNet class name ("retrievers": golden retriever)."""
        words = [w for w in re.split(r"[\s-]+", name.lower()) if w not in ("or", "and", "of")]
        if self.uses and any(self.used(w) == 0 and w not in self.class_words for w in words):
            return False
        return min(self.zipf(w) for w in words) >= 2.5 or self.used(name) >= 3

    def singular(self, name: str) -> str:
        """A chosen lemma that is itself a plural ("cows", "two-winged insects") gives its singular."""
        from neuronlabel.ci.inflection import looks_plural, singular

        head, _, last = name.rpartition(" ")
        if name.lower() in PLURALIA or last.lower() in PLURALIA or not looks_plural(last.lower()):
            return name
        one = singular(last)
        return (head + " " + one if head else one) if self.zipf(one.lower()) >= self.zipf(last.lower()) else name


def ancestors_of(wnids, synsets) -> set:
    seen, stack = set(), list(wnids)
    while stack:
        w = stack.pop()
        if w in seen:
            continue
        seen.add(w)
        stack += synsets[w][1]
    return seen


def coco_wnid(name: str, senses: dict) -> "str | None":
    lemma, sense = COCO_SENSE.get(name, (name, 1))
    found = senses.get(lemma, [])
    return found[sense - 1] if len(found) >= sense else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wordnet", type=Path, default=WORDNET, help="folder with WordNet 3.0's data.noun")
    ap.add_argument("--data", type=Path, help="../shared/data, for word use in MILANNOTATIONS and COCO captions")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if not (args.wordnet / "data.noun").is_file():
        ap.error(f"no WordNet at {args.wordnet}: apt-get install -y wordnet-base")
    import torchvision
    from timm.data import ImageNetInfo

    categories = list(torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])
    synsets, senses, sense_counts = parse_wordnet(args.wordnet)
    namer = Namer(synsets, senses, sense_counts, text_counts(args.data))
    namer.class_words = {w for c in categories for w in re.split(r"[\s-]+", c.lower())}
    info = ImageNetInfo()
    imagenet = [info.index_to_label_name(i) for i in range(1000)]
    missing = [w for w in imagenet if w not in synsets]
    if missing:
        ap.error(f"{len(missing)} ImageNet wnids are not WordNet 3.0 noun synsets, e.g. {missing[:3]}")
    keep = ancestors_of(imagenet, synsets)
    coco = []
    for name, supercategory in COCO:
        wnid = coco_wnid(name, senses)
        if wnid is None:
            ap.error(f"COCO {name!r}: no WordNet sense {COCO_SENSE.get(name, (name, 1))}")
        keep |= ancestors_of([wnid], synsets)
        coco.append([name, supercategory, wnid])
    unused = sorted(set(NAMES) - {synsets[w][0][0] for w in keep})
    if unused:
        ap.error(f"NAMES entries that name no kept synset (first lemma): {unused}")
    class_name = dict(zip(imagenet, categories))
    nodes = {}
    for wnid in sorted(keep):
        lemmas, parents, gloss, _ = synsets[wnid]
        if wnid in class_name:
            singular = class_name[wnid]
            plural = "jeans" if singular == "jean" else namer.plural(singular)
        elif lemmas[0] in NAMES:
            singular, plural = NAMES[lemmas[0]]
        else:
            chosen = namer.choose(lemmas, wnid)
            singular = namer.singular(chosen)
            plural = chosen if singular != chosen else namer.plural(chosen)
        everyday = int(wnid in class_name or namer.everyday(singular))
        naming = [lem for lem in lemmas if namer.names(lem, wnid)]
        nodes[wnid] = [singular, plural, lemmas, [p for p in parents if p in keep], gloss, everyday, naming]
    data = {"format": 1, "fields": ["name", "plural", "lemmas", "parents", "gloss", "everyday", "naming lemmas"], "source": "WordNet 3.0 (Debian wordnet-base); names: scripts/build_concepts.py",
            "imagenet": imagenet, "nodes": nodes, "coco": coco}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    with gzip.GzipFile(tmp, "wb", mtime=0) as f:
        f.write(json.dumps(data, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode("utf-8"))
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB): {len(nodes)} WordNet nodes, "
          f"{len(imagenet)} ImageNet classes, {len(coco)} COCO objects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
