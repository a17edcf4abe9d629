"""Pretrained weights kept on disk, so that runs differing only after pretraining share it.

Pretraining is most of a run's cost (an FBNet trial: minutes of pretraining, seconds per
fine-tune), yet many experiments change only what happens after it: other k values, fine-tuning
settings, the evaluation protocol (and the target sampler, when it does not also pick the source
archs: ``--no-source_sampon``). A :class:`PretrainedStore` saves
each (settings, trial, source size) pretraining once and hands it back to any later run whose
pretraining would be the same computation.

The key hashes everything that can change the pretrained numbers: every setting of the
:class:`~correlation_trainer.experiment.ExperimentConfig` except those used only after
pretraining, the trial and source size, the task's source devices and its number of targets, a
hash of the source devices' latency targets and the per-architecture inputs (not the targets':
every device file of a task reuses one pretraining), the number of torch CPU threads (it changes float sums), and the source
code of ``correlation_trainer`` and ``nas_embedding_suite`` (any edit of either package starts a
fresh set of keys). Fine-tuning seeds its own random streams, so a run
that reuses a stored pretraining gives exactly the numbers it would have computed.

Files: ``<folder>/<key>.pt`` (the state dict, ``torch.save``; read back with
``weights_only=True``) and ``<folder>/<key>.json`` (the settings it was made with), both written
atomically.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Dict, Optional

import torch

from nas_embedding_suite.output_files import atomic_write_bytes
from nas_embedding_suite.safe_loading import load_torch_file

from .code_version import code_fingerprint

#: Settings that do not change one pretraining: the list of source sizes (each pretraining's own
#: size enters the key), the ensemble size (each member's index does) and those used only after
#: it (fine-tuning, target samples, evaluation).
AFTER_PRETRAINING = ("sample_sizes", "transfer_sample_sizes", "transfer_lr", "transfer_epochs",
                     "transfer_batch_size", "transfer_hwemb", "sample_seed_size", "eval_protocol",
                     "ensemble_size")
def data_fingerprint(data) -> str:
    """Hash of the arrays a pretraining reads beyond the code: the latency targets of the source
    devices (never the target devices': every target file of a task shares one pretraining) and
    the per-arch and per-node inputs (an encoding file a user replaced changes it)."""
    digest = hashlib.sha256()
    sources = data.targets[data.source_devices]
    for array in (sources, data.supplementary, data.node_features):
        if array is not None:
            values = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else array
            digest.update(str(values.shape).encode())
            digest.update(values.tobytes())
    return digest.hexdigest()[:16]


def pretraining_settings(config, trial: int, source_size: int, data, member: int = 0) -> Dict[str, object]:
    """What determines one pretraining: the config minus the after-pretraining settings (and the
    target sampler, unless it also picks the source archs), plus trial, source size, ensemble
    member (when above 0), the task's source devices, the number of target devices (the
    hardware-embedding table has a row for each, so their count changes the initialisation, their
    names and latencies do not), the sources' data fingerprint, threads and the code fingerprint."""
    settings = config.settings()
    for name in AFTER_PRETRAINING:
        settings.pop(name)
    if member > 0:  # member 0 of an ensemble is the single model: it shares that model's key
        settings["member"] = member
    if not config.source_sampon:
        settings.pop("sampling_metric")
        settings.pop("sampling_method")
    settings.update(trial=trial, source_size=source_size, devices=list(data.task.train),
                    target_rows=len(data.task.test),
                    data=data_fingerprint(data), threads=torch.get_num_threads(), code=code_fingerprint())
    return settings


def _is_state_dict(state) -> bool:
    return isinstance(state, dict) and bool(state) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())


class PretrainedStore:
    """A folder of pretrained state dicts keyed by :func:`pretraining_settings`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @staticmethod
    def key(settings: Dict[str, object]) -> str:
        """The file stem of the pretraining with these :func:`pretraining_settings`."""
        text = json.dumps(settings, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.pt"

    def load(self, key: str) -> Optional[Dict[str, torch.Tensor]]:
        """The stored state dict, or None when there is none (a malformed file is an error naming it)."""
        path = self.path(key)
        return load_torch_file(path) if path.exists() else None

    def save(self, key: str, state, settings: Dict[str, object]) -> bool:
        """Store ``state`` if it is a state dict (other predictors' states are cheap and not kept)."""
        if not _is_state_dict(state):
            return False
        buffer = io.BytesIO()
        torch.save({name: value.detach().cpu() for name, value in state.items()}, buffer)
        atomic_write_bytes(self.path(key), lambda stream: stream.write(buffer.getvalue()))
        text = json.dumps(settings, sort_keys=True, indent=1, default=list)
        atomic_write_bytes(self.folder / f"{key}.json", lambda stream: stream.write(text.encode()))
        return True
