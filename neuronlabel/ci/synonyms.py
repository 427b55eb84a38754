"""The built-in synonym table for concepts that audits commonly look for.

>>> from neuronlabel.ci.synonyms import builtin_synonyms
>>> "facial" in builtin_synonyms("faces"), "letter" in builtin_synonyms("text")
(True, True)

Each entry lists base forms; singular/plural forms are added by :mod:`.inflection`. A concept
is found by its name, its singular, or an alias ("people" → person, "writing" → text).
"""

from __future__ import annotations

from .inflection import singular

SYNONYMS: dict = {
    "face": ("face", "facial", "head", "visage", "portrait", "selfie"),
    "person": ("person", "people", "human", "man", "woman", "boy", "girl", "child", "kid",
               "baby", "pedestrian", "crowd", "rider", "human figure"),
    "text": ("text", "word", "letter", "lettering", "writing", "written", "handwriting",
             "font", "typography", "inscription", "caption", "digit", "numeral", "alphabet"),
    "skin": ("skin", "flesh", "complexion", "skin tone", "bare skin"),
    "eye": ("eye", "eyeball", "eyelid", "eyelash", "eyebrow"),
    "hand": ("hand", "finger", "fist", "thumb", "knuckle"),
    "mouth": ("mouth", "lip", "tooth", "teeth", "smile"),
    "nose": ("nose", "nostril", "snout"),
    "ear": ("ear", "earlobe"),
    "hair": ("hair", "hairstyle", "beard", "mustache", "moustache", "braid", "ponytail"),
    "body": ("body", "torso", "arm", "leg", "shoulder", "limb"),
    "child": ("child", "kid", "baby", "infant", "toddler", "boy", "girl"),
    "nudity": ("nude", "naked", "nudity", "bare skin", "undressed", "topless"),
    "weapon": ("weapon", "gun", "rifle", "pistol", "firearm", "knife", "sword"),
    "blood": ("blood", "bloody", "wound", "gore", "injury"),
    "license plate": ("license plate", "licence plate", "number plate", "registration plate"),
    "logo": ("logo", "brand", "trademark", "emblem"),
    "flag": ("flag", "banner"),
}

ALIASES: dict = {
    "people": "person", "human": "person", "humans": "person", "pedestrians": "person",
    "faces": "face", "facial": "face", "head": "face", "heads": "face",
    "writing": "text", "words": "text", "word": "text", "letters": "text", "letter": "text",
    "kids": "child", "kid": "child", "children": "child", "babies": "child",
    "weapons": "weapon", "guns": "weapon", "gun": "weapon",
    "naked": "nudity", "nude": "nudity",
    "licence plate": "license plate", "license plates": "license plate",
    "number plate": "license plate", "logos": "logo", "brands": "logo",
}


def concept_key(concept: str) -> "str | None":
    """The table entry a concept name refers to, or None.

    >>> concept_key("Eyes"), concept_key("people"), concept_key("zebra")
    ('eye', 'person', None)
    """
    name = " ".join(concept.lower().split())
    for candidate in (name, ALIASES.get(name), singular(name)):
        if candidate in SYNONYMS:
            return candidate
        if candidate in ALIASES:
            return ALIASES[candidate]
    return None


def builtin_synonyms(concept: str) -> tuple:
    """The built-in base terms for ``concept`` (empty when it has no entry).

    >>> builtin_synonyms("hands")[:3]
    ('hand', 'finger', 'fist')
    """
    key = concept_key(concept)
    return SYNONYMS[key] if key else ()
