"""DiffAugment's policies against their definitions (Zhao et al. 2020)."""

from __future__ import annotations

import pytest
import torch

from progan.augment.diffaugment import DiffAugment


def _images(n: int, c: int, size: int = 16) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _run(policy: str, x: torch.Tensor):
    aug = DiffAugment(policy)
    prm = aug.sample(x.shape[0], tuple(x.shape[1:]), 1.0, torch.Generator().manual_seed(1))
    return aug.apply(x, prm), prm


def test_color_is_brightness_then_saturation_then_contrast() -> None:
    x = _images(16, 3)
    out, prm = _run("color", x)
    b, s, c = (v[:, None, None, None] for v in (prm.brightness, prm.saturation, prm.contrast))
    assert (prm.brightness.abs() <= 0.5).all() and (prm.saturation <= 2).all() and (prm.saturation >= 0).all()
    assert ((prm.contrast >= 0.5) & (prm.contrast <= 1.5)).all()
    y = x + b
    y = (y - y.mean(1, keepdim=True)) * s + y.mean(1, keepdim=True)
    y = (y - y.mean((1, 2, 3), keepdim=True)) * c + y.mean((1, 2, 3), keepdim=True)
    torch.testing.assert_close(out, y)


def test_translation_shifts_by_whole_pixels_with_zeros_shifted_in() -> None:
    size = 16
    x = _images(32, 2, size) + 3
    out, prm = _run("translation", x)
    assert prm.shift.abs().max() <= 2 and (prm.shift != 0).any()  # 1/8 of 16
    for i in range(32):
        dx, dy = prm.shift[i].tolist()
        expected = torch.zeros_like(x[i])
        for r in range(size):
            for col in range(size):
                if 0 <= r + dy < size and 0 <= col + dx < size:
                    expected[:, r, col] = x[i, :, r + dy, col + dx]
        assert torch.equal(out[i], expected), (i, dx, dy)


@pytest.mark.parametrize("size", [16, 15])
def test_cutout_zeroes_a_square_of_half_the_size(size: int) -> None:
    x = _images(64, 1, size) + 3
    out, _ = _run("cutout", x)
    side = int(size * 0.5 + 0.5)
    zeros = (out == 0)[:, 0]
    for i in range(64):
        rows, cols = zeros[i].any(dim=1).nonzero().flatten(), zeros[i].any(dim=0).nonzero().flatten()
        # A contiguous rectangle, clipped at the border, never larger than side x side.
        assert len(rows) <= side and len(cols) <= side and len(rows) * len(cols) == int(zeros[i].sum())
        assert rows.numel() == 0 or rows[-1] - rows[0] + 1 == len(rows)
    full = [int(zeros[i].sum()) == side * side for i in range(64)]
    assert 0 < sum(full) < 64  # squares fully inside and squares cut by the border both occur


def test_policies_compose_in_the_order_given_and_are_differentiable() -> None:
    aug = DiffAugment("color,translation,cutout")
    x = _images(2, 3, 8).double().requires_grad_(True)
    prm = aug.sample(2, (3, 8, 8), 1.0, torch.Generator().manual_seed(2))
    assert torch.autograd.gradcheck(lambda t: aug.apply(t, prm), (x,), eps=1e-6, atol=1e-5)
    assert DiffAugment("cutout,color").policies == ("cutout", "color")
