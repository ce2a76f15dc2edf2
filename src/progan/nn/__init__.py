"""Layers of the progressive networks: equalized-lr conv/dense, pixel norm, minibatch stddev, 2x
resampling."""

from progan.nn.equalized import EqualizedConv2d, EqualizedLinear
from progan.nn.mbstd import MinibatchStddev, minibatch_stddev
from progan.nn.pixelnorm import pixel_norm
from progan.nn.resample import downsample2d, fade_images, upsample2d

__all__ = [
    "EqualizedConv2d",
    "EqualizedLinear",
    "MinibatchStddev",
    "downsample2d",
    "fade_images",
    "minibatch_stddev",
    "pixel_norm",
    "upsample2d",
]
