"""NAS-Bench-201 cells: 6 edges, each one of 5 ops; arch strings, op tuples and graphs.

Edge order is the arch-string order e0: 0->1, e1: 0->2, e2: 1->2, e3: 0->3, e4: 1->3, e5: 2->3.
Canonical op ids (also LatBench's): none=0, skip_connect=1, nor_conv_1x1=2, nor_conv_3x3=3,
avg_pool_3x3=4. As a graph every edge-op is a node: [input, e0..e5, output].
"""
from __future__ import annotations

import re
from typing import Tuple

import numpy as np

from ...errors import ArchitectureError
from ..base import GraphBatch

OP_NAMES = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
#: Op names of the graph nodes: input, output, then the 5 edge ops (node op id = canonical id + 2).
NODE_OP_NAMES = ["input", "output"] + OP_NAMES
NUM_EDGES = 6
NUM_NODES = 8
#: (from node, to node) of each edge in arch-string order.
EDGE_ENDPOINTS = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
#: Links of the edge-as-node graph: input=0, edge e_k = node k+1, output=7.
GRAPH_LINKS = [(0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 6), (3, 6), (4, 7), (5, 7), (6, 7)]

# NASLib's zero-cost-proxy files use other op ids and edge order.
_NASLIB_OP_OF = np.array([1, 0, 3, 2, 4])  # canonical op id -> NASLib op id
_CANONICAL_OP_OF_NASLIB = np.argsort(_NASLIB_OP_OF)
_NASLIB_EDGE_ORDER = [0, 1, 3, 2, 4, 5]  # NASLib position p holds arch-string edge _NASLIB_EDGE_ORDER[p]

_ARCH_RE = re.compile(r"^\|[^|]+\|\+\|[^|]+\|[^|]+\|\+\|[^|]+\|[^|]+\|[^|]+\|$")


def ops_to_arch_str(ops) -> str:
    """Arch string of 6 canonical op ids."""
    names = [OP_NAMES[int(o)] for o in ops]
    return (
        f"|{names[0]}~0|+|{names[1]}~0|{names[2]}~1|+|{names[3]}~0|{names[4]}~1|{names[5]}~2|"
    )


def parse_arch_str(text: str) -> Tuple[int, ...]:
    """The 6 canonical op ids of an arch string such as ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
    text = text.strip()
    if not _ARCH_RE.match(text):
        raise ArchitectureError(
            f"malformed NAS-Bench-201 arch string '{text[:80]}': expected "
            "|op~0|+|op~0|op~1|+|op~0|op~1|op~2| with ops from " + ", ".join(OP_NAMES)
        )
    ops = []
    for group, part in enumerate(text.split("+")):
        for source, token in enumerate(part.strip("|").split("|")):
            name, _, node = token.partition("~")
            if node != str(source):
                raise ArchitectureError(
                    f"malformed NAS-Bench-201 arch string '{text[:80]}': '{token}' in node "
                    f"{group + 1} should come from node {source}"
                )
            if name not in OP_NAMES:
                raise ArchitectureError(
                    f"unknown NAS-Bench-201 op '{name}' in '{text[:80]}'; valid: {', '.join(OP_NAMES)}"
                )
            ops.append(OP_NAMES.index(name))
    return tuple(ops)


def ops_keys(op_matrix) -> np.ndarray:
    """Base-5 codes (dense lookup keys) of cells given as canonical op ids ``[..., 6]``."""
    return np.asarray(op_matrix, dtype=np.int64) @ 5 ** np.arange(NUM_EDGES - 1, -1, -1)


def ops_key(ops) -> int:
    """Base-5 code of 6 canonical op ids (a dense lookup key)."""
    return int(ops_keys(ops))


def naslib_tuple(ops) -> Tuple[int, ...]:
    """NASLib's op tuple of 6 canonical op ids."""
    ops = np.asarray(ops)
    return tuple(int(_NASLIB_OP_OF[ops[e]]) for e in _NASLIB_EDGE_ORDER)


def ops_from_naslib_tuple(naslib_ops) -> Tuple[int, ...]:
    """Canonical op ids of a NASLib op tuple."""
    if len(naslib_ops) != NUM_EDGES or not all(0 <= int(o) <= 4 for o in naslib_ops):
        raise ArchitectureError(f"malformed NASLib NAS-Bench-201 tuple {naslib_ops!r}")
    ops = [0] * NUM_EDGES
    for position, edge in enumerate(_NASLIB_EDGE_ORDER):
        ops[edge] = int(_CANONICAL_OP_OF_NASLIB[int(naslib_ops[position])])
    return tuple(ops)


def cell_graphs(op_matrix: np.ndarray, mode: str = "cut") -> Tuple[GraphBatch, np.ndarray]:
    """Edge-as-node graphs of cells given as canonical op ids [A, 6], and the disconnected flags.

    ``none`` edges lose their links and are masked out. In ``"cut"`` mode (the spec's graph) nodes
    not on any input-to-output path are cut too, and a cell with no input-to-output path keeps
    only its input and output nodes, with no links. In ``"compute"`` mode every op that the
    network actually runs stays, dead ends included: they change no output, but they cost time.
    """
    ops = np.asarray(op_matrix, dtype=np.int64)
    count = ops.shape[0]
    base = np.zeros((NUM_NODES, NUM_NODES), dtype=bool)
    for i, j in GRAPH_LINKS:
        base[i, j] = True
    present = np.ones((count, NUM_NODES), dtype=bool)
    present[:, 1:7] = ops != 0
    adjacency = base[None] & present[:, :, None] & present[:, None, :]
    forward = np.zeros((count, NUM_NODES), dtype=bool)
    forward[:, 0] = True
    backward = np.zeros((count, NUM_NODES), dtype=bool)
    backward[:, -1] = True
    for _ in range(NUM_NODES):  # longest path is 4 links; N iterations is plenty
        forward |= np.einsum("ai,aij->aj", forward, adjacency)
        backward |= np.einsum("aj,aij->ai", backward, adjacency)
    on_path = forward & backward if mode == "cut" else present
    disconnected = ~forward[:, -1]
    adjacency &= on_path[:, :, None] & on_path[:, None, :]
    node_mask = on_path.copy()
    node_mask[:, 0] = True
    node_mask[:, -1] = True
    op_ids = np.empty((count, NUM_NODES), dtype=np.int64)
    op_ids[:, 0] = NODE_OP_NAMES.index("input")
    op_ids[:, -1] = NODE_OP_NAMES.index("output")
    op_ids[:, 1:7] = ops + 2  # node vocabulary lists the 5 edge ops after input and output
    return GraphBatch(adjacency.astype(np.uint8), op_ids, node_mask), disconnected


def representative_cells(op_matrix: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Canonical op ids [A, 6] of the function each cell computes: the edges off every
    input-to-output path (``live`` False, e.g. the cut graphs' node mask) and the ``none`` edges
    are dropped, and when the edge 1->2 is absent the two middle nodes are interchangeable, so the
    smaller of the two orderings represents the cell. Cells with equal rows compute the same
    function (the zero-cost proxies score each representative once)."""
    ops = np.where(live, op_matrix, 0)
    swapped = ops[:, [1, 0, 2, 3, 5, 4]]
    use_swap = (ops[:, 2] == 0) & (ops_keys(swapped) < ops_keys(ops))
    return np.where(use_swap[:, None], swapped, ops)
