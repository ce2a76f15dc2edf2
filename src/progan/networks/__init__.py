"""Networks built from :class:`progan.config.NetworkConfig`.

``build_generator`` / ``build_discriminator`` choose the architecture named by the config; the
training loop and checkpoint loading only ever go through them.
"""

from progan.config import NetworkConfig
from progan.networks import biggan
from progan.networks.progressive import Discriminator, Generator, lod_level_alpha

__all__ = ["Discriminator", "Generator", "lod_level_alpha", "build_generator", "build_discriminator"]


def build_generator(cfg: NetworkConfig) -> Generator | biggan.Generator:
    """The generator of ``cfg`` (ProGAN's progressive G by default; BigGAN's for
    ``architecture="biggan"``)."""
    if cfg.architecture == "biggan":
        return biggan.Generator(cfg)
    return Generator(cfg)


def build_discriminator(cfg: NetworkConfig) -> Discriminator | biggan.Discriminator:
    """The discriminator of ``cfg`` (ProGAN's progressive D by default; BigGAN's for
    ``architecture="biggan"``)."""
    if cfg.architecture == "biggan":
        return biggan.Discriminator(cfg)
    return Discriminator(cfg)
