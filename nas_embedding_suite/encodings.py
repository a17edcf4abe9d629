"""Per-architecture supplementary vectors (encodings) used as model inputs and by samplers.

Available now: ``zcp`` (13 zero-cost proxies; FBNet from NASFLAT's published file) and ``pf``
(log parameter count and log FLOPs from the project's analytic costs). The learned encodings
``arch2vec``, ``cate`` and their concatenation ``a2vcatezcp`` are named here so that every caller
gets one clear error until they are built.
"""
from __future__ import annotations

import json
from typing import Callable, Dict, List

import numpy as np

from .errors import DataError, NasflatError
from .registry import Registry

ENCODINGS: Registry = Registry("encoding")
ZCP_NAMES = [
    "epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "params",
    "plain", "snip", "synflow", "zen",
]
_MINMAX = {"epe_nas", "jacov", "l2_norm", "nwot", "plain", "zen"}
_LOG_MINMAX = {"fisher", "flops", "grad_norm", "params", "snip", "synflow"}
_ZSCORE = {"grasp"}
FBNET_ZCP_FILE = "nasflat_latency/fbnet_zcp/zc_fbnet.json"


def list_encodings() -> List[str]:
    """Names of the encodings (available or not yet built)."""
    return ENCODINGS.names()


def load_encoding(name: str, space) -> np.ndarray:
    """The encoding ``name`` of every architecture of ``space``: float32 [A, d]."""
    vectors = ENCODINGS.get(name)(space)
    return np.asarray(vectors, dtype=np.float32)


def _minmax(column: np.ndarray) -> np.ndarray:
    span = column.max() - column.min()
    return (column - column.min()) / span if span > 0 else np.zeros_like(column)


def normalise_zcp(raw: np.ndarray) -> np.ndarray:
    """Normalise proxies [A, 13] (columns in ``ZCP_NAMES`` order) as the NASFLAT spec says."""
    out = np.empty_like(raw, dtype=np.float64)
    for i, name in enumerate(ZCP_NAMES):
        column = raw[:, i].astype(np.float64)
        if name in _LOG_MINMAX:
            # sign-preserving log1p: identical to log1p for the (positive) published values
            out[:, i] = _minmax(np.sign(column) * np.log1p(np.abs(column)))
        elif name in _ZSCORE:
            std = column.std()
            out[:, i] = (column - column.mean()) / std if std > 0 else 0.0
        else:
            out[:, i] = _minmax(column)
    return out


def read_fbnet_zcp(space) -> np.ndarray:
    """Raw proxies [5000, 13] of FBNet in ``arch.pt`` order, matched by the choice-id key."""
    path = space.data_dir.file(FBNET_ZCP_FILE)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON: {' '.join(str(exc).split())[:120]}") from None
    raw = np.full((space.num_archs, len(ZCP_NAMES)), np.nan)
    for key, proxies in records.items():
        index = space.index_of_key(key)
        if index < 0:
            continue
        try:
            raw[index] = [float(proxies[n]) for n in ZCP_NAMES]
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: entry {key} lacks one of the 13 proxies") from None
    if np.isnan(raw).any():
        missing = int(np.isnan(raw).any(axis=1).sum())
        raise DataError(f"{path} has no (finite) proxies for {missing} FBNet architectures")
    return raw


@ENCODINGS.register("zcp")
def zcp_encoding(space) -> np.ndarray:
    """13 normalised zero-cost proxies."""
    if space.name == "fbnet":
        return normalise_zcp(read_fbnet_zcp(space))
    raise NasflatError(
        f"the zcp encoding is not available for {space.name}: only FBNet ships a complete "
        "zero-cost-proxy file; use --representation adj_gin or adj_gin_pf"
    )


@ENCODINGS.register("pf")
def params_flops_encoding(space) -> np.ndarray:
    """log parameter count and log FLOPs, each min-max scaled to [0, 1]."""
    return np.stack([_minmax(np.log(space.params)), _minmax(np.log(space.flops))], axis=1)


def _not_built(name: str) -> Callable:
    def build(space) -> np.ndarray:
        raise NasflatError(
            f"the {name} encoding is not built in this version; available encodings: "
            + ", ".join(n for n in ("zcp", "pf"))
        )

    build.__doc__ = f"{name} (not built yet: raises a clear error)."
    return build


for _name in ("arch2vec", "cate", "a2vcatezcp"):
    ENCODINGS.register(_name)(_not_built(_name))

#: Encodings available without building anything (per space), for documentation and tests.
AVAILABLE: Dict[str, List[str]] = {"nb201": ["pf"], "fbnet": ["zcp", "pf"]}
