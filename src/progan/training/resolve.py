"""From what the user asked for to what a run trains: the configuration fitted to its data set, checked
whole."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from progan.config import TrainConfig
from progan.data import Dataset, default_dataset_dir, open_dataset, resolve_data
from progan.errors import UserError
from progan.training.schedule import check_batch_layout

log = logging.getLogger("progan.train")


def open_training_data(cfg: TrainConfig) -> tuple[Dataset, Path]:
    """The prepared data set of ``run.data`` (a raw source is prepared once into the cache), or the demo's."""
    data_dir = resolve_data(cfg.run.data) if cfg.run.data else default_dataset_dir()
    return open_dataset(data_dir), Path(data_dir)


def resolve_config(cfg: TrainConfig, ds: Dataset, data_dir: Path, world_size: int = 1) -> TrainConfig:
    """A new configuration for training ``cfg`` on ``ds`` (``cfg`` itself is not changed).

    The network takes the data set's resolution, channels and (under conditioning) class count, unless it
    comes from ``run.init_from``, whose weights fix them: a mismatch is then an error. The result is
    validated, and every phase's minibatch layout is checked for ``world_size`` processes
    (:func:`~progan.training.schedule.check_batch_layout`), so a run never dies days in.
    """
    out = copy.deepcopy(cfg)
    out.run.data = str(data_dir)
    net = out.network
    if out.run.init_from and (net.resolution, net.channels) != (ds.resolution, ds.channels):
        raise UserError(f"--init-from network makes {net.resolution}x{net.resolution}x{net.channels} images "
                        f"but {data_dir} holds {ds.resolution}x{ds.resolution}x{ds.channels}")
    if (net.resolution, net.channels) != (ds.resolution, ds.channels):
        log.info("network resolution/channels taken from the data set: %dx%d, %d channel(s)",
                 ds.resolution, ds.resolution, ds.channels)
    net.resolution, net.channels = ds.resolution, ds.channels
    if net.conditioning == "none":
        net.num_classes = 0
    elif ds.num_classes == 0:
        raise UserError(f"conditioning {net.conditioning!r} needs labels, but {data_dir} has none")
    else:
        net.num_classes = ds.num_classes
    out.validate()
    check_batch_layout(out, world_size)
    return out
