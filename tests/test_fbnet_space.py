"""FBNet space: HELP's 5,000 architectures as chains of 22 layers."""
import json

import numpy as np
import pytest

from nas_embedding_suite.errors import ArchitectureError
from nas_embedding_suite.spaces.fbnet.space import BLOCK_NAMES, choices_key, parse_choices


def test_architectures_and_keys(fbnet, data_dir):
    assert fbnet.num_archs == 5000
    assert fbnet.choices.shape == (5000, 22)
    zcp = json.loads(data_dir.file("nasflat_latency/fbnet_zcp/zc_fbnet.json").read_text())
    assert all(fbnet.index_of_key(key) >= 0 for key in zcp)


def test_parse_formats(fbnet):
    for index in (0, 1, 4999):
        text = fbnet.arch_str(index)
        assert fbnet.parse(text) == index
        assert fbnet.parse(choices_key(fbnet.choices[index])) == index
        assert fbnet.parse(text.replace("-", ",")) == index


@pytest.mark.parametrize("text", ["k3_e1", "-".join(["k9_e9"] * 22), "_".join(["9"] * 22), "1_2_3"])
def test_malformed(fbnet, text):
    with pytest.raises(ArchitectureError):
        fbnet.parse(text)


def test_valid_but_unmeasured(fbnet):
    measured = {tuple(r) for r in fbnet.choices}
    candidate = next(c for c in ([i] * 22 for i in range(9)) if tuple(c) not in measured)
    with pytest.raises(ArchitectureError, match="not one of the 5000"):
        fbnet.parse("-".join(BLOCK_NAMES[i] for i in candidate))
    assert parse_choices("-".join(BLOCK_NAMES[i] for i in candidate)) == tuple(candidate)


def test_chain_graph_keeps_every_layer(fbnet):
    graphs = fbnet.graphs
    assert graphs.adjacency.shape == (5000, 24, 24)
    assert graphs.node_mask.all()
    assert (graphs.adjacency.sum(axis=(1, 2)) == 23).all()
    assert np.array_equal(np.diagonal(graphs.adjacency, offset=1, axis1=1, axis2=2), np.ones((5000, 23)))
    assert (graphs.op_ids[:, 1:-1] - 2 == fbnet.choices).all()
