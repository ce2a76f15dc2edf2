"""Fixtures for the data tests: an ImageFolder tree with awkward files, and the same tree zipped."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from data_builders import image_tree_files  # type: ignore[import-not-found]


@pytest.fixture
def image_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for rel, data in image_tree_files().items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.fixture
def image_zip(tmp_path: Path) -> Path:
    path = tmp_path / "tree.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for rel, data in image_tree_files().items():
            zf.writestr(f"wrapper/{rel}", data)
    return path
