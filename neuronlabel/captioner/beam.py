"""Batched beam search and greedy decoding in plain torch, many units at once.

>>> import torch
>>> from neuronlabel.captioner.decoder import Decoder
>>> dec = Decoder(vocab_size=9, feature_size=4, hidden_size=8, attention_hidden_size=8).eval()
>>> found = beam_search(dec, torch.randn(3, 5, 4), beam_size=2, max_length=4)
>>> len(found), len(found[0]), type(found[0][0][0]), type(found[0][0][1])
(3, 2, <class 'list'>, <class 'float'>)

A hypothesis' score is ``log p(w_1 .. w_n, <end> | E)``: every step's log-probability,
including the ``<end>`` step. ``<end>`` is forbidden before ``min_length`` words and forced
after ``max_length`` words, and ``<pad>``, ``<start>`` and ``<unk>`` are never produced.
Finished hypotheses stay in the beam with their final score and compete with the open ones,
so with a wide enough beam the result is exactly the exhaustive optimum. The first step
runs once per unit (all beams start equal); units whose beams are all finished leave the
batch, so a batch costs as many steps as its longest description, not ``max_length``; finished
hypotheses skip the gate, LSTM and output layer of the steps after they end.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import InputError
from .vocab import Vocabulary

NEG_INF = float("-inf")


@torch.no_grad()
def beam_search(decoder, features: Tensor, mask: Tensor | None = None, beam_size: int = 5,
                max_length: int = 30, min_length: int = 1,
                banned: tuple[int, ...] = (Vocabulary.pad, Vocabulary.start, Vocabulary.unk),
                follow_bans: dict[int, list[int]] | None = None) -> list[list[tuple[list[int], float]]]:
    """For each unit, up to ``beam_size`` ``(token ids, log-prob)`` pairs, best first.

    >>> from neuronlabel.captioner.decoder import Decoder
    >>> dec = Decoder(vocab_size=7, feature_size=3, hidden_size=8, attention_hidden_size=8).eval()
    >>> [len(ids) <= 3 for ids, _ in beam_search(dec, torch.randn(1, 2, 3), max_length=3)[0]]
    [True, True, True, True, True]

    ``features`` is ``[U, M, D]`` on the decoder's device, ``mask`` ``[U, M]`` (True = real
    key). Token ids exclude ``<start>`` and ``<end>``. Call with the decoder in eval mode.
    ``follow_bans`` maps a token id to the ids that may not come right after it
    (:meth:`Vocabulary.follow_bans`); ``<end>`` after ``max_length`` words stays allowed.
    """
    if beam_size < 1:
        raise InputError(f"beam_size must be >= 1, got {beam_size}")
    if max_length < 1 or min_length < 0 or min_length > max_length:
        raise InputError(f"need 0 <= min_length <= max_length and max_length >= 1; got min_length={min_length}, "
                         f"max_length={max_length}")
    units = features.shape[0]
    results: list[list[tuple[list[int], float]]] = [[] for _ in range(units)]
    if units == 0:
        return results
    device = features.device
    vocab_size = decoder.output.out_features
    pad, end = Vocabulary.pad, Vocabulary.end
    b = beam_size

    state = decoder.start(features, mask)
    width = 1
    scores = torch.zeros((units, width), device=device, dtype=features.dtype)
    tokens = torch.full((units,), Vocabulary.start, dtype=torch.long, device=device)
    history = torch.empty((units, width, 0), dtype=torch.long, device=device)
    finished = torch.zeros((units, width), dtype=torch.bool, device=device)
    alive = torch.arange(units, device=device)
    banned_ids = torch.tensor(sorted(set(banned)), dtype=torch.long, device=device)
    ban_row = ban_rows = None
    if follow_bans:
        ban_row = torch.full((vocab_size,), -1, dtype=torch.long, device=device)
        ban_rows = torch.zeros((len(follow_bans), vocab_size), dtype=torch.bool, device=device)
        for r, (prev, nexts) in enumerate(follow_bans.items()):
            ban_row[prev] = r
            ban_rows[r, torch.as_tensor(list(nexts), dtype=torch.long)] = True

    for step in range(1, max_length + 2):
        open_rows = (~finished).reshape(-1).nonzero().squeeze(1)
        if len(open_rows) == tokens.shape[0]:
            logp, state, _ = decoder.step(tokens, state)
            logp = logp.view(-1, width, vocab_size).clone()
        else:
            part, state, _ = decoder.step(tokens, state, rows=open_rows)
            logp = part.new_full((tokens.shape[0], vocab_size), NEG_INF).index_copy_(0, open_rows, part)
            logp = logp.view(-1, width, vocab_size)
        logp[:, :, banned_ids] = NEG_INF
        if ban_row is not None and step <= max_length:
            r = ban_row.index_select(0, tokens).view(-1, width)
            hit = r >= 0
            if bool(hit.any()):
                logp[hit] = logp[hit].masked_fill(ban_rows.index_select(0, r[hit]), NEG_INF)
        if step <= min_length:
            logp[:, :, end] = NEG_INF
        if step == max_length + 1:
            keep = logp[:, :, end].clone()
            logp.fill_(NEG_INF)
            logp[:, :, end] = keep
        logp[finished] = NEG_INF
        logp[:, :, pad] = torch.where(finished, 0.0, NEG_INF)

        candidates = (scores.unsqueeze(-1) + logp).view(-1, width * vocab_size)
        if candidates.shape[1] < b:
            candidates = torch.cat([candidates, candidates.new_full((candidates.shape[0], b - candidates.shape[1]),
                                                                    NEG_INF)], dim=1)
        top, flat = candidates.topk(b, dim=-1)
        origin, word = (flat // vocab_size).clamp_max(width - 1), flat % vocab_size
        was_finished = finished.gather(1, origin)
        finished = was_finished | (word == end) | torch.isinf(top)
        scores = top
        history = torch.cat([history.gather(1, origin.unsqueeze(-1).expand(-1, -1, history.shape[-1])),
                             word.unsqueeze(-1)], dim=-1)
        rows = (torch.arange(len(alive), device=device).unsqueeze(1) * width + origin).reshape(-1)
        state = state.reorder(rows)
        width = b
        tokens = word.reshape(-1)

        done = finished.all(dim=1)
        if bool(done.any()):
            for i in done.nonzero().flatten().tolist():
                results[int(alive[i])] = _collect(history[i], scores[i])
            keep_units = (~done).nonzero().flatten()
            if len(keep_units) == 0:
                break
            rows = (keep_units.unsqueeze(1) * b + torch.arange(b, device=device)).reshape(-1)
            state, tokens = state.select(rows, keep_units), tokens.index_select(0, rows)
            alive, scores = alive.index_select(0, keep_units), scores.index_select(0, keep_units)
            history, finished = history.index_select(0, keep_units), finished.index_select(0, keep_units)
    return results


def _collect(history: Tensor, scores: Tensor) -> list[tuple[list[int], float]]:
    out = []
    for seq, score in zip(history.tolist(), scores.tolist()):
        if score == NEG_INF:
            continue
        ids = [t for t in seq if t not in (Vocabulary.pad, Vocabulary.end)]
        out.append((ids, float(score)))
    return out


def greedy(decoder, features: Tensor, mask: Tensor | None = None, max_length: int = 30,
           min_length: int = 1) -> list[tuple[list[int], float]]:
    """The most likely next word at each step, for every unit at once: ``(ids, log-prob)``.

    >>> from neuronlabel.captioner.decoder import Decoder
    >>> dec = Decoder(vocab_size=7, feature_size=3, hidden_size=8, attention_hidden_size=8).eval()
    >>> len(greedy(dec, torch.randn(4, 2, 3), max_length=3))
    4
    """
    return [found[0] for found in beam_search(decoder, features, mask, 1, max_length, min_length)]


@torch.no_grad()
def sequence_logprob(decoder, features: Tensor, sequences: list[list[int]], mask: Tensor | None = None) -> Tensor:
    """Teacher-forced ``log p(w_1 .. w_n, <end> | E)`` of one sequence per unit, as ``[U]``.

    >>> from neuronlabel.captioner.decoder import Decoder
    >>> dec = Decoder(vocab_size=7, feature_size=3, hidden_size=8, attention_hidden_size=8).eval()
    >>> sequence_logprob(dec, torch.randn(2, 2, 3), [[4, 5], [6]]).shape
    torch.Size([2])
    """
    tokens, targets, valid = _teacher_batch(sequences, features.device)
    logp, _ = decoder(features, tokens, mask)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return (picked * valid).sum(dim=1)


def _teacher_batch(sequences: list[list[int]], device) -> tuple[Tensor, Tensor, Tensor]:
    longest = max((len(s) for s in sequences), default=0)
    tokens = torch.full((len(sequences), longest + 2), Vocabulary.pad, dtype=torch.long)
    for i, seq in enumerate(sequences):
        tokens[i, : len(seq) + 2] = torch.tensor([Vocabulary.start, *seq, Vocabulary.end])
    tokens = tokens.to(device)
    targets = tokens[:, 1:]
    return tokens, targets, (targets != Vocabulary.pad).to(torch.float32)
