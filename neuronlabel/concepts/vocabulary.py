"""The concepts outside WordNet's object tree: textures, colours, scene regions, faces and people, text.

>>> TEXTURES["striped"][0], COLOURS["gray"][:2]
('stripes', ('gray', 'grey'))

Each table maps a short key to ``(name, plural or phrase, adjective, synonyms)`` (textures) or
to its words (the others). The texture keys are the classes of the texture scorer
(:mod:`neuronlabel.evidence.texture`); the synonyms are the words that name the concept in a
label, singular or plural (plural forms are added when terms are built).
"""

from __future__ import annotations

# key: (noun, noun phrase used in labels, adjective, synonyms)
TEXTURES = {
    "striped": ("stripes", "stripes", "striped", ("stripe", "striped", "stripey", "banded", "band", "lines",
                                                  "pinstripes")),
    "dotted": ("dots", "dots", "dotted", ("dot", "polka dots", "spots", "spotted")),
    "checkered": ("checks", "checkerboard pattern", "checkered", ("checkerboard", "chequered", "checked", "squares",
                                                                  "check")),
    "grid": ("grid", "grids", "grid-like", ("lattice", "mesh", "grid lines")),
    "zigzag": ("zigzags", "zigzags", "zigzag", ("zigzag", "chevron", "chevrons")),
    "wavy": ("waves", "wavy lines", "wavy", ("wave", "wavy", "ripples")),
    "blotchy": ("blotches", "blotchy patches", "blotchy", ("blotch", "splotches", "patches", "stains")),
    "braided": ("braids", "braided pattern", "braided", ("braid", "plaits", "woven", "weave", "rope")),
    "bubbly": ("bubbles", "bubbles", "bubbly", ("bubble", "foam", "froth")),
    "bumpy": ("bumps", "bumps", "bumpy", ("bump", "lumpy", "rough surface")),
    "cobwebbed": ("cobwebs", "cobwebs", "cobwebbed", ("cobweb", "spider web", "spider webs", "web", "webs")),
    "cracked": ("cracks", "cracks", "cracked", ("crack", "crackled", "fissures")),
    "crosshatched": ("crosshatching", "crosshatched lines", "crosshatched", ("crosshatch", "cross hatched", "hatching",
                                                                        "crossing lines")),
    "crystalline": ("crystals", "crystals", "crystalline", ("crystal", "facets", "gems")),
    "argyle": ("argyle", "argyle pattern", "argyle", ("diamonds", "diamond pattern")),
    "floral": ("flowers", "floral pattern", "floral", ("flower", "flowery", "blossoms", "flower pattern")),
    "herringbone": ("herringbone", "herringbone pattern", "herringbone", ("chevron", "tweed")),
    "houndstooth": ("houndstooth", "houndstooth pattern", "houndstooth", ("dogtooth", "checks")),
    "leopard": ("leopard print", "leopard print", "leopard-print", ("leopard", "spots", "spotted", "animal print")),
    "paisley": ("paisley", "paisley pattern", "paisley", ("swirls", "teardrops")),
    "tartan": ("plaid", "plaid", "plaid", ("tartan", "checks", "checkered")),
    "zebra": ("zebra stripes", "zebra stripes", "zebra-striped", ("zebra print", "stripes", "striped",
                                                                 "animal print")),
}

COLOURS = {
    "red": ("red", "reddish", "crimson", "scarlet"), "orange": ("orange", "orangish"),
    "yellow": ("yellow", "yellowish", "golden", "gold"), "green": ("green", "greenish"),
    "blue": ("blue", "bluish", "navy", "turquoise"), "purple": ("purple", "violet", "magenta", "lilac"),
    "pink": ("pink", "pinkish"), "brown": ("brown", "brownish", "tan", "beige"),
    "white": ("white", "whitish"), "black": ("black", "blackish", "dark"), "gray": ("gray", "grey", "silver"),
}

# key: (name, plural, synonyms)
SCENES = {
    "sky": ("sky", "sky", ("skies", "clouds", "cloudy sky", "blue sky")),
    "grass": ("grass", "grass", ("lawn", "meadow", "field", "fields", "grassy")),
    "water": ("water", "water", ("sea", "ocean", "lake", "river", "waves", "pond")),
    "snow": ("snow", "snow", ("snowy", "ice")),
    "sand": ("sand", "sand", ("beach", "sandy", "desert", "dunes")),
    "road": ("road", "roads", ("street", "streets", "pavement", "asphalt")),
    "trees": ("tree", "trees", ("forest", "woods", "foliage", "leaves", "branches")),
}

BODY = {
    "face": ("face", "faces", ("facial", "portrait", "portraits", "visage")),
    "eye": ("eye", "eyes", ("eyeball", "eyelid", "eyelash", "eyebrow")),
    "head": ("head", "heads", ("hair", "hairstyle")),
    "hand": ("hand", "hands", ("finger", "fingers", "fist", "thumb")),
    "person": ("person", "people", ("human", "humans", "man", "men", "woman", "women", "child", "children",
                                    "boy", "girl", "persons")),
}

TEXT = ("text", "text", ("letters", "letter", "words", "word", "writing", "lettering", "handwriting", "font",
                         "characters", "printed text", "typography", "numbers", "digits"))
