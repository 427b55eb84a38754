"""Tokenizer and vocabulary for neuron descriptions: deterministic, lowercase, offline.

>>> vocab = Vocabulary.build(["Dog faces.", "red, white stripes"])
>>> vocab.decode(vocab.encode("dog faces, red stripes"))
'dog faces, red stripes'
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Iterable, Sequence

from ..errors import CheckpointError, InputError

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
OPENERS = frozenset("of the a an to with on in at above below under over beneath from by for into near behind "
                    "between than around".split())
DANGLING = OPENERS | frozenset("and or as that are is both well colored upper color".split())
JOINERS = ("of", "and", "or", "as", "than", "that", "are", "is")
NOT_FIRST = JOINERS + ("well", "colored", "regions", "areas", "parts", "halves", "portion")
SPECIALS = (PAD, START, END, UNK)

_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[^\w\s]|_")
_NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "]", "%", "-", "/"}
_NO_SPACE_AFTER = {"(", "[", "-", "/", "#", "$"}
_TRAILING = {".", "!", "?", ";", ","}


def tokenize(text: str) -> list[str]:
    """Split a description into lowercase word and punctuation tokens.

    >>> tokenize("Black-and-white STRIPES, on the dog's left.")
    ['black', '-', 'and', '-', 'white', 'stripes', ',', 'on', 'the', "dog's", 'left']

    Unicode is NFKC-normalised, curly quotes become straight ones, and punctuation at the
    very end of the text is dropped, so "dog faces." and "dog faces" tokenize the same.
    """
    if not isinstance(text, str):
        raise InputError(f"a description must be a str, got {type(text).__name__}: {text!r}")
    text = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'").replace("\u2018", "'")
    tokens = _TOKEN.findall(text)
    while tokens and tokens[-1] in _TRAILING:
        tokens.pop()
    return tokens


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens back into text with ordinary spacing around punctuation.

    >>> detokenize(['black', '-', 'and', '-', 'white', 'stripes', ',', 'left'])
    'black-and-white stripes, left'
    """
    out: list[str] = []
    glue = True
    for tok in tokens:
        if out and not glue and tok not in _NO_SPACE_BEFORE:
            out.append(" ")
        out.append(tok)
        glue = tok in _NO_SPACE_AFTER
    return "".join(out)


class Vocabulary:
    """Words ↔ ids, with ``<pad>=0, <start>=1, <end>=2, <unk>=3`` first.

    >>> v = Vocabulary(["dog", "faces"])
    >>> v.encode("dog faces"), len(v)
    ([4, 5], 6)
    """

    def __init__(self, words: Iterable[str]):
        words = list(words)
        tokens = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        if len(set(tokens)) != len(tokens):
            dup = sorted({w for w in tokens if tokens.count(w) > 1})
            raise InputError(f"vocabulary words must be unique; repeated: {dup[:10]}")
        self.itos: list[str] = tokens
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(tokens)}

    pad, start, end, unk = 0, 1, 2, 3

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, max_size: int | None = None) -> "Vocabulary":
        """Vocabulary of every token seen ``min_count`` times, most frequent first (ties by word).

        >>> Vocabulary.build(["a dog", "a cat"]).itos[4:]
        ['a', 'cat', 'dog']
        """
        if min_count < 1:
            raise InputError(f"min_count must be >= 1, got {min_count}")
        counts = Counter(tok for text in texts for tok in tokenize(text))
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - len(SPECIALS))]
        return cls(ranked)

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens)"

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no start/end markers); unknown words map to ``<unk>``.

        >>> Vocabulary(["dog"]).encode("dog cat")
        [4, 3]
        """
        return [self.stoi.get(tok, self.unk) for tok in tokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids, stopping at ``<end>`` and skipping ``<pad>``/``<start>``.

        >>> v = Vocabulary(["dog", "faces"])
        >>> v.decode([1, 4, 5, 2, 4])
        'dog faces'
        """
        words = []
        for i in ids:
            i = int(i)
            if i == self.end:
                break
            if i in (self.pad, self.start):
                continue
            words.append(self.itos[i])
        return detokenize(words)

    def follow_bans(self) -> dict[int, list[int]]:
        """Token ids that may not follow a token: ``<end>`` after a word that cannot end an English
        phrase ("of", "and", "the", ...), a conjunction or preposition right after a
        preposition or determiner ("of and", "the of"), and, after ``<start>``, a first word
        that needs something before it ("colored areas", "and dogs"). Beam search applies
        them, so a description is never cut off when the decoder is unsure of the next noun.

        >>> v = Vocabulary(["red", "parts", "of", "and", "dogs"])
        >>> [v.itos[i] for i in v.follow_bans()[v.stoi["of"]]]
        ['<end>', 'of', 'and']
        >>> v.stoi["dogs"] in v.follow_bans()
        False
        >>> [v.itos[i] for i in v.follow_bans()[v.start]]
        ['of', 'and', 'parts']
        """
        bans: dict[int, list[int]] = {self.start: [self.stoi[w] for w in NOT_FIRST if w in self.stoi]}
        joiners = [self.stoi[w] for w in JOINERS if w in self.stoi]
        for word in DANGLING & self.stoi.keys():
            bans[self.stoi[word]] = [self.end] + (joiners if word in OPENERS else [])
        return bans

    def to_list(self) -> list[str]:
        """Plain list of tokens (specials first) for saving.

        >>> Vocabulary(["dog"]).to_list()
        ['<pad>', '<start>', '<end>', '<unk>', 'dog']
        """
        return list(self.itos)

    @classmethod
    def from_list(cls, tokens: Sequence[str]) -> "Vocabulary":
        """Inverse of :meth:`to_list`.

        >>> Vocabulary.from_list(Vocabulary(["dog"]).to_list()) == Vocabulary(["dog"])
        True
        """
        tokens = list(tokens)
        if tokens[: len(SPECIALS)] != list(SPECIALS) or not all(isinstance(t, str) for t in tokens):
            raise CheckpointError(f"saved vocabulary must start with {list(SPECIALS)}; got {tokens[:4]}")
        return cls(tokens[len(SPECIALS):])
