"""Small generators saved as real checkpoints, built directly (no training): seconds, not minutes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from progan.config import NetworkConfig, TrainConfig
from progan.config_io import to_dict
from progan.networks import Discriminator, Generator
from progan.training.checkpoint import save_checkpoint


def save_small_checkpoint(path: Path, *, lod: float = 0.0, **network: object) -> Path:
    """A random-weight G/D/G_ema checkpoint in the format the training loop writes."""
    kw: dict[str, object] = {"resolution": 16, "channels": 3, "latent_size": 16, "fmap_base": 64,
                             "fmap_max": 16}
    kw.update(network)
    net = NetworkConfig(**kw)  # type: ignore[arg-type]
    torch.manual_seed(1234)
    G, D, G_ema = Generator(net), Discriminator(net), Generator(net)
    with torch.no_grad():  # a trained G's output range: mostly inside [-1, 1], not saturated noise
        for layer in G.to_rgb:
            layer.weight.mul_(0.4)
    G_ema.load_state_dict(G.state_dict())
    return save_checkpoint(
        path,
        modules={"G": G, "D": D, "G_ema": G_ema},
        optimizers={},
        rng={},
        config=to_dict(TrainConfig(network=net)),
        progress={"kimg": 0.0, "lod": lod, "state": {}},
    )


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """These networks are tiny: one thread is fastest, and spares a shared, busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def uncond_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RGB, 16x16, z_dim 16, unconditional, at its full resolution."""
    return save_small_checkpoint(tmp_path_factory.mktemp("g_uncond") / "network-snapshot-000000.safetensors")


@pytest.fixture(scope="session")
def biggan_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BigGAN architecture (conditional BN, projection D, spectral norm, hierarchical z), 16x16 RGB,
    3 classes."""
    from progan.networks import build_discriminator, build_generator

    net = NetworkConfig(architecture="biggan", resolution=16, channels=3, num_classes=3,
                        conditioning="projection", hierarchical_z=True, spectral_norm="both", latent_size=24,
                        shared_dim=8, biggan_ch=4,
                        equalized_lr=False, pixelnorm=False, normalize_latents=False)
    torch.manual_seed(99)
    G, D, G_ema = build_generator(net), build_discriminator(net), build_generator(net)
    G_ema.load_state_dict(G.state_dict())
    path = tmp_path_factory.mktemp("g_biggan") / "network-snapshot-000000.safetensors"
    return save_checkpoint(path, modules={"G": G, "D": D, "G_ema": G_ema}, optimizers={}, rng={},
                           config=to_dict(TrainConfig(network=net)),
                           progress={"kimg": 0.0, "lod": 0.0, "state": {}})


@pytest.fixture(scope="session")
def cond_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Grey, 16x16 at lod 1 (so 8x8 output), 3 classes (AC-GAN conditioning)."""
    return save_small_checkpoint(tmp_path_factory.mktemp("g_cond") / "network-snapshot-000000.safetensors",
                                 lod=1.0, channels=1, num_classes=3, conditioning="acgan")
