"""Networks built from :class:`progan.config.NetworkConfig`."""

from progan.networks.progressive import Discriminator, Generator, lod_level_alpha

__all__ = ["Discriminator", "Generator", "lod_level_alpha"]
