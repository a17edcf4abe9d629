"""The 13 zero-cost proxies of every NAS-Bench-201 cell, computed here, cached and resumable.

Cells that compute the same function share one computation: a cell's edges off every
input-to-output path and its ``none`` edges are dropped, and when the edge 1->2 is absent the two
middle nodes are interchangeable, so the smaller of the two orderings represents the cell. Each
representative is scored once, with a network initialised from a seed derived from it, and its
scores go to all its cells; ``params`` and ``flops`` are each cell's own (dead ends included).

The work is saved every few dozen representatives (atomically), so an interrupted build resumes
where it stopped. Validation: :func:`naslib_agreement` compares the scores with the 725 cells of
NASLib's partial ``zc_nasbench201.json`` (computed on CIFAR-10 batches, not synthetic ones).
"""
from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch
from scipy import stats
from tqdm import tqdm

from ...array_cache import cache_path, cached_arrays, read_arrays, write_arrays
from ...errors import DataError, NasflatError
from ...zero_cost_proxies import ZCP_NAMES, ProxyBatch, compute_proxies, proxy_vector
from .cells import ops_key, representative_cells
from .network import NB201_OPS, build_nb201_network

NASLIB_ZCP_FILE = "NASLib/naslib/data/zc_nasbench201.json"
#: Bumped whenever the proxy definitions or the batch change, so old caches are not reused.
PROXY_VERSION = "zcp-v1-b16-l4"
SAVE_EVERY = 50


def _score_cell(ops: np.ndarray, batch: ProxyBatch, seed: int) -> np.ndarray:
    torch.manual_seed(seed)
    network = build_nb201_network([NB201_OPS[o] for o in ops])
    return proxy_vector(compute_proxies(network, batch, network.global_pool, flops=0.0))


def nb201_raw_zcp(space, progress: bool = True, cache_dir: Optional[Path] = None, seed: int = 0,
                  limit: Optional[int] = None, build_missing: bool = True, workers: int = 1) -> np.ndarray:
    """Raw proxies [15625, 13] (``ZCP_NAMES`` order) of every cell, building what is missing.

    Networks are scored with one torch thread each, in ``workers`` processes; the numbers are the
    same for any count. ``limit`` scores only the first ``limit`` representatives (for tests and timing); the other
    rows are then NaN and nothing final is cached. With ``build_missing=False`` a table that is not
    complete raises an error that says how to build it."""
    representatives = representative_cells(space.op_matrix, space.graphs.node_mask[:, 1:-1])
    unique, inverse = np.unique(representatives, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    key = f"{space.data_dir.content_key([space.graph_source_file])}-{PROXY_VERSION}-s{seed}"

    def build() -> Dict[str, np.ndarray]:
        scores = _score_representatives(unique, key, progress, cache_dir, seed, limit, workers)
        return {"scores": scores}

    if limit is not None:
        scores = build()["scores"]
    elif not build_missing and not cache_path("nb201-zcp", key, cache_dir).is_file():
        raise NasflatError(
            "the NB201 zero-cost proxies are not built yet: run python -m nas_embedding_suite encode "
            "--space nb201 --kind zcp [--workers N] (about 1.5 hours on two CPU cores; resumable)")
    else:
        scores = cached_arrays("nb201-zcp", key, build, cache_dir)["scores"]
    raw = scores[inverse].copy()
    raw[:, ZCP_NAMES.index("params")] = space.params
    raw[:, ZCP_NAMES.index("flops")] = space.flops
    return raw


_WORKER_BATCH: Optional[ProxyBatch] = None


def _start_worker(seed: int) -> None:
    global _WORKER_BATCH
    torch.set_num_threads(1)
    _WORKER_BATCH = ProxyBatch.synthetic(seed=seed)


def _score_job(job):
    row, ops, cell_seed = job
    return row, _score_cell(ops, _WORKER_BATCH, cell_seed)


def _score_representatives(unique: np.ndarray, key: str, progress: bool, cache_dir: Optional[Path],
                           seed: int, limit: Optional[int], workers: int = 1) -> np.ndarray:
    partial_path = cache_path("nb201-zcp-partial", key, cache_dir)
    stored = read_arrays(partial_path) if partial_path.is_file() else None
    if stored is not None and stored["scores"].shape == (len(unique), len(ZCP_NAMES)):
        scores, done = stored["scores"], stored["done"]
    else:
        scores = np.full((len(unique), len(ZCP_NAMES)), np.nan)
        done = np.zeros(len(unique), dtype=bool)
    todo = np.flatnonzero(~done)
    if limit is not None:
        todo = todo[todo < limit]
    jobs = [(row, unique[row], seed * 100003 + ops_key(unique[row])) for row in todo]
    pool, threads = None, torch.get_num_threads()
    torch.set_num_threads(1)  # one thread everywhere: the same float sums for any worker count
    if workers > 1 and len(jobs) > 1:
        pool = multiprocessing.get_context("spawn").Pool(workers, _start_worker, (seed,))
        results = pool.imap_unordered(_score_job, jobs, chunksize=4)
    else:
        batch = ProxyBatch.synthetic(seed=seed)
        results = ((row, _score_cell(ops, batch, s)) for row, ops, s in jobs)
    bar = tqdm(results, desc="NB201 zero-cost proxies", unit="cell", disable=not progress,
               initial=int(done.sum()), total=int(done.sum()) + len(todo))
    try:
        for count, (row, vector) in enumerate(bar, start=1):
            scores[row] = vector
            done[row] = True
            if count % SAVE_EVERY == 0 or count == len(todo):
                try:
                    write_arrays(partial_path, {"scores": scores, "done": done})
                except OSError:
                    pass  # a read-only cache folder: no resume, the result is still returned
    finally:
        torch.set_num_threads(threads)
        if pool is not None:
            pool.terminate()
    if done.all() and partial_path.is_file():
        partial_path.unlink()
    return scores


def read_naslib_zcp(space, dataset: str = "cifar10") -> Dict[int, Dict[str, float]]:
    """NASLib's partial proxy file: ``{cell index: {proxy: score}}`` (725 cells per dataset)."""
    path = space.data_dir.file(NASLIB_ZCP_FILE)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))[dataset]
    except (ValueError, UnicodeDecodeError, KeyError) as exc:
        raise DataError(f"{path} is not NASLib's zero-cost-proxy JSON ({exc})") from None
    table = {}
    for text, entry in records.items():
        try:
            naslib_ops = tuple(int(t) for t in text.strip("()").split(","))
            table[space.index_of_naslib_tuple(naslib_ops)] = {
                name: float(value["score"]) for name, value in entry.items()
                if isinstance(value, dict) and "score" in value}
        except (ValueError, TypeError):
            raise DataError(f"{path}: malformed entry {text!r:.40}") from None
    return table


def naslib_agreement(space, raw: np.ndarray) -> Dict[str, float]:
    """Spearman between our raw proxies and NASLib's, per proxy, over the cells both have."""
    table = read_naslib_zcp(space)
    indices = np.array(sorted(table))
    result = {}
    for column, name in enumerate(ZCP_NAMES):
        theirs = np.array([table[i].get(name, np.nan) for i in indices])
        ours = raw[indices, column]
        keep = np.isfinite(theirs) & np.isfinite(ours)
        if keep.sum() > 2:
            result[name] = float(stats.spearmanr(ours[keep], theirs[keep])[0])
    return result
