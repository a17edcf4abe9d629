"""NAS-Bench-201 space: index order, encodings, graphs, published metrics."""
import json

import numpy as np
import pytest

from nas_embedding_suite.errors import ArchitectureError
from nas_embedding_suite.spaces.nb201.cells import (
    OP_NAMES, cell_graphs, naslib_tuple, ops_from_naslib_tuple, ops_to_arch_str, parse_arch_str,
)

INDEX0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"


def ops_of(*names):
    return [OP_NAMES.index(n) for n in names]


def test_index_order_and_string_round_trip(nb201):
    assert nb201.num_archs == 15625
    assert nb201.arch_str(0) == INDEX0
    for index in range(nb201.num_archs):
        assert nb201.parse(nb201.arch_str(index)) == index
    assert len({tuple(r) for r in nb201.op_matrix}) == 15625


def test_latbench_and_naslib_round_trips(nb201):
    for index in range(0, nb201.num_archs, 7):
        assert nb201.index_of_latbench_tuple(nb201.latbench_tuple(index)) == index
        assert nb201.index_of_naslib_tuple(nb201.naslib_tuple(index)) == index
        assert ops_from_naslib_tuple(naslib_tuple(nb201.op_matrix[index])) == tuple(nb201.op_matrix[index])


def test_naslib_tuple_matches_the_naslib_file(nb201, data_dir):
    """The NASLib key (0, 2, 3, 2, 3, 1) means e0=skip, e1=conv3x3, e3=conv1x1, e2=conv3x3, e4=conv1x1, e5=none."""
    ops = ops_from_naslib_tuple((0, 2, 3, 2, 3, 1))
    assert [OP_NAMES[o] for o in ops] == [
        "skip_connect", "nor_conv_3x3", "nor_conv_3x3", "nor_conv_1x1", "nor_conv_1x1", "none",
    ]
    entries = json.loads(data_dir.file("NASLib/naslib/data/zc_nasbench201.json").read_text())["cifar10"]
    published = nb201.accuracies["cifar10"].to_numpy()
    assert len(entries) == 725
    for key in list(entries)[:50]:
        index = nb201.index_of_naslib_tuple(tuple(int(t) for t in key.strip("()").split(",")))
        assert 0 <= index < 15625
        assert not np.isnan(published[index])


@pytest.mark.parametrize("text", [
    "", "|none~0|", "|none~0|+|none~0|none~1|+|none~0|none~1|", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", INDEX0.replace("+", "-"),
])
def test_malformed_arch_strings(text, nb201):
    with pytest.raises(ArchitectureError):
        nb201.parse(text)


def test_index_out_of_range(nb201):
    for bad in (-1, 15625, "15625"):
        with pytest.raises(ArchitectureError, match="out of range"):
            nb201.resolve_arch(bad)
    assert nb201.resolve_arch("17") == 17
    assert nb201.resolve_arch(INDEX0) == 0


def test_all_none_cell_is_disconnected():
    graphs, disconnected = cell_graphs(np.array([ops_of(*["none"] * 6)]))
    assert disconnected[0]
    assert graphs.adjacency[0].sum() == 0
    assert graphs.node_mask[0].tolist() == [True] + [False] * 6 + [True]


def test_skip_only_path_keeps_skip_nodes():
    # e0 (0->1) and e4 (1->3) skip, the rest none: input -> e0 -> e4 -> output
    graphs, disconnected = cell_graphs(np.array([ops_of("skip_connect", "none", "none", "none", "skip_connect", "none")]))
    assert not disconnected[0]
    links = {(int(i), int(j)) for i, j in zip(*np.nonzero(graphs.adjacency[0]))}
    assert links == {(0, 1), (1, 5), (5, 7)}
    assert graphs.node_mask[0].tolist() == [True, True, False, False, False, True, False, True]


def test_dead_end_nodes_are_cut():
    # e0 -> e2 leads nowhere because e5 is none; only e3 (0->3) connects input to output
    graphs, disconnected = cell_graphs(
        np.array([ops_of("nor_conv_3x3", "none", "nor_conv_3x3", "nor_conv_1x1", "none", "none")])
    )
    assert not disconnected[0]
    assert graphs.node_mask[0].tolist() == [True, False, False, False, True, False, False, True]
    links = {(int(i), int(j)) for i, j in zip(*np.nonzero(graphs.adjacency[0]))}
    assert links == {(0, 4), (4, 7)}


def test_output_unreachable_is_disconnected():
    graphs, disconnected = cell_graphs(
        np.array([ops_of("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "none", "none", "none")])
    )
    assert disconnected[0] and graphs.adjacency[0].sum() == 0


def test_full_space_graphs(nb201):
    graphs = nb201.graphs
    assert graphs.adjacency.shape == (15625, 8, 8) and graphs.op_ids.shape == (15625, 8)
    assert int(nb201.disconnected.sum()) == 341
    # links only between kept nodes, never into the input or out of the output
    kept = graphs.node_mask
    assert not (graphs.adjacency.astype(bool) & ~(kept[:, :, None] & kept[:, None, :])).any()
    assert graphs.adjacency[:, :, 0].sum() == 0 and graphs.adjacency[:, 7, :].sum() == 0
    # every connected cell has a link out of the input and into the output
    connected = ~nb201.disconnected
    assert (graphs.adjacency[connected, 0, :].sum(1) > 0).all()
    assert (graphs.adjacency[connected, :, 7].sum(1) > 0).all()
    assert nb201.graphs is graphs  # computed once


def test_published_metrics(nb201):
    accuracies = nb201.accuracies
    assert list(accuracies.columns) == ["cifar10", "cifar100", "imagenet16_120"]
    assert accuracies.shape == (15625, 3)
    assert accuracies["cifar10"].between(5, 100).all()
    assert accuracies.loc[0, "cifar10"] == pytest.approx(85.8633, abs=1e-3)
    # NASWOT is undefined exactly for the cells whose output is unreachable
    assert np.array_equal(np.isnan(nb201.naswot), nb201.disconnected)


def test_arch_string_formatting():
    assert ops_to_arch_str(parse_arch_str(INDEX0)) == INDEX0


def test_compute_mode_keeps_dead_end_ops():
    # e0 -> e2 leads nowhere (e5 is none) but both convs still run: compute mode keeps them
    ops = np.array([ops_of("nor_conv_3x3", "none", "nor_conv_3x3", "nor_conv_1x1", "none", "none")])
    graphs, _ = cell_graphs(ops, mode="compute")
    assert graphs.node_mask[0].tolist() == [True, True, False, True, True, False, False, True]
    links = {(int(i), int(j)) for i, j in zip(*np.nonzero(graphs.adjacency[0]))}
    assert links == {(0, 1), (1, 3), (0, 4), (4, 7)}


def test_graph_modes_of_the_space(nb201, fbnet):
    compute = nb201.graphs_for("compute")
    assert np.array_equal(compute.node_mask[:, 1:7], nb201.op_matrix != 0)
    assert (compute.node_mask.sum() > nb201.graphs.node_mask.sum())
    assert fbnet.graphs_for("compute").adjacency.shape == fbnet.graphs.adjacency.shape
    with pytest.raises(Exception, match="unknown graph mode"):
        nb201.graphs_for("nope")
