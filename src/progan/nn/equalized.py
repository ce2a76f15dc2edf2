"""Convolution and dense layers with the equalized learning rate of Karras et al. 2018, Sec. 4.1.

With ``equalized=True`` the stored weights are N(0, 1) and the forward pass multiplies them by
He's constant ``gain / sqrt(fan_in)`` (``get_weight(..., use_wscale=True)`` in the authors' TF
release), so Adam's per-parameter step size is the same for every layer. With ``equalized=False``
the same constant is used as the init std instead and nothing is scaled at run time: plain He init,
the paper's Table 1 ablation. Biases start at zero and are never scaled.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SQRT2 = math.sqrt(2.0)


class _Equalized(nn.Module):
    """Holds a weight whose effective value is ``weight * scale`` (scale = He std or 1)."""

    weight: Tensor
    bias: Tensor | None

    def _init_weight(self, shape: tuple[int, ...], fan_in: int, gain: float, equalized: bool,
                     bias: bool) -> None:
        self.fan_in = fan_in
        self.gain = gain
        self.equalized = equalized
        he_std = gain / math.sqrt(fan_in)
        # Scaling the weight rather than the activations: the weight is smaller than the activations
        # at every resolution but the 4x4 one, and the bias stays fused into the conv kernel.
        self.scale = he_std if equalized else 1.0
        self.weight = nn.Parameter(torch.randn(shape) * (1.0 if equalized else he_std))
        self.bias = nn.Parameter(torch.zeros(shape[0])) if bias else None

    def effective_weight(self) -> Tensor:
        """The weight the layer actually applies (``weight * gain / sqrt(fan_in)`` when equalized)."""
        return self.weight * self.scale if self.scale != 1.0 else self.weight

    def extra_repr(self) -> str:
        return (f"{tuple(self.weight.shape)}, gain={self.gain:.4g}, equalized={self.equalized}, "
                f"bias={self.bias is not None}")


class EqualizedConv2d(_Equalized):
    """``kernel x kernel`` convolution, stride 1, 'same' zero padding, equalized learning rate."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        gain: float = SQRT2,      # He gain; 1 for linear outputs (toRGB)
        equalized: bool = True,   # False: He init, no run-time scale (Table 1 ablation)
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.padding = kernel_size // 2
        self._init_weight((out_channels, in_channels, kernel_size, kernel_size),
                          in_channels * kernel_size * kernel_size, gain, equalized, bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.effective_weight(), self.bias, padding=self.padding)


class EqualizedLinear(_Equalized):
    """Dense layer with equalized learning rate."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        gain: float = SQRT2,      # He gain; 1 for linear outputs
        equalized: bool = True,   # False: He init, no run-time scale (Table 1 ablation)
        bias: bool = True,
    ) -> None:
        super().__init__()
        self._init_weight((out_features, in_features), in_features, gain, equalized, bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.effective_weight(), self.bias)
