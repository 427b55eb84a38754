"""The captioner's settings, saved with its weights.

>>> cfg = CaptionerConfig(attention=("additive", "multiplicative", "dot_product"), fusion="sum")
>>> CaptionerConfig.from_dict(cfg.to_dict()) == cfg
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..errors import CheckpointError, InputError
from .attention import FUSIONS, canonical_name


@dataclass(frozen=True)
class CaptionerConfig:
    """Architecture and decoding defaults; ``attention=("additive",)`` is the MILAN baseline.

    >>> CaptionerConfig(attention=("bahdanau", "dot_product"), fusion="gate").attention
    ('additive', 'dot_product')

    ``encoder`` names a backbone of :func:`neuronlabel.models.load`, or is ``"custom:..."``
    when a user-built :class:`~neuronlabel.captioner.encoder.PyramidEncoder` was passed.
    ``feature_size`` is the pooled exemplar vector's length; ``None`` reads it from the
    encoder. ``alpha_c`` weighs the doubly stochastic attention regulariser in training.
    """

    attention: tuple[str, ...] = ("additive",)
    fusion: str = "sum"
    encoder: str = "efficientnet_lite0"
    encoder_layers: tuple[str, ...] | None = None
    input_size: int = 224
    spatial: bool = False
    feature_size: int | None = None
    embedding_size: int = 128
    hidden_size: int = 512
    attention_hidden_size: int = 512
    heads: int = 8
    dropout: float = 0.5
    lm_embedding_size: int = 128
    lm_hidden_size: int = 512
    lm_layers: int = 2
    lm_dropout: float = 0.5
    max_length: int = 30
    beam_size: int = 5
    rerank_lambda: float = 0.2
    alpha_c: float = 1.0

    def __post_init__(self):
        attention = (self.attention,) if isinstance(self.attention, str) else tuple(self.attention)
        names = tuple(canonical_name(a) for a in attention)
        if not names:
            raise InputError("attention needs at least one mechanism, e.g. attention=('additive',)")
        if len(set(names)) != len(names):
            raise InputError(f"attention mechanisms repeat: {attention}; name each at most once")
        object.__setattr__(self, "attention", names)
        if self.fusion not in FUSIONS:
            raise InputError(f"unknown fusion {self.fusion!r}; choose from {', '.join(FUSIONS)}")
        if self.encoder_layers is not None:
            object.__setattr__(self, "encoder_layers", tuple(self.encoder_layers))
        for name in ("input_size", "embedding_size", "hidden_size", "attention_hidden_size", "heads",
                     "lm_embedding_size", "lm_hidden_size", "lm_layers", "max_length", "beam_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if self.feature_size is not None and (not isinstance(self.feature_size, int) or self.feature_size < 1):
            raise InputError(f"feature_size must be a positive integer or None, got {self.feature_size!r}")
        if "dot_product" in names and self.attention_hidden_size % self.heads:
            raise InputError(f"attention_hidden_size={self.attention_hidden_size} must be divisible by "
                             f"heads={self.heads} for 'dot_product' attention")
        for name in ("dropout", "lm_dropout"):
            value = getattr(self, name)
            if not 0.0 <= float(value) < 1.0:
                raise InputError(f"{name} must be in [0, 1), got {value!r}")
        if float(self.rerank_lambda) < 0 or float(self.alpha_c) < 0:
            raise InputError(f"rerank_lambda and alpha_c must be >= 0, got {self.rerank_lambda!r}, {self.alpha_c!r}")

    def replace(self, **changes) -> "CaptionerConfig":
        """A copy with some fields changed (validated again).

        >>> CaptionerConfig().replace(fusion="gate").fusion
        'gate'
        """
        return CaptionerConfig(**{**asdict(self), **changes})

    def to_dict(self) -> dict:
        """Plain dict (strings, numbers, lists) for saving.

        >>> CaptionerConfig().to_dict()["attention"]
        ['additive']
        """
        out = asdict(self)
        out["attention"] = list(self.attention)
        out["encoder_layers"] = None if self.encoder_layers is None else list(self.encoder_layers)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "CaptionerConfig":
        """Inverse of :meth:`to_dict`; unknown keys mean another version wrote it.

        >>> CaptionerConfig.from_dict({"fusion": "concat"}).fusion
        'concat'
        """
        if not isinstance(data, dict):
            raise CheckpointError(f"saved captioner config must be a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(f"saved captioner config has fields this version does not know: {unknown}; "
                                  "it was written by another neuronlabel version")
        try:
            return cls(**data)
        except InputError as err:
            raise CheckpointError(f"saved captioner config is invalid: {err}") from err
