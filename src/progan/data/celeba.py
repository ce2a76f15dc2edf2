"""Aligned CelebA (``img_align_celeba``: 178x218 JPEGs, or the ``img_align_celeba_png`` variant).

As the paper and the TF release's ``create_celeba``: a 128x128 crop centred at x=89, y=121, i.e. rows
57..184 and columns 25..152; labels are not used (CelebA's attributes are not classes).
"""

from __future__ import annotations

from pathlib import Path

from progan.data.decode import probe
from progan.data.folder import FolderReader, list_images
from progan.data.source_types import FileSource
from progan.errors import DataError

CELEBA_SIZE = (178, 218)
CENTER_X, CENTER_Y, CROP = 89, 121, 128
CROP_BOX = (CENTER_X - CROP // 2, CENTER_Y - CROP // 2, CENTER_X + CROP // 2, CENTER_Y + CROP // 2)


def find_celeba_dir(folder: Path) -> Path | None:
    """The image folder if ``folder`` is (or directly holds) aligned CelebA, judged by name and image size."""
    candidates = [folder] + [folder / n for n in ("img_align_celeba", "img_align_celeba_png")]
    for d in candidates:
        if not d.name.startswith("img_align_celeba") or not d.is_dir():
            continue
        first = next((f for f in sorted(d.iterdir()) if f.suffix.lower() in (".jpg", ".png")), None)
        try:
            if first is not None and probe(first.read_bytes())[:2] == CELEBA_SIZE:
                return d
        except Exception:
            continue
    return None


def open_celeba(folder: Path) -> FileSource:
    d = find_celeba_dir(folder)
    if d is None:
        raise DataError(f"{folder} is not an aligned CelebA folder")
    refs, ignored = list_images(d)
    desc = f"aligned CelebA {d} ({len(refs)} images, 128x128 crop)"
    return FileSource(kind="celeba", path=d, description=desc, reader=FolderReader(d), refs=refs, names=refs,
                      crop=CROP_BOX, resolution=CROP, channels=3, ignored=ignored)
