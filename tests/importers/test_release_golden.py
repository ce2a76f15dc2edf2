"""progan's import of the authors' pickles against the authors' own code: the golden files in
``golden/`` were made by running the TF release's networks.py / tfutil.py / legacy.py / loss.py
(``tools/tf_reference/make_golden.py``); no TensorFlow is needed here."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from biggan_threads import one_thread  # noqa: F401  (autouse: one torch thread for these tiny networks)

from progan.importers import read_pickle

GOLDEN = Path(__file__).parent / "golden"
NAMES = ["uncond32_fused", "cond32_nonfused", "cond64_fused", "uncond64_options", "theano16"]
RTOL = 1e-4  # of the largest magnitude of the release's output


def golden(name: str) -> tuple[dict[str, np.ndarray], torch.Tensor, torch.Tensor | None]:
    z = dict(np.load(GOLDEN / f"{name}.npz"))
    labels = torch.from_numpy(z["labels"]) if z["labels"].shape[1] else None
    return z, torch.from_numpy(z["latents"]), labels


def assert_matches(ours: torch.Tensor, theirs: np.ndarray) -> None:
    assert tuple(ours.shape) == theirs.shape
    err = float(np.abs(ours.detach().numpy() - theirs).max())
    assert err <= RTOL * float(np.abs(theirs).max()), f"max |progan - release| = {err:.3g}"


def full_size(images: np.ndarray, factor: int) -> torch.Tensor:
    """The release's networks see every lod at full size: images nearest-upscaled (G_paper, process_reals)."""
    return torch.from_numpy(images).repeat_interleave(factor, 2).repeat_interleave(factor, 3)


# name -> (resolution, channels, classes, latent, fmap_base, fmap_max, fused_scale, mbstd group, equalized,
#          pn, lod)
EXPECTED_CONFIG = {
    "uncond32_fused": (32, 3, 0, 16, 32, 16, True, 4, True, True, 0.0),    # latent_size None -> nf(0)
    "cond32_nonfused": (32, 3, 5, 12, 32, 16, False, 4, True, True, 1.0),
    "cond64_fused": (64, 1, 3, 8, 64, 8, True, 4, True, True, 0.0),
    "uncond64_options": (64, 1, 0, 8, 48, 8, False, 2, False, False, 0.0),
    "theano16": (16, 1, 0, 8, 32, 16, False, 16, True, True, 0.0),  # legacy.py: non-fused, groups of 16
}


@pytest.mark.parametrize("name", NAMES)
def test_keywords_become_the_network_config(name: str) -> None:
    imported = read_pickle(GOLDEN / f"{name}.pkl")
    c = imported.config
    assert (c.resolution, c.channels, c.num_classes, c.latent_size, c.fmap_base, c.fmap_max, c.fused_scale,
            c.mbstd_group_size, c.equalized_lr, c.pixelnorm, imported.lod) == EXPECTED_CONFIG[name]
    assert c.conditioning == ("acgan" if c.num_classes else "none") and c.mbstd_num_features == 1
    assert c.fmap_decay == (0.75 if name == "uncond64_options" else 1.0)
    assert c.normalize_latents == (name != "uncond64_options")
    assert imported.source["format"] == ("theano-release" if name == "theano16" else "tf-release")


@pytest.mark.parametrize("name", NAMES)
def test_generator_and_discriminator_equal_the_release_at_every_lod(name: str) -> None:
    z, latents, labels = golden(name)
    imported = read_pickle(GOLDEN / f"{name}.pkl")
    Gs, D = imported.build("G_ema"), imported.build("D")
    assert len(z["lods"]) >= 4 and any(lod != int(lod) for lod in z["lods"])
    with torch.no_grad():
        for lod in map(float, z["lods"]):
            key, factor = f"{lod:g}", 2 ** math.floor(lod)
            images = Gs(latents, labels, lod=lod)                      # working resolution
            assert_matches(images, z[f"gs_images_lod{key}"])
            # The release's D saw Gs's full-size output and average-pooled it; progan's D works at the
            # working resolution: the same images, pooled by 2**floor(lod).
            pooled = torch.nn.functional.avg_pool2d(full_size(z[f"gs_images_lod{key}"], factor), factor)
            scores, logits = D(pooled, labels, lod=lod)
            assert_matches(scores, z[f"d_scores_lod{key}"])
            if labels is None:
                assert logits is None
            else:
                assert logits is not None
                assert_matches(logits, z[f"d_labels_lod{key}"])
        # The instantaneous G is not Gs.
        G = imported.build("G")
        assert_matches(G(latents[:1], None if labels is None else labels[:1], lod=0.0), z["g_images_lod0"])
        assert not np.allclose(Gs(latents[:1], None if labels is None else labels[:1], lod=0.0).numpy(),
                               z["g_images_lod0"], atol=1e-3)


def test_d_block_order_matters_for_these_weights() -> None:
    # The golden D outputs tell the two block orders apart: the other order misses by far more than RTOL.
    import dataclasses

    from progan.networks import Discriminator

    for name in ("uncond32_fused", "cond32_nonfused"):
        z, _, labels = golden(name)
        imported = read_pickle(GOLDEN / f"{name}.pkl")
        D = Discriminator(dataclasses.replace(imported.config, fused_scale=not imported.config.fused_scale))
        D.load_state_dict(imported.states["D"])
        with torch.no_grad():
            scores, _ = D(torch.from_numpy(z["gs_images_lod0"]), labels, lod=0.0)
        ref = z["d_scores_lod0"]
        assert np.abs(scores.numpy() - ref).max() > 30 * RTOL * np.abs(ref).max()


@pytest.mark.parametrize("lod", [0.0, 1.0, 1.5])
def test_golden_penalty_norms_are_working_resolution_norms_over_two_to_floor_lod(lod: float) -> None:
    # What the release's loss.py measures (the gradient w.r.t. full-size images) is progan's gradient
    # at the working resolution divided by f = 2**floor(lod): checked on the stored norms, with autograd
    # through the imported D (the lead's penalty tests build on these arrays).
    z, _, _ = golden("uncond32_fused")
    D = read_pickle(GOLDEN / "uncond32_fused.pkl").build("D")
    key, f = f"{lod:g}", 2 ** math.floor(lod)
    reals, fakes = torch.from_numpy(z[f"gp_reals_lod{key}"]), torch.from_numpy(z[f"gp_fakes_lod{key}"])
    mixing = torch.from_numpy(z["gp_mixing"]).view(-1, 1, 1, 1)
    for images, norms in ((torch.lerp(reals, fakes, mixing), z[f"gp_mixed_norms_lod{key}"]),
                          (reals, z[f"gp_r1_norms_lod{key}"])):
        x = images.clone().requires_grad_(True)
        scores, _ = D(x, lod=lod)
        (grad,) = torch.autograd.grad(scores.sum(), x)
        working = grad.flatten(1).norm(dim=1)
        torch.testing.assert_close(working / f, torch.from_numpy(norms), rtol=1e-4, atol=0)
        if f > 1:
            assert not np.allclose(working.numpy(), norms, rtol=0.1)
    with torch.no_grad():
        scores, _ = D(torch.lerp(reals, fakes, mixing), lod=lod)
    assert_matches(scores, z[f"gp_mixed_scores_lod{key}"])
