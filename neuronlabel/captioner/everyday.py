"""Everyday words for the bundled captioner's rare ones: "habiliments" is "clothes" to a person.

>>> everyday("grey habiliments and self-propelled vehicles")
'grey clothes and vehicles'
>>> everyday("reptilians as well as serpents")
'reptiles as well as snakes'

The bundled captioner learnt WordNet lemmas from its compound training set; the known-answer
benchmark found these among the words no person used in MILANNOTATIONS or the COCO captions.
Each maps to the concept inventory's everyday name for the same concept
(:meth:`neuronlabel.concepts.Inventory.name`), so the meaning is kept.
"""

from __future__ import annotations

import re

EVERYDAY = {
    "self-propelled vehicles": "vehicles", "self propelled vehicles": "vehicles", "automotive vehicles": "cars",
    "habiliments": "clothes", "reptilians": "reptiles", "canids": "dogs", "ophidians": "snakes",
    "serpents": "snakes", "automobiles": "cars", "lorries": "trucks", "watercrafts": "boats",
    "waders": "wading birds", "produces": "fruits and vegetables", "furnitures": "furniture", "foods": "food",
    "grocerieses": "groceries", "persons": "people", "primates": "monkeys",
}
_RX = re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(EVERYDAY, key=len, reverse=True)) + r")(?![\w-])")


def everyday(text: str) -> str:
    """``text`` with the rare words of :data:`EVERYDAY` replaced by their everyday names."""
    return _RX.sub(lambda m: EVERYDAY[m.group(1)], text)
