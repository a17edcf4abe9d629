"""Samplers choose which k architectures to measure on a target (and, optionally, the source set).

``--sampling_metric`` picks what the choice looks at:

- ``random``: uniform without replacement;
- scalar metrics ``params``, ``flops``, ``latency`` (the target's own latency: an oracle upper
  reference) and ``accuracy`` (NB201 CIFAR-10 test accuracy): sort the pool by the metric, cut it
  into k equal buckets and pick one random member of each;
- vector metrics, any encoding (``zcp``, ``arch2vec``, ``cate``, ``a2vcatezcp``, ``pf``):
  use ``--sampling_method`` (``kmeans``, ``kmeans_random``, ``cosine``, ``cosine_greedy``,
  ``kmeancosine`` or ``kmeancosine_random``).

Every sampler returns k distinct indices from the pool. Three registries take new ones:
``register_sampler`` (a whole sampler ``(pool, k, rng, context) -> indices``, e.g. an
experimental design that looks at the predictor through ``context.predictor`` / ``context.state``),
``SCALAR_METRICS`` (a value per architecture, sampled by buckets) and ``VECTOR_METHODS`` (how
vector metrics choose). See ``docs/extending.md``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np
from scipy.cluster.vq import kmeans2

from .encodings import list_encodings, load_encoding
from .errors import NasflatError
from .registry import Registry

SAMPLERS: Registry = Registry("sampler")
SCALAR_METRICS: Registry = Registry("sampling metric")
VECTOR_METHODS: Registry = Registry("sampling method")
register_sampler = SAMPLERS.register


@dataclass
class SamplingContext:
    """What samplers may look at: the space, for the oracle the target's latencies, and the
    predictor that the samples will feed with its pretrained state (``None`` where there is none:
    choosing the samples of a new device before any training)."""

    space: object
    target_latency: Optional[np.ndarray] = None  # [A] ms, NaN where unmeasured
    encoding_cache: Dict[str, np.ndarray] = field(default_factory=dict)  # shared across draws
    predictor: Optional[object] = None  # the FewShotPredictor of the run
    state: Optional[object] = None  # its pretrained state (what ``pretrain`` returned)

    def vectors(self, encoding: str) -> np.ndarray:
        """The encoding's vectors for every architecture (loaded once)."""
        if encoding not in self.encoding_cache:
            self.encoding_cache[encoding] = load_encoding(encoding, self.space)
        return self.encoding_cache[encoding]


def list_sampling_metrics() -> List[str]:
    """Every valid ``--sampling_metric``."""
    return SAMPLERS.names() + SCALAR_METRICS.names() + list_encodings()


def list_sampling_methods() -> List[str]:
    """Every valid ``--sampling_method`` (used with vector metrics)."""
    return VECTOR_METHODS.names()


def _check(pool: np.ndarray, k: int) -> np.ndarray:
    pool = np.asarray(pool, dtype=np.int64)
    if k > len(pool):
        raise NasflatError(f"cannot choose {k} architectures from a pool of {len(pool)}")
    if k < 1:
        raise NasflatError(f"the number of samples must be positive, got {k}")
    return pool


@register_sampler("random")
def random_sample(pool: np.ndarray, k: int, rng: np.random.Generator, context: SamplingContext) -> np.ndarray:
    """Uniform without replacement."""
    return rng.choice(pool, size=k, replace=False)


def bucket_sample(pool: np.ndarray, values: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Sort ``pool`` by ``values`` (aligned with pool), split into k equal buckets, one random pick each."""
    order = pool[np.argsort(values, kind="stable")]
    return np.array([rng.choice(bucket) for bucket in np.array_split(order, k)], dtype=np.int64)


@SCALAR_METRICS.register("params")
def _params(context: SamplingContext, pool: np.ndarray) -> np.ndarray:
    return context.space.params[pool]


@SCALAR_METRICS.register("flops")
def _flops(context: SamplingContext, pool: np.ndarray) -> np.ndarray:
    return context.space.flops[pool]


@SCALAR_METRICS.register("latency")
def _latency(context: SamplingContext, pool: np.ndarray) -> np.ndarray:
    if context.target_latency is None:
        raise NasflatError("the latency sampler (an oracle) needs the target device's latencies")
    values = context.target_latency[pool]
    if np.isnan(values).any():
        raise NasflatError("the latency sampler was given unmeasured architectures")
    return values


@SCALAR_METRICS.register("accuracy")
def _accuracy(context: SamplingContext, pool: np.ndarray) -> np.ndarray:
    if not hasattr(context.space, "accuracies"):
        raise NasflatError(f"the accuracy sampler needs accuracies, which {context.space.name} does not have")
    return context.space.accuracies["cifar10"].to_numpy()[pool]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator):
    """k-means (k-means++ init): centroids [k, d] and each point's cluster label."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "one of the clusters is empty": the pickers handle it
        return kmeans2(points, k, minit="++", seed=rng)


@VECTOR_METHODS.register("kmeans")
def kmeans_pick(vectors: np.ndarray, pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means on the pool; the member nearest each centroid (distinct ones)."""
    points = vectors[pool].astype(np.float64)
    centroids, _ = _kmeans(points, k, rng)
    chosen: List[int] = []
    for centroid in centroids:
        distances = np.linalg.norm(points - centroid, axis=1)
        distances[chosen] = np.inf
        chosen.append(int(np.argmin(distances)))
    return pool[np.array(chosen, dtype=np.int64)]


@VECTOR_METHODS.register("kmeans_random")
def kmeans_random_pick(vectors: np.ndarray, pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means on the pool; a random member of each cluster (a random unused member of the pool
    for an empty cluster). Unlike ``kmeans``, whose picks sit at the cluster centres, the picks
    spread over each cluster, extremes included."""
    points = vectors[pool].astype(np.float64)
    _, labels = _kmeans(points, k, rng)
    chosen: List[int] = []
    for cluster in range(k):
        members = np.setdiff1d(np.flatnonzero(labels == cluster), chosen)
        if len(members) == 0:
            members = np.setdiff1d(np.arange(len(pool)), chosen)
        chosen.append(int(rng.choice(members)))
    return pool[np.array(chosen, dtype=np.int64)]


@VECTOR_METHODS.register("cosine")
def cosine_pick(vectors: np.ndarray, pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Sort by mean cosine similarity to the whole pool; k buckets, one random pick each."""
    unit = _unit(vectors[pool].astype(np.float64))
    mean_similarity = unit @ unit.mean(axis=0)
    return bucket_sample(pool, mean_similarity, k, rng)


@VECTOR_METHODS.register("cosine_greedy")
def cosine_greedy_pick(vectors: np.ndarray, pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Start from a random member, then repeatedly add the member least similar to those chosen
    (smallest maximum cosine similarity)."""
    unit = _unit(vectors[pool].astype(np.float64))
    chosen = [int(rng.integers(len(pool)))]
    closest = unit @ unit[chosen[0]]
    for _ in range(k - 1):
        closest[chosen] = np.inf
        pick = int(np.argmin(closest))
        chosen.append(pick)
        closest = np.maximum(closest, unit @ unit[pick])
    return pool[np.array(chosen, dtype=np.int64)]


def _kmeans_then_cosine(kmeans: Callable, vectors: np.ndarray, pool: np.ndarray, k: int,
                        rng: np.random.Generator) -> np.ndarray:
    first = kmeans(vectors, pool, k // 2, rng) if k >= 2 else np.zeros(0, dtype=np.int64)
    rest = np.setdiff1d(pool, first)
    return np.concatenate([first, cosine_pick(vectors, rest, k - len(first), rng)])


@VECTOR_METHODS.register("kmeancosine")
def kmeancosine_pick(vectors: np.ndarray, pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k//2 from ``kmeans`` (centre members), the rest from the cosine sampler on the remaining pool."""
    return _kmeans_then_cosine(kmeans_pick, vectors, pool, k, rng)


@VECTOR_METHODS.register("kmeancosine_random")
def kmeancosine_random_pick(vectors: np.ndarray, pool: np.ndarray, k: int,
                            rng: np.random.Generator) -> np.ndarray:
    """k//2 from ``kmeans_random`` (random members), the rest from the cosine sampler."""
    return _kmeans_then_cosine(kmeans_random_pick, vectors, pool, k, rng)


def build_sampler(metric: str, method: str = "kmeancosine") -> Callable:
    """A function ``(pool, k, rng, context) -> k distinct indices`` for the metric and method.

    Unknown names raise an error listing the valid ones; vector metrics whose encoding is not
    available fail when first used.
    """
    if metric in SAMPLERS:
        choose = SAMPLERS.get(metric)

        def sample(pool, k, rng, context):
            return choose(_check(pool, k), k, rng, context)
        return sample
    if metric in SCALAR_METRICS:
        values_of = SCALAR_METRICS.get(metric)

        def sample(pool, k, rng, context):
            pool = _check(pool, k)
            return bucket_sample(pool, values_of(context, pool), k, rng)
        return sample
    if metric in list_encodings():
        pick = VECTOR_METHODS.get(method)

        def sample(pool, k, rng, context):
            pool = _check(pool, k)
            return pick(context.vectors(metric), pool, k, rng)
        return sample
    raise NasflatError(
        f"unknown sampling metric '{metric}'; valid: {', '.join(list_sampling_metrics())}"
    )


#: Stream number that keeps new-device draws apart from the experiment's own seed sequences.
NEW_DEVICE_STREAM = 7_000_001


def choose_new_device_samples(space, k: int, metric: str = "flops", method: str = "kmeancosine",
                              seed: int = 0, pool: Optional[np.ndarray] = None) -> np.ndarray:
    """The k architectures to measure on a device with no measurements yet, sorted.

    The sampler runs over the whole space with a generator seeded by (seed, k) only, so the
    trainer's ``--choose_samples``, ``measure --sampler`` and the transfer on a measured device
    file all name the same architectures. ``pool``, when given, restricts the choice to those
    architectures (a published table's measured ones), with the same seeding. The latency sampler
    (an oracle) cannot be used here.
    """
    if metric == "latency":
        raise NasflatError(
            "the latency sampler is an oracle (it needs the device's latencies); choose the samples "
            "of a new device with flops, params, random, accuracy (nb201) or an encoding"
        )
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(k), NEW_DEVICE_STREAM]))
    pool = np.arange(space.num_archs, dtype=np.int64) if pool is None else np.unique(np.asarray(pool, dtype=np.int64))
    chosen = build_sampler(metric, method)(pool, k, rng, SamplingContext(space))
    return np.sort(np.asarray(chosen, dtype=np.int64))
