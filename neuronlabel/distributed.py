"""Probe and label on several processes with torch.distributed (started by ``torchrun``).

>>> # torchrun --nproc_per_node 4 my_script.py, where my_script.py does:
>>> from neuronlabel.distributed import probe_distributed, label_model_distributed
>>> result = probe_distributed(net, "photos/", ["layer4"])          # doctest: +SKIP
>>> report = label_model_distributed(net, ["layer4"], "photos/")    # doctest: +SKIP

Each rank probes every ``world``-th image (ids stay global), the per-unit top-k and
quantile states are gathered and merged in rank order on every rank (exactly the
single-process top-k; thresholds within the sketch's bound), rank 0 runs the evidence stage,
the units that need the captioner are then captioned in shards (unit ``u`` on rank
``u % world``), and rank 0 assembles the report (other ranks get ``None``). The process
group is created from torchrun's environment when none exists: NCCL when the model is on
CUDA, Gloo otherwise.
"""

from __future__ import annotations

import os
import time
from typing import Optional

import torch
import torch.distributed as dist
from torch import nn

from .errors import InputError
from .labeling import _captioner, build_report, describe_units
from .probing import ProbeResult, probe


def _model_device(net: nn.Module) -> torch.device:
    param = next(net.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def ensure_process_group(net: Optional[nn.Module] = None) -> tuple[int, int]:
    """``(rank, world_size)``, initialising the default group from torchrun's variables if needed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise InputError("no torch.distributed process group and no RANK/WORLD_SIZE in the environment; start the "
                         "script with torchrun (e.g. torchrun --nproc_per_node 2 script.py) or call "
                         "torch.distributed.init_process_group first")
    cuda = net is not None and _model_device(net).type == "cuda"
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cpu(v) for v in obj]
    return obj


def probe_distributed(net: nn.Module, images=None, layers=(), **kwargs) -> ProbeResult:
    """:func:`neuronlabel.probe` sharded over the ranks; every rank returns the merged result.

    ``checkpoint`` (if given) gets a ``.rank<r>`` suffix so each rank resumes its own shard.
    """
    rank, world = ensure_process_group(net)
    if "indices" in kwargs:
        raise InputError("probe_distributed chooses each rank's images itself; do not pass indices")
    from .sources import as_source

    source = as_source(images, net, kwargs.pop("transform", None))
    checkpoint = kwargs.pop("checkpoint", None)
    if checkpoint is not None:
        checkpoint = f"{checkpoint}.rank{rank}"
    progress = kwargs.pop("progress", True) and rank == 0
    local = probe(net, source, layers, indices=range(rank, len(source), world), checkpoint=checkpoint,
                  progress=progress, **kwargs)
    states = [None] * world
    dist.all_gather_object(states, _cpu(local.state_dict()))
    device = next(iter(local.values())).maps.device
    merged = ProbeResult.from_state(states[0], device=device, source=source)
    for state in states[1:]:
        merged.merge(ProbeResult.from_state(state, device=device))
    merged.meta = dict(local.meta, world_size=world)
    return merged


def label_model_distributed(net: nn.Module, layers, images=None, *, captioner=None, beam_size=None,
                            model_name: Optional[str] = None, evidence: bool = True, rerank: bool = True,
                            caption_uncertain: bool = False, **probe_kwargs):
    """:func:`neuronlabel.label_model` on all ranks: sharded probe, sharded captions; rank 0 gets the report.

    Rank 0 runs the evidence stage over every unit (its layer baselines need all of them) and tells
    the others which units still need the captioner (see ``caption_uncertain`` in
    :func:`~neuronlabel.label_model`); those are captioned in shards.
    """
    from .evidence.labels import apply_evidence
    from .labeling import _captioned, _evidence, _LazyFeatures, exemplar_images

    t0 = time.perf_counter()
    result = probe_distributed(net, images, layers, **probe_kwargs)
    t_probe = time.perf_counter() - t0
    rank, world = dist.get_rank(), dist.get_world_size()
    cap = _captioner(captioner, next(iter(result.values())).maps.device)
    shown = exemplar_images(result)
    features = _LazyFeatures(cap, shown[1], 32)
    evidenced, t_evidence = _evidence(net, result, None, shown, features, evidence and rank == 0)
    todo = [_captioned(result, None, evidenced, rerank, caption_uncertain)]
    dist.broadcast_object_list(todo, src=0)
    mine = describe_units(result, cap, beam_size=beam_size, shard=(rank, world), images=shown, features=features,
                          units=todo[0])
    gathered = [None] * world if rank == 0 else None
    dist.gather_object(mine, gathered, dst=0)
    if rank != 0:
        return None
    described = {key: value for part in gathered for key, value in part.items()}
    t_caption = time.perf_counter() - t0 - t_probe - t_evidence
    if evidence:
        t1 = time.perf_counter()
        described = apply_evidence(described, evidenced, rerank_candidates=rerank)
        t_evidence += time.perf_counter() - t1
    seconds = {"probe": round(t_probe, 2), "caption": round(t_caption, 2), "evidence": round(t_evidence, 2)}
    report = build_report(result, described, cap, {}, model_name or type(net).__name__, seconds, images=shown,
                          evidence=evidenced)
    report.meta["world_size"] = world
    report.net = net
    return report
