"""Train a captioner on cached exemplar features: AdamW, early stopping on validation BLEU, resume.

>>> import torch
>>> from neuronlabel.captioner import CaptionerConfig
>>> data = CaptionData(torch.randn(6, 3, 8), [["dog faces"], ["red stripes"], ["cars"]] * 2,
...                    ids=[f"u{i}" for i in range(6)])
>>> result = fit(data, CaptionerConfig(hidden_size=16, attention_hidden_size=8, embedding_size=8,
...              lm_hidden_size=8, lm_embedding_size=8), epochs=2, val_fraction=0.34, progress=False)
>>> [h["epoch"] for h in result.history], len(result.val_ids)
([1, 2], 2)

The encoder is frozen, so images are encoded once up front (:func:`featurize`) and the
decoder trains on cached ``[k, D]`` features. Units (not descriptions) are split into
training and validation, so no unit's exemplars are seen on both sides. Every
description of a training unit is one training example; validation BLEU (sacrebleu, all of
a unit's descriptions as references) decides the best epoch and when to stop. With
``checkpoint_dir`` a checkpoint is written after every epoch (``checkpoint.pt``, for
``resume=True``) and the best captioner so far as ``best.pt`` (load it with
``Captioner.load``). The same data, settings and seed give the same weights, and a resumed
run gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
import torch.nn.functional as F

from ..captioner.config import CaptionerConfig
from ..captioner.decoder import doubly_stochastic_penalty
from ..captioner.model import Captioner, read_checkpoint
from ..captioner.vocab import Vocabulary
from ..errors import CheckpointError, InputError
from ..evaluation.bleu import corpus_bleu
from .data import CaptionData, split_units
from .lm_prior import token_batch, train_language_model

CHECKPOINT_FORMAT = "neuronlabel-training-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class FitResult:
    """What :func:`fit` returns: the best captioner, per-epoch history and the unit split.

    >>> FitResult(None, [], 0, None, [], []).stopped_early
    False
    """

    captioner: Captioner
    history: list[dict]
    best_epoch: int
    best_bleu: float | None
    train_ids: list[str]
    val_ids: list[str]
    stopped_early: bool = False
    lm_losses: list[float] = field(default_factory=list)


def fit(data: Any, config: CaptionerConfig | None = None, *, validation: CaptionData | None = None,
        val_fraction: float = 0.1, epochs: int = 100, batch_size: int = 64, lr: float = 1e-3,
        weight_decay: float = 1e-4, patience: int = 5, stop_bleu: float | None = None, clip: float = 5.0,
        seed: int = 0, min_count: int = 1, max_vocab: int | None = None, lm_epochs: int = 10,
        extra_text: Iterable[str] = (), checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
        progress: bool = True, device: str | torch.device | None = None, val_beam_size: int = 1,
        encoder=None) -> FitResult:
    """Train the decoder (and the LM prior) on ``data``; return the best captioner by validation BLEU.

    >>> result = fit(load_milannotations("milannotations/"), CaptionerConfig(),
    ...              checkpoint_dir="runs/milan")                           # doctest: +SKIP
    >>> result.captioner.save("captioner.pt")                               # doctest: +SKIP

    ``data`` is a :class:`CaptionData` (features already pooled), or an ``ExemplarSet`` /
    MILANNOTATIONS data set that is encoded once with ``encoder`` (default: the config's
    backbone). ``validation`` gives an explicit validation set; otherwise ``val_fraction``
    of the units is held out (0: no validation, train all ``epochs``, keep the last).
    Training stops after ``patience`` epochs without a better BLEU, or once BLEU reaches
    ``stop_bleu``. ``extra_text`` adds descriptions (e.g. captions) to the vocabulary and
    LM-prior training only.
    """
    config = config or CaptionerConfig()
    device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for name, value, low in (("epochs", epochs, 0), ("batch_size", batch_size, 1), ("patience", patience, 1),
                             ("lm_epochs", lm_epochs, 0), ("val_beam_size", val_beam_size, 1)):
        if int(value) < low:
            raise InputError(f"{name} must be >= {low}, got {value}")
    data = _as_caption_data(data, config, encoder, progress)
    if validation is not None:
        train, val = data, _as_caption_data(validation, config, encoder, progress)
    else:
        train_idx, val_idx = split_units(len(data), val_fraction, seed)
        train, val = data.subset(train_idx), (data.subset(val_idx) if val_idx else None)
    if val is not None and val.feature_size != train.feature_size:
        raise InputError(f"validation features are {val.feature_size}-dim, training features {train.feature_size}-dim")
    extra_text = list(extra_text)
    if config.feature_size is None:
        config = config.replace(feature_size=train.feature_size)
    elif config.feature_size != train.feature_size:
        raise InputError(f"config.feature_size={config.feature_size} but the data's features are "
                         f"{train.feature_size}-dim; leave feature_size=None to take it from the data")
    settings = {
        "config": config.to_dict(), "batch_size": int(batch_size), "lr": float(lr),
        "weight_decay": float(weight_decay), "clip": float(clip), "seed": int(seed), "min_count": int(min_count),
        "max_vocab": max_vocab, "lm_epochs": int(lm_epochs), "val_beam_size": int(val_beam_size),
        "train": train.fingerprint(), "val": None if val is None else val.fingerprint(),
        "extra_text": len(extra_text),
    }
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    ckpt_path = checkpoint_dir / "checkpoint.pt" if checkpoint_dir is not None else None

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    state = None
    if resume:
        if ckpt_path is None:
            raise InputError("resume=True needs checkpoint_dir, the folder of an earlier run")
        if ckpt_path.is_file():
            state = _load_checkpoint(ckpt_path, settings)
    if state is not None:
        cap = Captioner.from_state_dict(state["captioner"], encoder=encoder).to(device)
        lm_losses = list(state["lm_losses"])
    else:
        vocab = Vocabulary.build([d for ds in train.descriptions for d in ds] + extra_text, min_count, max_vocab)
        cap = Captioner(config, vocab, encoder=encoder).to(device)
        lm_losses = []
        if lm_epochs > 0:
            cap.lm = cap.new_language_model()
            sequences = [cap.vocab.encode(d)[: config.max_length] for ds in train.descriptions for d in ds]
            sequences += [cap.vocab.encode(t)[: config.max_length] for t in extra_text]
            lm_losses = train_language_model(cap.lm, sequences, lm_epochs, batch_size, lr, weight_decay,
                                             generator, progress)

    decoder = cap.decoder
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=lr, weight_decay=weight_decay)
    pairs = [(u, cap.vocab.encode(d)[: config.max_length]) for u, ds in enumerate(train.descriptions) for d in ds]
    history: list[dict] = []
    best_state, best_bleu, best_epoch, bad_epochs, start, stopped = None, None, 0, 0, 1, False
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        history, best_state, best_bleu = list(state["history"]), state["best"], state["best_bleu"]
        best_epoch, bad_epochs, start, stopped = state["best_epoch"], state["bad_epochs"], state["epoch"] + 1, state["stopped"]
        torch.set_rng_state(state["rng"])
        generator.set_state(state["generator"])
        if state["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(list(state["cuda_rng"]))

    epoch = start - 1
    for epoch in range(start, epochs + 1):
        if stopped:
            break
        began = time.perf_counter()
        loss = _train_epoch(cap, train, pairs, optimizer, batch_size, clip, generator, device, progress, epoch)
        bleu = None
        if val is not None:
            texts = [c[0][0] if c else "" for c in cap.describe(val.features, beam_size=val_beam_size, rerank=False,
                                                                mask=val.mask)]
            bleu = corpus_bleu(texts, val.descriptions)
        improved = val is None or best_bleu is None or bleu > best_bleu
        if improved:
            best_state, best_bleu, best_epoch, bad_epochs = cap.state_dict(), bleu, epoch, 0
            if checkpoint_dir is not None:
                cap.save(checkpoint_dir / "best.pt")
        else:
            bad_epochs += 1
        history.append({"epoch": epoch, "loss": loss, "val_bleu": bleu, "seconds": time.perf_counter() - began})
        stopped = val is not None and (bad_epochs >= patience or (stop_bleu is not None and bleu >= stop_bleu))
        if progress:
            from tqdm.auto import tqdm

            tqdm.write(f"epoch {epoch}: loss {loss:.4f}" + ("" if bleu is None else
                       f", validation BLEU {bleu:.2f} (best {best_bleu:.2f} at epoch {best_epoch})"))
        if ckpt_path is not None:
            _save_checkpoint(ckpt_path, cap, optimizer, epoch, history, best_state, best_bleu, best_epoch,
                             bad_epochs, stopped, generator, settings, lm_losses)
        if stopped:
            break
    if best_state is not None:
        cap = Captioner.from_state_dict(best_state, encoder=encoder).to(device)
    return FitResult(cap, history, best_epoch, best_bleu, train.ids, [] if val is None else val.ids,
                     stopped, lm_losses)


def _as_caption_data(data: Any, config: CaptionerConfig, encoder, progress: bool) -> CaptionData:
    if isinstance(data, CaptionData):
        return data
    from .features import featurize

    if encoder is None:
        encoder = Captioner._build_encoder(config)
    return featurize(data, encoder, spatial=config.spatial, progress=progress)


def _train_epoch(cap: Captioner, train: CaptionData, pairs: Sequence[tuple[int, list[int]]], optimizer,
                 batch_size: int, clip: float, generator: torch.Generator, device, progress: bool, epoch: int) -> float:
    decoder = cap.decoder
    decoder.train()
    batches = _length_buckets(pairs, batch_size, generator)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(pairs), desc=f"epoch {epoch}", unit="desc", leave=False)
    total, count = 0.0, 0
    alpha_c = cap.config.alpha_c
    for rows in batches:
        batch = [pairs[i] for i in rows]
        units = torch.tensor([u for u, _ in batch])
        feats = train.features.index_select(0, units).to(device)
        mask = None if train.mask is None else train.mask.index_select(0, units).to(device)
        tokens = token_batch([ids for _, ids in batch]).to(device)
        logp, weights = decoder(feats, tokens, mask)
        targets = tokens[:, 1:]
        nll = F.nll_loss(logp.reshape(-1, logp.shape[-1]), targets.reshape(-1), ignore_index=Vocabulary.pad)
        loss = nll
        if alpha_c > 0:
            lengths = (targets != Vocabulary.pad).sum(dim=1)
            loss = loss + alpha_c * doubly_stochastic_penalty(weights, lengths, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(decoder.parameters(), clip)
        optimizer.step()
        n = int((targets != Vocabulary.pad).sum())
        total, count = total + nll.item() * n, count + n
        if bar is not None:
            bar.update(len(batch))
            bar.set_postfix(loss=f"{nll.item():.3f}")
    if bar is not None:
        bar.close()
    decoder.eval()
    return total / max(count, 1)


def _length_buckets(pairs: Sequence[tuple[int, list[int]]], batch_size: int, generator: torch.Generator,
                    pool: int = 32) -> list[list[int]]:
    """Shuffled batches of descriptions of similar length: a random order, cut into pools of
    ``pool`` batches, each pool sorted by length and cut into batches, the batches shuffled. A
    batch is padded to its longest description, so mixing 2-word and 15-word descriptions made
    most of each step padding.

    >>> g = torch.Generator().manual_seed(0)
    >>> pairs = [(i, [1] * (1 + i % 5)) for i in range(40)]
    >>> batches = _length_buckets(pairs, 4, g, pool=10)
    >>> sorted(i for b in batches for i in b) == list(range(40)), max(len({len(pairs[i][1]) for i in b}) for b in batches)
    (True, 1)
    """
    order = torch.randperm(len(pairs), generator=generator).tolist()
    step = batch_size * pool
    batches = []
    for lo in range(0, len(order), step):
        chunk = sorted(order[lo: lo + step], key=lambda i: len(pairs[i][1]))
        batches += [chunk[j: j + batch_size] for j in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def _save_checkpoint(path: Path, cap: Captioner, optimizer, epoch: int, history, best_state, best_bleu, best_epoch,
                     bad_epochs, stopped, generator, settings, lm_losses) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "captioner": cap.state_dict(),
        "best": best_state, "optimizer": optimizer.state_dict(), "epoch": epoch, "history": history,
        "best_bleu": best_bleu, "best_epoch": best_epoch, "bad_epochs": bad_epochs, "stopped": stopped,
        "rng": torch.get_rng_state(), "generator": generator.get_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "settings": settings, "lm_losses": lm_losses,
    }
    from ..files import temp_path

    tmp = temp_path(path)
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, settings: dict) -> dict:
    state = read_checkpoint(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a neuronlabel training checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} is a version {state.get('version')!r} training checkpoint; this neuronlabel "
                              f"resumes version {CHECKPOINT_VERSION} only. Start a new run in another folder")
    saved = state.get("settings", {})
    differ = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
    if differ:
        what = ", ".join(differ)
        raise CheckpointError(f"{path} is for another run: {what} differ. Resume with the same data and settings, "
                              "or use a new checkpoint_dir")
    return state
