"""Per-architecture supplementary vectors (encodings) used as model inputs and by samplers.

- ``zcp``: 13 zero-cost proxies (the space's ``raw_proxies``), normalised as the spec says. FBNet:
  NASFLAT's published file. NB201: computed by this project (:mod:`.spaces.nb201.proxies`, about
  1.5 hours on two CPU cores, resumable); build it once with
  ``python -m nas_embedding_suite encode --space nb201 --kind zcp``.
- ``arch2vec`` (:mod:`.arch2vec`) and ``cate`` (:mod:`.cate`): 32-d vectors of encoders trained
  here, unsupervised, on every architecture of the space; built on first use (minutes) and cached.
  Upstream files (``arch2vec-model-dim_32_search_space_<space>-<space>.pt`` holding
  ``{index: {'feature': 32-d}}``, ``cate_<space>.pt`` holding ``{'embeddings': [N, 32]}``) placed in
  ``<data dir>/encodings/`` are read instead (``<space>`` is one of the space's
  ``upstream_names``, e.g. ``nb201``/``nasbench201`` or ``fbnet``; indices in the space's own
  order).
- ``a2vcatezcp`` (CAZ): arch2vec, CATE and the proxies side by side (77-d).
- ``pf``: log parameter count and log FLOPs from the project's analytic costs.

Every vector is cached under the cache folder (``NASFLAT_CACHE_DIR``, default ``.cache``), keyed
by the data files it derives from and the builder's settings.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from .array_cache import cache_path, cached_arrays
from .errors import DataError, NasflatError
from .registry import Registry
from .safe_loading import load_torch_file
from .zero_cost_proxies import ZCP_NAMES

ENCODINGS: Registry = Registry("encoding")
_MINMAX = {"epe_nas", "jacov", "l2_norm", "nwot", "plain", "zen"}
_LOG_MINMAX = {"fisher", "flops", "grad_norm", "params", "snip", "synflow"}
_ZSCORE = {"grasp"}
#: Bumped when the arch2vec or CATE models change, so that old cached vectors are not reused.
LEARNED_VERSION = 1


def list_encodings() -> List[str]:
    """Names of the encodings (available or not yet built)."""
    return ENCODINGS.names()


def load_encoding(name: str, space, progress: bool = True, build: bool = True) -> np.ndarray:
    """The encoding ``name`` of every architecture of ``space``: float32 [A, d].

    A missing learned encoding is built (with a progress bar unless ``progress`` is False);
    ``build=False`` raises instead. The NB201 proxies are never built here: too slow for a first
    use, the error says how to build them."""
    vectors = ENCODINGS.get(name)(space, progress=progress, build=build)
    return np.asarray(vectors, dtype=np.float32)


def _minmax(column: np.ndarray) -> np.ndarray:
    span = column.max() - column.min()
    return (column - column.min()) / span if span > 0 else np.zeros_like(column)


def normalise_zcp(raw: np.ndarray) -> np.ndarray:
    """Normalise proxies [A, 13] (columns in ``ZCP_NAMES`` order) as the NASFLAT spec says.

    A score that is not finite (NASWOT of a cell whose output does not depend on its input is
    ``log 0``) takes the column's lowest finite value first."""
    out = np.empty_like(raw, dtype=np.float64)
    for i, name in enumerate(ZCP_NAMES):
        column = raw[:, i].astype(np.float64)
        finite = np.isfinite(column)
        if not finite.all():
            column = np.where(finite, column, column[finite].min() if finite.any() else 0.0)
        if name in _LOG_MINMAX:
            # sign-preserving log1p: identical to log1p for the (positive) published values
            out[:, i] = _minmax(np.sign(column) * np.log1p(np.abs(column)))
        elif name in _ZSCORE:
            std = column.std()
            out[:, i] = (column - column.mean()) / std if std > 0 else 0.0
        else:
            out[:, i] = _minmax(column)
    return out


@ENCODINGS.register("zcp")
def zcp_encoding(space, progress: bool = True, build: bool = True) -> np.ndarray:
    """13 normalised zero-cost proxies."""
    return normalise_zcp(raw_zcp(space, progress=progress, build=False))


def raw_zcp(space, progress: bool = True, build: bool = False, workers: int = 1) -> np.ndarray:
    """The raw proxies [A, 13] of the space (:meth:`~.spaces.base.SearchSpace.raw_proxies`: FBNet's
    file, or NB201's computed table, built only if ``build``, in ``workers`` processes)."""
    return space.raw_proxies(progress=progress, build=build, workers=workers)


@ENCODINGS.register("arch2vec")
def arch2vec_encoding(space, progress: bool = True, build: bool = True) -> np.ndarray:
    """32-d arch2vec latent means (an upstream file if present, else trained here)."""
    from .arch2vec import Arch2VecSettings, build_arch2vec

    return _learned(space, "arch2vec", Arch2VecSettings(), build_arch2vec, progress, build)


@ENCODINGS.register("cate")
def cate_encoding(space, progress: bool = True, build: bool = True) -> np.ndarray:
    """32-d CATE vectors (an upstream file if present, else trained here)."""
    from .cate import CateSettings, build_cate

    return _learned(space, "cate", CateSettings(), build_cate, progress, build)


@ENCODINGS.register("a2vcatezcp")
def caz_encoding(space, progress: bool = True, build: bool = True) -> np.ndarray:
    """arch2vec, CATE and the 13 proxies concatenated (CAZ)."""
    return np.concatenate([arch2vec_encoding(space, progress, build), cate_encoding(space, progress, build),
                           zcp_encoding(space, progress, build)], axis=1)


@ENCODINGS.register("pf")
def params_flops_encoding(space, progress: bool = True, build: bool = True) -> np.ndarray:
    """log parameter count and log FLOPs, each min-max scaled to [0, 1]."""
    return np.stack([_minmax(np.log(space.params)), _minmax(np.log(space.flops))], axis=1)


def upstream_file(space, kind: str) -> Optional[Path]:
    """The user-supplied upstream file of ``kind`` (arch2vec or cate) for ``space``, if present."""
    folder = space.data_dir.root / "encodings"
    for alias in space.upstream_names or (space.name,):
        name = (f"arch2vec-model-dim_32_search_space_{alias}-{alias}.pt" if kind == "arch2vec"
                else f"cate_{alias}.pt")
        if (folder / name).is_file():
            return folder / name
    return None


def read_upstream(path: Path, kind: str, num_archs: int) -> np.ndarray:
    """Vectors [A, d] from an upstream arch2vec or CATE file (read with ``weights_only``)."""
    content = load_torch_file(path)
    try:
        if kind == "arch2vec":
            rows = [np.asarray(content[i]["feature"], dtype=np.float32).reshape(-1) for i in range(num_archs)]
            vectors = np.stack(rows)
        else:
            vectors = np.asarray(content["embeddings"], dtype=np.float32)[:num_archs]
    except (KeyError, IndexError, TypeError, ValueError):
        expected = "{index: {'feature': vector}}" if kind == "arch2vec" else "{'embeddings': [N, d]}"
        raise DataError(f"{path} is not an upstream {kind} file ({expected} for all {num_archs} archs)") from None
    if vectors.shape[0] != num_archs or not np.isfinite(vectors).all():
        raise DataError(f"{path} must hold finite vectors for all {num_archs} architectures")
    return vectors


def _learned(space, kind: str, settings, builder: Callable, progress: bool, build: bool) -> np.ndarray:
    path = upstream_file(space, kind)
    if path is not None:
        return read_upstream(path, kind, space.num_archs)
    sources = [space.graph_source_file] if space.graph_source_file else []
    digest = hashlib.sha256(repr((settings, LEARNED_VERSION)).encode()).hexdigest()[:12]
    key = f"{space.data_dir.content_key(sources)}-{digest}"
    cache_name = f"{kind}-{space.name}"
    if not build and not cache_path(cache_name, key).is_file():
        raise NasflatError(f"the {kind} encoding of {space.name} is not built yet: run "
                           f"python -m nas_embedding_suite encode --space {space.name} --kind {kind}")
    return cached_arrays(cache_name, key, lambda: {"vectors": builder(space, settings, progress)})["vectors"]
