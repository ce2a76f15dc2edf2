"""Writing frames to MP4 (ffmpeg, via imageio-ffmpeg's bundled binary) or GIF (Pillow, via imageio).

Frames are HxW (grey) or HxWx3 uint8 arrays, all the same size. MP4 uses H.264 in yuv420p, which
needs even sides: odd sides are padded by one edge row/column (never rescaled), so power-of-two
grids keep their exact size.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import imageio.v2 as iio_v2
import imageio.v3 as iio_v3
import numpy as np

from progan.errors import UserError
from progan.sampling._io import check_output_file

if TYPE_CHECKING:  # pragma: no cover
    from imageio.core.format import Format
    from typing_extensions import Self

VIDEO_SUFFIXES = (".mp4", ".gif")


def check_video_path(path: str | os.PathLike[str]) -> Path:
    """The output must be .mp4 or .gif in a writable folder."""
    return check_output_file(path, VIDEO_SUFFIXES)


def _rgb(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise TypeError(f"video frames must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        frame = frame[:, :, None]
    if frame.shape[2] == 1:
        frame = np.repeat(frame, 3, axis=2)
    return frame[:, :, :3]


class VideoWriter:
    """Append frames one at a time; the file is written under a temporary name and renamed on close.

    ``with VideoWriter("out.mp4", fps=30) as w: w.append(frame)``
    """

    def __init__(self, path: str | os.PathLike[str], fps: float = 30.0) -> None:
        self.path = check_video_path(path)
        if not fps > 0:
            raise UserError(f"fps must be > 0, got {fps}")
        self.fps = float(fps)
        self.size: tuple[int, int] | None = None
        self.count = 0
        self._tmp = self.path.with_name(f".{self.path.stem}.tmp-{os.getpid()}{self.path.suffix}")
        self._writer: Format.Writer | None = None

    def _open(self) -> None:
        if self.path.suffix.lower() == ".mp4":
            self._writer = iio_v2.get_writer(
                self._tmp, format="FFMPEG", mode="I", fps=self.fps, codec="libx264", quality=8,
                pixelformat="yuv420p", macro_block_size=1, ffmpeg_log_level="error",
            )
        else:  # GIF frame durations are in milliseconds (Pillow)
            self._writer = iio_v2.get_writer(self._tmp, mode="I", duration=1000.0 / self.fps, loop=0)

    def append(self, frame: np.ndarray) -> None:
        frame = _rgb(frame)
        if self.size is None:
            self.size = frame.shape[:2]
            self._open()
        elif frame.shape[:2] != self.size:
            raise ValueError(f"frame {self.count} is {frame.shape[:2]}, the video is {self.size}")
        if self.path.suffix.lower() == ".mp4" and (frame.shape[0] % 2 or frame.shape[1] % 2):
            frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
        assert self._writer is not None  # opened by the first frame
        self._writer.append_data(frame)
        self.count += 1

    def close(self) -> Path:
        if self._writer is None:
            raise UserError(f"no frames to write to {self.path}")
        self._writer.close()
        self._writer = None
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None
        if self._tmp.exists():
            self._tmp.unlink()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(frames: Iterable[np.ndarray], path: str | os.PathLike[str], fps: float = 30.0) -> Path:
    """Write all ``frames`` to ``path`` (.mp4 or .gif); returns the path."""
    with VideoWriter(path, fps) as w:
        for frame in frames:
            w.append(frame)
    return w.path


def read_video(path: str | os.PathLike[str]) -> np.ndarray:
    """All frames of a video as ``[T, H, W, 3]`` uint8 (for checks and tests)."""
    plugin = "pillow" if Path(path).suffix.lower() == ".gif" else "FFMPEG"
    frames = iio_v3.imread(Path(path), index=None, plugin=plugin)
    return np.asarray(frames)[..., :3]
