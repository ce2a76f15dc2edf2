"""Human-facing views of a prepared data set: ``progan dataset info`` text and ``grid`` image selection."""

from __future__ import annotations

import numpy as np

from progan.data.dataset import Dataset


def describe(ds: Dataset) -> str:
    """Multi-line summary of the metadata (``progan dataset info``)."""
    m = ds.meta
    classes = "none (unlabelled)"
    if ds.num_classes:
        names = ", ".join(ds.class_names[:12]) + (", ..." if ds.num_classes > 12 else "")
        classes = f"{ds.num_classes}: {names}"
    skipped = m.get("skipped") or {}
    rows = [
        ("path", str(ds.path)),
        ("images", str(len(ds))),
        ("resolution", f"{ds.resolution}x{ds.resolution}, {ds.channels} channel" + "s" * (ds.channels > 1)),
        ("levels", " ".join(str(r) for r in ds.resolutions)),
        ("classes", classes),
        ("source", (m.get("source") or {}).get("description", "?")),
        ("skipped", f"{skipped.get('count', 0)} (listed in {skipped.get('file', 'skipped.txt')})"),
        ("shuffle seed", str((m.get("options") or {}).get("shuffle_seed", "?"))),
        ("created", f"{m.get('created', '?')} by progan {m.get('progan_version', '?')}"),
        ("format", f"{m.get('format')} v{m.get('format_version')}"),
    ]
    if m.get("resolution_chosen_as"):
        rows.insert(3, ("chosen as", m["resolution_chosen_as"]))
    return "\n".join(f"{k:<13}{v}" for k, v in rows)


def grid_selection(ds: Dataset, cols: int, rows: int | None, seed: int) -> tuple[np.ndarray, int]:
    """Row indices for a grid: one row of ``cols`` random images per class when labelled (missing ones -1),
    else ``rows`` x ``cols`` random images. Returns (indices, number of grid rows)."""
    rng = np.random.default_rng(seed)
    labels = ds.labels
    if labels is not None and ds.num_classes and rows is None:
        lab = np.asarray(labels)
        out = np.full((ds.num_classes, cols), -1, np.int64)
        for c in range(ds.num_classes):
            members = np.flatnonzero(lab == c)
            pick: np.ndarray | list[int] = (rng.choice(members, size=min(cols, len(members)), replace=False)
                                            if len(members) else [])
            out[c, :len(pick)] = pick
        return out.ravel(), ds.num_classes
    rows = rows or cols
    count = min(len(ds), rows * cols)
    return rng.choice(len(ds), size=count, replace=False), -(-count // cols)


def grid_images(ds: Dataset, resolution: int, cols: int, rows: int | None = None,
                seed: int = 0) -> np.ndarray:
    """uint8 [rows*cols, C, res, res] for the grid (blank cells black)."""
    idx, nrows = grid_selection(ds, cols, rows, seed)
    level = ds.images(resolution)
    out = np.zeros((nrows * cols,) + level.shape[1:], np.uint8)
    valid = np.flatnonzero(idx >= 0)
    order = np.argsort(idx[valid])
    out[valid[order]] = level[idx[valid][order]]
    return out
