"""Concepts that units detect, with the everyday words that name them (see :mod:`.inventory`).

>>> from neuronlabel.concepts import Inventory
>>> Inventory.load().name("n02084071", plural=True)
'dogs'
"""

from .inventory import GENERIC, Concept, Inventory, UnknownConceptError

__all__ = ["Concept", "GENERIC", "Inventory", "UnknownConceptError"]
