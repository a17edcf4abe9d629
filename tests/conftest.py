"""Shared fixtures: the real data directory and its spaces and tables."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from nas_embedding_suite.data_directory import DataDirectory
from nas_embedding_suite.latency_table import load_latency_table
from nas_embedding_suite.spaces import get_space

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def data_dir() -> DataDirectory:
    """The real data directory (NASFLAT_DATA_DIR in CI)."""
    return DataDirectory.resolve(os.environ.get("NASFLAT_DATA_DIR"))


@pytest.fixture(scope="session")
def nb201(data_dir):
    return get_space("nb201", data_dir)


@pytest.fixture(scope="session")
def fbnet(data_dir):
    return get_space("fbnet", data_dir)


@pytest.fixture(scope="session")
def nb201_table(nb201):
    return load_latency_table(nb201)


@pytest.fixture(scope="session")
def fbnet_table(fbnet):
    return load_latency_table(fbnet)


@pytest.fixture
def data_copy(data_dir, tmp_path) -> Path:
    """A writable mirror of the data directory: symlinks to the real files, so single files can be
    replaced by damaged versions without copying everything."""
    root = tmp_path / "data"
    for source in data_dir.root.rglob("*"):
        if source.is_file():
            target = root / source.relative_to(data_dir.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
    return root


def replace_file(root: Path, relative: str, content: bytes) -> Path:
    """Replace one mirrored file by ``content``."""
    path = root / relative
    path.unlink()
    path.write_bytes(content)
    return path


def copy_real(root: Path, relative: str) -> Path:
    """Turn one mirrored symlink into a real, writable copy."""
    path = root / relative
    source = path.resolve()
    path.unlink()
    shutil.copyfile(source, path)
    return path
