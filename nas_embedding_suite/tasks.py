"""The task suite: which devices are sources (train) and which are targets (test).

Tasks are addressed by ``(space, task_index)`` as in the original ``--task_index`` flag, or by the
paper's label (ND, N1-N4, NA, FD, F1-F4, FA; NQ/FQ are the quick tasks, index 9999). Each search
space brings its own tasks (:meth:`~nas_embedding_suite.spaces.base.SearchSpace.task_entries`,
e.g. ``spaces/nb201/tasks.yaml``); the suite is those of every registered space.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import networkx as nx
import numpy as np
import yaml
from scipy.stats import spearmanr

from .devices import get_device, list_devices
from .errors import NasflatError, UnknownNameError
from .spaces import list_spaces, space_class


@dataclass(frozen=True)
class Task:
    """A source-to-target transfer task."""

    label: str
    space: str
    index: int
    train: Tuple[str, ...]
    test: Tuple[str, ...]
    quick: bool = False

    @property
    def devices(self) -> Tuple[str, ...]:
        """Source devices then target devices."""
        return self.train + self.test


@dataclass
class TaskSuite:
    """All tasks of the registered spaces; every device name is checked against the space's devices."""

    tasks: List[Task] = field(default_factory=list)

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "TaskSuite":
        """The tasks of every registered space, in registration order (or, with ``path``, those of
        a YAML file mapping space names to lists of task entries), each device of each task checked
        to exist in its space."""
        if path is None:
            spec = {name: space_class(name).task_entries() for name in list_spaces()}
        else:
            spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        tasks = []
        for space, entries in spec.items():
            for entry in entries:
                task = Task(
                    entry["label"], space, int(entry["index"]), tuple(entry["train"]),
                    tuple(entry["test"]), bool(entry.get("quick", False)),
                )
                for name in task.devices:
                    get_device(space, name)
                if set(task.train) & set(task.test):
                    raise NasflatError(f"task {task.label}: a device is both source and target")
                tasks.append(task)
        return cls(tasks)

    def labels(self) -> List[str]:
        """All task labels."""
        return [t.label for t in self.tasks]

    def by_label(self, label: str) -> Task:
        """The task with this label (case-insensitive)."""
        for task in self.tasks:
            if task.label.lower() == label.lower():
                return task
        raise UnknownNameError(f"unknown task '{label}'; valid: {', '.join(self.labels())}")

    def get(self, space: str, index: int) -> Task:
        """The task ``index`` of ``space``."""
        choices = [t for t in self.tasks if t.space == space]
        if not choices:
            raise UnknownNameError(
                f"no tasks for space '{space}'; valid: {', '.join(sorted({t.space for t in self.tasks}))}"
            )
        for task in choices:
            if task.index == int(index):
                return task
        valid = ", ".join(f"{t.index} ({t.label})" for t in choices)
        raise UnknownNameError(f"unknown task index {index} for {space}; valid: {valid}")

    def resolve(self, space: Optional[str], index_or_label) -> Task:
        """A task from a label, or from a space and index (digits)."""
        text = str(index_or_label)
        if text.isdigit():
            if space is None:
                raise UnknownNameError(f"task index {text} needs a space (--space)")
            return self.get(space, int(text))
        task = self.by_label(text)
        if space is not None and task.space != space:
            raise UnknownNameError(f"task {task.label} belongs to space {task.space}, not {space}")
        return task


def device_correlations(values: np.ndarray) -> np.ndarray:
    """Spearman correlation between every pair of device rows over their commonly measured archs."""
    count = values.shape[0]
    result = np.eye(count)
    for i in range(count):
        for j in range(i + 1, count):
            both = ~np.isnan(values[i]) & ~np.isnan(values[j])
            result[i, j] = result[j, i] = spearmanr(values[i, both], values[j, both])[0]
    return result


def make_split(
    names: Sequence[str], correlations: np.ndarray, train_size: int, test_size: int, seed: int = 0
) -> Tuple[List[str], List[str]]:
    """Split devices into train/test the NASFLAT way (Kernighan-Lin on minus the correlations).

    Builds a complete graph weighted by minus the pairwise Spearman correlation, bisects it with
    Kernighan-Lin (networkx, max_iter 10), then, while a side is larger than its target size,
    drops from it the device whose summed correlation to the other side is largest.
    """
    names = list(names)
    if train_size < 1 or test_size < 1 or train_size + test_size > len(names):
        raise NasflatError(
            f"cannot split {len(names)} devices into {train_size} train and {test_size} test"
        )
    graph = nx.Graph()
    graph.add_nodes_from(range(len(names)))
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            graph.add_edge(i, j, weight=-float(correlations[i, j]))
    side_a, side_b = nx.algorithms.community.kernighan_lin_bisection(
        graph, max_iter=10, weight="weight", seed=seed
    )
    train, test = sorted(side_a), sorted(side_b)

    def shrink(side: List[int], other: List[int], size: int) -> None:
        while len(side) > size:
            summed = [correlations[d, other].sum() for d in side]
            side.pop(int(np.argmax(summed)))

    shrink(train, test, train_size)
    shrink(test, train, test_size)
    if len(train) < train_size or len(test) < test_size:
        raise NasflatError(
            f"the bisection gave sides of {len(side_a)} and {len(side_b)} devices, too few for "
            f"{train_size} train and {test_size} test"
        )
    return [names[i] for i in train], [names[i] for i in test]


def all_device_names(space: str) -> List[str]:
    """Names of every device of a space (candidates for ``make_split``)."""
    return [d.name for d in list_devices(space)]

