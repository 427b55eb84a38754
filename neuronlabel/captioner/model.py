"""The captioner: encoder + fused-attention decoder + LM prior, saved and loaded as one file.

>>> import torch
>>> from neuronlabel.captioner import Captioner, CaptionerConfig, Vocabulary
>>> cap = Captioner(CaptionerConfig(attention=("additive", "multiplicative", "dot_product"),
...                                 feature_size=16, hidden_size=32, attention_hidden_size=32),
...                 vocab=Vocabulary(["dog", "faces", "stripes"]))
>>> out = cap.describe(torch.randn(4, 15, 16), beam_size=3, max_length=5)
>>> len(out), isinstance(out[0][0][0], str)
(4, True)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

from ..errors import CheckpointError, InputError
from .beam import beam_search
from .everyday import everyday
from .hygiene import tidy
from .config import CaptionerConfig
from .decoder import Decoder
from .encoder import EncodedImages, PyramidEncoder
from .lm import LanguageModel, rerank as wpmi_rerank
from .vocab import Vocabulary

FORMAT = "neuronlabel-captioner"
FORMAT_VERSION = 1
BUNDLED = Path(__file__).resolve().parent.parent / "weights" / "captioner.pt"


class Captioner:
    """Describe units from their exemplars: ``encode`` → ``pool`` → ``describe``.

    >>> cap = Captioner.load()                                       # doctest: +SKIP
    >>> cap.describe_exemplars(images, masks, index)[0][0]           # doctest: +SKIP
    ('dog faces', -2.31)

    ``vocab`` is a :class:`Vocabulary` (or a list of words). ``encoder`` overrides the
    backbone named in the config (a :class:`PyramidEncoder`); otherwise it is built on
    first use. ``lm`` is the language-model prior used for wPMI reranking (``fit`` trains
    one; without it ``describe`` does not rerank).
    """

    def __init__(self, config: CaptionerConfig | None = None, vocab: Vocabulary | Sequence[str] | None = None,
                 *, encoder: PyramidEncoder | None = None, lm: LanguageModel | bool | None = None):
        config = config or CaptionerConfig()
        if not isinstance(config, CaptionerConfig):
            raise InputError(f"config must be a CaptionerConfig, got {type(config).__name__}")
        if vocab is None:
            raise InputError("a Captioner needs a vocabulary: pass vocab=Vocabulary.build(descriptions) "
                             "or train one with neuronlabel.training.fit")
        self.vocab = vocab if isinstance(vocab, Vocabulary) else Vocabulary(vocab)
        self._encoder = encoder
        if encoder is not None:
            if encoder.input_size != config.input_size:
                config = config.replace(input_size=encoder.input_size)
            size = encoder.feature_size + (1 if config.spatial else 0)
            if config.feature_size is not None and config.feature_size != size:
                raise InputError(f"encoder gives {size}-dim features but config.feature_size={config.feature_size}")
            if not config.encoder.startswith("custom:") and encoder.name != config.encoder:
                config = config.replace(encoder=encoder.name)
            config = config.replace(feature_size=size, encoder_layers=encoder.layers)
        elif config.feature_size is None:
            enc = self._build_encoder(config)
            self._encoder = enc
            config = config.replace(feature_size=enc.feature_size + (1 if config.spatial else 0),
                                    encoder_layers=enc.layers)
        self.config = config
        self.decoder = Decoder(len(self.vocab), config.feature_size, config.attention, config.fusion,
                               config.embedding_size, config.hidden_size, config.attention_hidden_size,
                               config.heads, config.dropout).eval()
        if lm is True:
            lm = self.new_language_model()
        self.lm: LanguageModel | None = lm.eval() if isinstance(lm, LanguageModel) else None

    def new_language_model(self) -> LanguageModel:
        """A fresh (untrained) LM prior sized by the config, on the captioner's device.

        >>> Captioner(CaptionerConfig(feature_size=4, hidden_size=8, attention_hidden_size=8, lm_hidden_size=8),
        ...           ["a"]).new_language_model().lstm.num_layers
        2
        """
        c = self.config
        return LanguageModel(len(self.vocab), c.lm_embedding_size, c.lm_hidden_size, c.lm_layers,
                             c.lm_dropout).to(self.device)

    @staticmethod
    def _build_encoder(config: CaptionerConfig) -> PyramidEncoder:
        if config.encoder.startswith("custom:"):
            raise InputError(f"this captioner was built on a custom backbone ({config.encoder}); pass "
                             f"encoder=PyramidEncoder(net, layers={list(config.encoder_layers or [])}) to use images")
        return PyramidEncoder(config.encoder, config.encoder_layers, config.input_size)

    @property
    def encoder(self) -> PyramidEncoder:
        """The frozen image encoder, built from the config on first use."""
        if self._encoder is None:
            enc = self._build_encoder(self.config)
            size = enc.feature_size + (1 if self.config.spatial else 0)
            if size != self.config.feature_size:
                raise CheckpointError(f"encoder {self.config.encoder!r} gives {size}-dim features but this "
                                      f"captioner expects {self.config.feature_size}")
            self._encoder = enc.to(self.device)
        return self._encoder

    @property
    def device(self) -> torch.device:
        return self.decoder.output.weight.device

    def to(self, device: str | torch.device) -> "Captioner":
        """Move decoder, LM prior and (if built) encoder to ``device``; returns ``self``.

        >>> cap = Captioner(CaptionerConfig(feature_size=4, hidden_size=8, attention_hidden_size=8), ["a"])
        >>> cap.to("cpu").device
        device(type='cpu')
        """
        self.decoder.to(device)
        if self.lm is not None:
            self.lm.to(device)
        if self._encoder is not None:
            self._encoder.to(device)
        return self

    def encode(self, images: Any, batch_size: int | None = None) -> EncodedImages:
        """Per-depth feature maps of ``images`` ``[N, 3, H, W]`` in ``[0, 1]`` (not normalised).

        >>> feats = cap.encode(torch.rand(8, 3, 224, 224))                # doctest: +SKIP
        >>> [m.shape[1] for m in feats.maps]                               # doctest: +SKIP
        [40, 112, 320, 1280]
        """
        return self.encoder.encode(images, batch_size)

    def pool(self, feats: EncodedImages, masks: Any, index: Tensor) -> Tensor:
        """Mask-pooled exemplar features ``[U, k, D]`` (``masks`` ``[U, k, H, W]``, ``index`` ``[U, k]``).

        >>> cap.pool(feats, masks, index).shape                           # doctest: +SKIP
        torch.Size([100, 15, 1752])
        """
        return self.encoder.pool(feats, masks, index, spatial=self.config.spatial)

    def pool_maps(self, feats: EncodedImages, maps: Tensor, thresholds: Tensor, image_size, index: Tensor,
                  counts: Tensor | None = None) -> Tensor:
        """:meth:`pool` with MILAN's masks given as unit maps ``[U, k, h, w]`` and thresholds ``[U]``
        (``counts``: their pixel counts on the finest feature grid, if known; see
        :meth:`PyramidEncoder.pool_maps`).

        >>> cap.pool_maps(feats, ex.maps[:100], ex.thresholds[:100], ex.image_size, index).shape  # doctest: +SKIP
        torch.Size([100, 15, 1752])
        """
        return self.encoder.pool_maps(feats, maps, thresholds, image_size, index, spatial=self.config.spatial,
                                      counts=counts)

    def describe_exemplars(self, images: Any, masks: Any, index: Tensor, *, encode_batch_size: int | None = None,
                           progress: bool = False, **kwargs) -> list[list[tuple[str, float]]]:
        """Encode, pool and describe in one call (streaming: one batch of maps held at a time).

        >>> cap.describe_exemplars(images, masks, index, beam_size=5)    # doctest: +SKIP
        """
        x = self.encoder.encode_pool(images, masks, index, spatial=self.config.spatial,
                                     batch_size=encode_batch_size, progress=progress)
        return self.describe(x, **kwargs)

    @torch.no_grad()
    def describe(self, x: Tensor, beam_size: int | None = None, max_length: int | None = None,
                 rerank: bool | None = None, batch_size: int = 256, mask: Tensor | None = None,
                 min_length: int = 1, lam: float | None = None) -> list[list[tuple[str, float]]]:
        """For each unit, ``[(text, log p(text | exemplars)), ...]`` best first.

        >>> cap = Captioner(CaptionerConfig(feature_size=4, hidden_size=8, attention_hidden_size=8), ["a", "b"])
        >>> [len(c) for c in cap.describe(torch.randn(2, 3, 4), beam_size=2, max_length=3)]
        [2, 2]

        ``x`` is ``[U, k, D]`` pooled features (``mask`` ``[U, k]``: True for real exemplars
        when units have fewer than ``k``). Beam search runs ``batch_size`` units at a time.
        ``rerank`` (default: whenever an LM prior is present) orders the beam by MILAN's
        wPMI ``log p(d|E) - lam * log p(d)``; the reported number stays ``log p(d|E)``.
        ``beam_size=1`` is greedy decoding. Rare words become everyday ones
        (:func:`~neuronlabel.captioner.everyday.everyday`). Descriptions a person would not write ("fish or fish",
        "orange parts of": :func:`~neuronlabel.captioner.hygiene.problem`) come after the clean ones.
        """
        c = self.config
        beam_size = c.beam_size if beam_size is None else int(beam_size)
        max_length = c.max_length if max_length is None else int(max_length)
        lam = c.rerank_lambda if lam is None else float(lam)
        if rerank is None:
            rerank = self.lm is not None
        if rerank and self.lm is None:
            raise InputError("rerank=True needs a language-model prior, and this captioner has none; "
                             "pass rerank=False or train one with neuronlabel.training.fit")
        if int(batch_size) < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        x = self._check_features(x)
        if mask is not None:
            mask = torch.as_tensor(mask, dtype=torch.bool)
            if tuple(mask.shape) != tuple(x.shape[:2]):
                raise InputError(f"mask must be [units, k] = {tuple(x.shape[:2])}, got {tuple(mask.shape)}")
            if x.shape[0] and not bool(mask.any(dim=1).all()):
                raise InputError("every unit needs at least one real exemplar; some rows of mask are all False")
        self.decoder.eval()
        if self.lm is not None:
            self.lm.eval()
        out: list[list[tuple[str, float]]] = []
        device = self.device
        for lo in range(0, x.shape[0], int(batch_size)):
            feats = x[lo: lo + batch_size].to(device)
            m = None if mask is None else mask[lo: lo + batch_size].to(device)
            found = beam_search(self.decoder, feats, m, beam_size, max_length, min_length,
                                follow_bans=self.vocab.follow_bans())
            if rerank:
                flat = [ids for cands in found for ids, _ in cands]
                prior = self.lm.score(flat)
                at = 0
                for i, cands in enumerate(found):
                    found[i] = wpmi_rerank(cands, prior[at: at + len(cands)], lam)
                    at += len(cands)
            out.extend(tidy(_distinct([(everyday(self.vocab.decode(ids)), lp) for ids, lp in cands])) for cands in found)
        return out

    def _check_features(self, x: Any) -> Tensor:
        if not isinstance(x, Tensor):
            raise InputError(f"features must be a tensor [units, k, D], got {type(x).__name__}")
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[-1] != self.config.feature_size:
            raise InputError(f"features must be [units, k, {self.config.feature_size}] for this captioner; got shape "
                             f"{tuple(x.shape)}")
        if not x.is_floating_point():
            raise InputError(f"features must be floating point, got {x.dtype}")
        if x.numel() and not bool(torch.isfinite(x).all()):
            raise InputError("features contain NaN or infinite values")
        return x.to(self.decoder.output.weight.dtype)

    def state_dict(self) -> dict:
        """Everything needed to rebuild the captioner, as plain Python values and tensors.

        >>> cap = Captioner(CaptionerConfig(feature_size=4, hidden_size=8, attention_hidden_size=8), ["a"])
        >>> sorted(cap.state_dict())
        ['config', 'decoder', 'format', 'lm', 'sha256', 'version', 'vocab']
        """
        state = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "vocab": self.vocab.to_list(),
            "decoder": {k: v.detach().cpu().clone() for k, v in self.decoder.state_dict().items()},
            "lm": None if self.lm is None else {k: v.detach().cpu().clone() for k, v in self.lm.state_dict().items()},
        }
        state["sha256"] = digest(state)
        return state

    @classmethod
    def from_state_dict(cls, state: Any, encoder: PyramidEncoder | None = None) -> "Captioner":
        """Inverse of :meth:`state_dict`; raises :class:`CheckpointError` on anything amiss.

        >>> cap = Captioner(CaptionerConfig(feature_size=4, hidden_size=8, attention_hidden_size=8), ["a"])
        >>> Captioner.from_state_dict(cap.state_dict()).vocab == cap.vocab
        True
        """
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"not a neuronlabel captioner (format {found!r}, expected {FORMAT!r})")
        version = state.get("version")
        if version != FORMAT_VERSION:
            raise CheckpointError(f"captioner file format version {version!r} is not supported by this neuronlabel "
                                  f"(it reads version {FORMAT_VERSION}); use the neuronlabel version that wrote it, "
                                  "or retrain with `neuronlabel train`")
        missing = [k for k in ("config", "vocab", "decoder", "lm", "sha256") if k not in state]
        if missing:
            raise CheckpointError(f"captioner file lacks {missing}; it is truncated or from another version")
        config = CaptionerConfig.from_dict(state["config"])
        if config.feature_size is None:
            raise CheckpointError("captioner file has no feature_size in its config")
        vocab = Vocabulary.from_list(state["vocab"])
        try:
            ok = digest(state) == state["sha256"]
        except Exception as err:
            raise CheckpointError(f"captioner file is corrupt: its contents cannot be checksummed ({err})") from err
        if not ok:
            raise CheckpointError("captioner file is corrupt: its checksum does not match its contents")
        cap = cls(config, vocab, encoder=encoder)
        try:
            cap.decoder.load_state_dict(state["decoder"], strict=True)
            if state["lm"] is not None:
                cap.lm = cap.new_language_model()
                cap.lm.load_state_dict(state["lm"], strict=True)
                cap.lm.eval()
        except (RuntimeError, TypeError, AttributeError) as err:
            raise CheckpointError(f"captioner weights do not fit its config: {err}") from err
        return cap

    def save(self, path: str | os.PathLike) -> Path:
        """Write config, vocabulary, LM prior and weights to one file (plain tensors, no pickled classes).

        >>> cap.save("captioner.pt")                                      # doctest: +SKIP
        """
        from ..files import atomic_save

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_save(self.state_dict(), path)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, map_location: str | torch.device | None = None,
             encoder: PyramidEncoder | None = None) -> "Captioner":
        """Restore a saved captioner; ``path=None`` loads the bundled ``neuronlabel/weights/captioner.pt``.

        >>> cap = Captioner.load("captioner.pt", map_location="cpu")    # doctest: +SKIP
        """
        if path is None:
            if not BUNDLED.is_file():
                raise CheckpointError(f"no bundled captioner weights at {BUNDLED}; this install ships none yet. "
                                      "Train one with `neuronlabel train` and pass its path to Captioner.load(path)")
            path = BUNDLED
        state = read_checkpoint(path)
        if isinstance(state, dict) and state.get("format") == "neuronlabel-training-checkpoint":
            state = state.get("best") or state.get("captioner")
        cap = cls.from_state_dict(state, encoder=encoder)
        if map_location is not None:
            cap.to(map_location)
        return cap


def digest(state: dict) -> str:
    """SHA-256 over a captioner state's config, vocabulary and tensors (names, dtypes, shapes, bytes).

    >>> len(digest({"config": {}, "vocab": [], "decoder": {}, "lm": None}))
    64
    """
    h = hashlib.sha256()
    h.update(json.dumps(state["config"], sort_keys=True).encode())
    h.update("\x00".join(state["vocab"]).encode())
    for part in ("decoder", "lm"):
        tensors = state[part] or {}
        h.update(part.encode())
        for name in sorted(tensors):
            t = tensors[name].detach().cpu().contiguous()
            h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def read_checkpoint(path: str | os.PathLike) -> Any:
    """``torch.load(path, weights_only=True)`` with every failure turned into :class:`CheckpointError`.

    >>> read_checkpoint("/no/such/file.pt")
    Traceback (most recent call last):
    ...
    neuronlabel.errors.CheckpointError: no file at /no/such/file.pt
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no file at {path}")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"cannot read {path}: the file is corrupt, truncated or not a neuronlabel file "
                              f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err


def _distinct(candidates: list) -> list:
    """The first of each text (rewriting can make two candidates equal)."""
    seen, out = set(), []
    for text, lp in candidates:
        if text not in seen:
            seen.add(text)
            out.append((text, lp))
    return out
