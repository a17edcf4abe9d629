"""Samplers choose which k architectures to measure on a target (and, optionally, the source set).

``--sampling_metric`` picks what the choice looks at:

- ``random``: uniform without replacement;
- scalar metrics ``params``, ``flops``, ``latency`` (the target's own latency: an oracle upper
  reference) and ``accuracy`` (NB201 CIFAR-10 test accuracy): sort the pool by the metric, cut it
  into k equal buckets and pick one random member of each;
- vector metrics, any encoding (``zcp``, ``arch2vec``, ``cate``, ``a2vcatezcp``, ``pf``):
  use ``--sampling_method`` (``kmeans``, ``kmeans_random``, ``cosine``, ``cosine_greedy``,
  ``kmeancosine`` or ``kmeancosine_random``);
- design samplers for the linear cost model (:mod:`.experimental_design`): ``doptimal`` (greedy
  D-optimal design), ``doptimal_prior`` (greedy variance reduction under the source devices'
  coefficient prior) and ``sequential`` (measures each choice through ``context.measure`` and
  refits before choosing the next).

Every sampler returns k distinct indices from the pool. Three registries take new ones:
``register_sampler`` (a whole sampler ``(pool, k, rng, context) -> indices``, e.g. an
experimental design that looks at the predictor through ``context.predictor`` / ``context.state``),
``SCALAR_METRICS`` (a value per architecture, sampled by buckets) and ``VECTOR_METHODS`` (how
vector metrics choose). See ``docs/add_a_predictor.md``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np
from scipy.cluster.vq import kmeans2

from .cost_model import CoefficientPrior, cost_design, loo_posterior, loo_ridge, source_prior
from .encodings import list_encodings, load_encoding
from .experimental_design import greedy_d_optimal, greedy_variance_reduction
from .errors import NasflatError
from .registry import Registry

SAMPLERS: Registry = Registry("sampler")
#: architectures each source device's fit of the design prior uses (a fixed draw: the prior is a
#: mean over devices and barely moves with more, while the fit's cost grows with them)
PRIOR_ARCHS = 2000
SCALAR_METRICS: Registry = Registry("sampling metric")
VECTOR_METHODS: Registry = Registry("sampling method")
register_sampler = SAMPLERS.register


@dataclass
class SamplingContext:
    """What samplers may look at: the space, for the oracle the target's latencies, the predictor
    that the samples will feed with its pretrained state (``None`` where there is none: choosing
    the samples of a new device before any training), the source devices' latencies (free to use),
    and for samplers that measure as they choose, the target's measurement of one architecture."""

    space: object
    target_latency: Optional[np.ndarray] = None  # [A] ms, NaN where unmeasured
    encoding_cache: Dict[str, np.ndarray] = field(default_factory=dict)  # shared across draws
    predictor: Optional[object] = None  # the FewShotPredictor of the run
    state: Optional[object] = None  # its pretrained state (what ``pretrain`` returned)
    source_latency: Optional[np.ndarray] = None  # [S, A] ms of the source devices, NaN where unmeasured
    #: the target's latency (ms) of one architecture: each call spends a measurement (a table
    #: look-up on a benchmark device, real timing on this machine); only sequential samplers call it
    measure: Optional[Callable[[int], float]] = None
    prior_cache: Dict[str, object] = field(default_factory=dict)  # shared across draws

    def prior(self) -> Optional[CoefficientPrior]:
        """The linear cost model's coefficient prior from ``source_latency`` (fit once, each source
        on the archs it measured among a fixed draw of PRIOR_ARCHS; ``None`` without sources)."""
        if "prior" not in self.prior_cache:
            prior = None
            if self.source_latency is not None and len(self.source_latency):
                count = self.source_latency.shape[1]
                archs = np.random.default_rng(0).choice(count, size=min(PRIOR_ARCHS, count), replace=False)
                prior = source_prior(cost_design(self.space), self.source_latency, np.sort(archs))
            self.prior_cache["prior"] = prior
        return self.prior_cache["prior"]

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


def reads_sources(metric: str) -> bool:
    """Whether the sampler reads the source devices' latencies (its ``reads_sources`` attribute):
    only for those does a new device's choice load every benchmark device."""
    return metric in SAMPLERS and getattr(SAMPLERS.get(metric), "reads_sources", False)


def measures_while_choosing(metric: str) -> bool:
    """Whether the sampler measures as it chooses (its ``measures`` attribute): it cannot list its
    choice in advance, and ``measure --sampler`` times each choice before the next."""
    return metric in SAMPLERS and getattr(SAMPLERS.get(metric), "measures", False)

#: candidates a design sampler draws from the pool (at random, so that trials differ)
DESIGN_CANDIDATES = 2000
#: the isotropic ridge of ``doptimal`` (standardised columns): the information matrix starts at it
DESIGN_RIDGE = 1e-2
#: extra isotropic width of the source prior for the one-shot prior design, as a multiple of its
#: mean variance (the fit later chooses its own by leave-one-out; this is a middle value)
DESIGN_WIDENING = 1.0
#: measurements a sequential sampler takes from the one-shot design before it refits
SEQUENTIAL_START = 2


def _candidates(pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A random draw from the pool for a design to choose among: DESIGN_CANDIDATES archs, at most
    half of the pool (so that trials differ) and at least 4k where the pool has them."""
    size = min(DESIGN_CANDIDATES, max(len(pool) // 2, min(len(pool), 4 * k)))
    return rng.choice(pool, size=size, replace=False)


def _prior_design_state(context: SamplingContext):
    """(design, prior covariance, noise, the space's second moment) for the prior designs; an
    isotropic prior of the ridge's width where there are no sources."""
    design = cost_design(context.space)
    prior = context.prior()
    if prior is None:
        cov, noise = np.eye(design.shape[1]) / DESIGN_RIDGE, 1.0
    else:
        spread = float(np.mean(np.diag(prior.cov)))
        cov, noise = prior.cov + DESIGN_WIDENING * spread * np.eye(len(prior.mean)), prior.noise
    if "moment" not in context.prior_cache:
        context.prior_cache["moment"] = design.T @ design / len(design)
    return design, cov, noise, context.prior_cache["moment"]


@register_sampler("doptimal")
def d_optimal_sample(pool: np.ndarray, k: int, rng: np.random.Generator, context: SamplingContext) -> np.ndarray:
    """Greedy D-optimal design on the cost model's design matrix (intercept and standardised cost
    totals, a small ridge) among a random draw of DESIGN_CANDIDATES archs of the pool: the k
    archs that best pin down a linear cost model. About 0.003 s for k = 20 on NB201."""
    candidates = _candidates(pool, k, rng)
    x = cost_design(context.space)[candidates]
    return candidates[greedy_d_optimal(x, k, np.eye(x.shape[1]) / DESIGN_RIDGE)]


@register_sampler("doptimal_prior")
def prior_design_sample(pool: np.ndarray, k: int, rng: np.random.Generator, context: SamplingContext) -> np.ndarray:
    """Greedy maximum expected variance reduction over the whole space under the source devices'
    coefficient prior (the one ``roofline_prior`` fits, widened by DESIGN_WIDENING): measures what
    the sources leave uncertain. Without sources, the same under an isotropic prior."""
    candidates = _candidates(pool, k, rng)
    design, cov, noise, moment = _prior_design_state(context)
    return candidates[greedy_variance_reduction(design[candidates], k, cov, noise, moment)]


prior_design_sample.reads_sources = True


def _posterior_covariance(x: np.ndarray, y: np.ndarray, context: SamplingContext):
    """The coefficient covariance and noise after fitting the samples (x, y): under the source
    prior widened by the leave-one-out factor, or the ridge of the leave-one-out strength."""
    prior = context.prior()
    if prior is None:
        _, strength = loo_ridge(x, y)
        return np.linalg.inv(x.T @ x + max(strength, DESIGN_RIDGE) * np.eye(x.shape[1])), 1.0
    _, factor = loo_posterior(x, y / y.mean(), prior.mean, prior.cov, prior.noise)
    spread = float(np.mean(np.diag(prior.cov)))
    widened = prior.cov + factor * spread * np.eye(len(prior.mean))
    return np.linalg.inv(x.T @ x / prior.noise + np.linalg.inv(widened)), prior.noise


@register_sampler("sequential")
def sequential_sample(pool: np.ndarray, k: int, rng: np.random.Generator, context: SamplingContext) -> np.ndarray:
    """Active learning: measures as it chooses. The first SEQUENTIAL_START archs come from the
    one-shot prior design; then each next arch is the one with the largest expected variance
    reduction under the model refit on every measurement so far (its prior width or ridge chosen
    by leave-one-out on them). Never proposes an arch twice. Needs ``context.measure``."""
    if context.measure is None:
        raise NasflatError(
            "the sequential sampler measures each architecture before it chooses the next: use it in "
            "main.py on a benchmark device or with `measure --sampler sequential` on this machine"
        )
    candidates = _candidates(pool, k, rng)
    design, cov, noise, moment = _prior_design_state(context)
    x = design[candidates]
    picked = greedy_variance_reduction(x, min(k, SEQUENTIAL_START), cov, noise, moment)
    measured = [float(context.measure(int(candidates[row]))) for row in picked]
    while len(picked) < k:
        posterior, noise = _posterior_covariance(x[picked], np.asarray(measured), context)
        row = greedy_variance_reduction(x, 1, posterior, noise, moment, exclude=picked)
        picked.append(row[0])
        measured.append(float(context.measure(int(candidates[row[0]]))))
    return candidates[np.array(picked, dtype=np.int64)]


sequential_sample.reads_sources = True
sequential_sample.measures = True


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


def benchmark_latencies(space) -> np.ndarray:
    """``[D, A]`` ms of every benchmark device of ``space`` (NaN where unmeasured): the sources of
    the design samplers' prior on a device of one's own, none of which is that device."""
    from .latency_table import load_latency_table

    return load_latency_table(space).values


def choose_new_device_samples(space, k: int, metric: str = "flops", method: str = "kmeancosine",
                              seed: int = 0, pool: Optional[np.ndarray] = None,
                              measure: Optional[Callable[[int], float]] = None) -> np.ndarray:
    """The k architectures to measure on a device with no measurements yet, sorted.

    The sampler runs over the whole space with a generator seeded by (seed, k) only, so the
    trainer's ``--choose_samples``, ``measure --sampler`` and the transfer on a measured device
    file all name the same architectures. ``pool``, when given, restricts the choice to those
    architectures (a published table's measured ones), with the same seeding. The latency sampler
    (an oracle) cannot be used here. The prior-aware design samplers take their prior from every
    benchmark device of the space; the sequential sampler needs ``measure`` (timing on this
    machine, or the look-up in a device file that replays the same choice).
    """
    if metric == "latency":
        raise NasflatError(
            "the latency sampler is an oracle (it needs the device's latencies); choose the samples "
            "of a new device with flops, params, random, accuracy (nb201), doptimal, doptimal_prior, "
            "sequential or an encoding"
        )
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(k), NEW_DEVICE_STREAM]))
    pool = np.arange(space.num_archs, dtype=np.int64) if pool is None else np.unique(np.asarray(pool, dtype=np.int64))
    sources = benchmark_latencies(space) if reads_sources(metric) else None
    context = SamplingContext(space, source_latency=sources, measure=measure)
    chosen = build_sampler(metric, method)(pool, k, rng, context)
    return np.sort(np.asarray(chosen, dtype=np.int64))
