"""Pure array kernels (no state, no layers): padding arithmetic, convolution, pooling.

Everything here works on NHWC-shaped NumPy arrays and keeps the input's dtype. Convolutions with
few channels on big images return channel-major views ((C, N, H, W) memory, NHWC shape; see
``is_channel_major``), and a one-channel convolution with its max pooling an images-inner view
((H, W, N, C) memory; ``is_images_inner``), which every NumPy operation reads as any other
array. ``reference`` holds slow loop versions of the same maths, for reading and for the tests.
"""

from .conv import (
    col2im,
    conv2d_backward,
    conv2d_forward,
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
    im2col,
    is_channel_major,
    is_images_inner,
)
from .padding import conv_output_size, pad2d, resolve_padding, same_padding
from .pool import pool2d_backward, pool2d_forward

__all__ = [
    "col2im",
    "conv2d_backward",
    "conv2d_forward",
    "conv_output_size",
    "depthwise_conv2d_backward",
    "depthwise_conv2d_forward",
    "im2col",
    "is_channel_major",
    "is_images_inner",
    "pad2d",
    "pool2d_backward",
    "pool2d_forward",
    "resolve_padding",
    "same_padding",
]
