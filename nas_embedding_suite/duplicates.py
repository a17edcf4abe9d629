"""Copied latencies: rows of a device's table that repeat the reading of an equivalent architecture.

Some published tables measure one architecture per class of architectures that compute the same
function (NB201's isomorphic cells, :attr:`SearchSpace.function_classes`) and copy its latency to
the other members of the class. Such copies are no measurements: sampled for fine-tuning they add
nothing, held out they inflate the evaluation with pairs whose order is a tie by construction.

A *distinct measurement* is one (class, latency) pair: rows of one class with the very same
latency (bit for bit) count once. A table *copies* latencies when at least :data:`COPY_SHARE` of
its classes with two or more measured members hold a single latency, and there are at least
:data:`MIN_SHARED_CLASSES` such classes. Real measurements rarely tie within a class: on the 40
published NB201 devices of this data the share is 0 for every timed CPU, GPU and accelerator and at
most 0.88 for the coarsest readings (fpga, 84 distinct values in 15,625 cells); a copied table is at 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Share of multi-member classes holding one latency above which a table is taken to copy values.
COPY_SHARE = 0.95
#: Fewest multi-member classes on which the copy verdict is given (tiny files are never "copied").
MIN_SHARED_CLASSES = 5


def _pair_ids(classes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """An id per row for its (class, exact latency) pair."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    pairs = np.stack([np.asarray(classes, dtype=np.int64), bits], axis=1)
    return np.unique(pairs, axis=0, return_inverse=True)[1].reshape(-1)


@dataclass(frozen=True)
class CopyReport:
    """How many of a device's rows are distinct measurements."""

    rows: int
    distinct: int  # (class, latency) pairs
    shared_classes: int  # classes with at least two measured members
    tied_classes: int  # of those, the classes whose members all hold one latency

    @property
    def copies(self) -> int:
        """Rows that repeat the latency of another row of their class."""
        return self.rows - self.distinct

    @property
    def copied(self) -> bool:
        """Whether the table copies latencies across classes (see the module docstring)."""
        return self.shared_classes >= MIN_SHARED_CLASSES and self.tied_classes >= COPY_SHARE * self.shared_classes

    def describe(self) -> str:
        """One sentence for reports."""
        text = f"{self.rows} rows, {self.distinct} distinct measurements"
        if self.copies:
            text += (f" ({self.copies} rows repeat the latency of an equivalent architecture; "
                     f"{self.tied_classes} of {self.shared_classes} classes with several rows hold one latency)")
        return text


def copy_report(classes: np.ndarray, indices: np.ndarray, latency: np.ndarray) -> CopyReport:
    """The :class:`CopyReport` of rows ``indices`` (architecture indices) with ``latency``;
    ``classes`` is the space's :attr:`function_classes`."""
    indices = np.asarray(indices, dtype=np.int64)
    row_classes = np.asarray(classes)[indices]
    if len(indices) == 0:
        return CopyReport(0, 0, 0, 0)
    pair = _pair_ids(row_classes, latency)
    distinct = int(pair.max()) + 1
    _, class_of_row, members = np.unique(row_classes, return_inverse=True, return_counts=True)
    first_row_of_pair = np.unique(pair, return_index=True)[1]
    values_per_class = np.bincount(class_of_row.reshape(-1)[first_row_of_pair], minlength=len(members))
    shared = members >= 2
    return CopyReport(len(indices), distinct, int(shared.sum()), int((shared & (values_per_class == 1)).sum()))


def one_per_class(classes: np.ndarray, indices: np.ndarray, prefer: Sequence[int] = ()) -> np.ndarray:
    """A mask over ``indices`` keeping one architecture per class: every architecture of
    ``prefer`` (the transfer samples), and for a class without one its lowest index."""
    indices = np.asarray(indices, dtype=np.int64)
    row_classes = np.asarray(classes)[indices]
    preferred = np.isin(indices, np.asarray(prefer, dtype=np.int64))
    covered = np.isin(row_classes, row_classes[preferred])
    keep = preferred.copy()
    rest = np.flatnonzero(~covered)
    order = rest[np.lexsort((indices[rest], row_classes[rest]))]
    first = np.unique(row_classes[order], return_index=True)[1]
    keep[order[first]] = True
    return keep


def distinct_held_out(classes: np.ndarray, held_out: np.ndarray, held_values: np.ndarray,
                      samples: np.ndarray, sample_values: np.ndarray) -> int:
    """How many held-out architectures are distinct measurements: (class, latency) pairs among
    ``held_out`` that no transfer sample has, each counted once."""
    held_out = np.asarray(held_out, dtype=np.int64)
    samples = np.asarray(samples, dtype=np.int64)
    both_classes = np.concatenate([np.asarray(classes)[held_out], np.asarray(classes)[samples]])
    pair = _pair_ids(both_classes, np.concatenate([held_values, sample_values]))
    held_pairs = np.unique(pair[:len(held_out)])
    return int(len(np.setdiff1d(held_pairs, pair[len(held_out):])))
