"""Layers with Keras' names, arguments and defaults (NHWC)."""

from ..errors import ConfigError
from .base import Input, InputLayer, KerasTensor, Layer
from .conv import Conv2D, DepthwiseConv2D, SeparableConv2D, ZeroPadding2D
from .core import Activation, Dense, Dropout, Flatten, ReLU, Reshape
from .merge import Add, Concatenate
from .normalization import BatchNormalization
from .pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D

# Keras' aliases.
Convolution2D = Conv2D
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D

_CLASSES = {cls.__name__: cls for cls in (
    InputLayer, Conv2D, DepthwiseConv2D, SeparableConv2D, ZeroPadding2D, Activation, Dense, Dropout, Flatten,
    ReLU, Reshape, Add, Concatenate, BatchNormalization, AveragePooling2D, GlobalAveragePooling2D,
    GlobalMaxPooling2D, MaxPooling2D)}


def get(class_name):
    """The layer class called ``class_name`` (as Keras' config names it)."""
    try:
        return _CLASSES[class_name]
    except KeyError:
        raise ConfigError(f"unknown layer class; expected one of {sorted(_CLASSES)}; received {class_name!r}") from None


def deserialize(config):
    """A layer from ``{"class_name": ..., "config": {...}}``."""
    return get(config["class_name"]).from_config(dict(config["config"]))


def serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


__all__ = sorted(_CLASSES) + ["Input", "KerasTensor", "Layer", "Convolution2D", "MaxPool2D", "AvgPool2D",
                              "GlobalAvgPool2D", "GlobalMaxPool2D", "get", "serialize", "deserialize"]
