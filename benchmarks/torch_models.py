"""The reference models written in PyTorch, as a PyTorch user would write them, taking tichchap's weights.

Used by ``bench_models.py`` to time the same network with the same weights in both frameworks.
PyTorch runs in its native NCHW layout; tichchap's weights (Keras layouts) are converted on copy:

* Conv2D kernel ``(kh, kw, c_in, c_out)`` -> ``(c_out, c_in, kh, kw)``;
  depthwise kernel ``(kh, kw, c_in, m)`` -> ``(c_in * m, 1, kh, kw)`` (output channel ``c*m + k``);
* Dense kernel ``(in, out)`` -> ``(out, in)``;
* BatchNormalization: same four vectors; ``eps`` is Keras' epsilon and PyTorch's ``momentum`` is
  ``1 - keras_momentum`` (PyTorch weights the *new* batch statistic by ``momentum``). Keras
  updates the moving variance with the biased batch variance, PyTorch with the unbiased one, so
  the running statistics drift apart slightly in training; predictions in inference mode agree.
* Flatten: Keras flattens NHWC, so :class:`FlattenNHWC` permutes to NHWC before flattening and
  the same Dense kernel applies.
* Keras' "same" padding puts the odd pixel at the bottom/right when the total is odd (stride 2):
  :class:`Conv2d` and :class:`MaxPool2d` pad asymmetrically with ``F.pad`` when they must and use
  PyTorch's own (symmetric) padding argument when that is exact.

The models end with logits (no softmax): training uses ``F.cross_entropy`` on logits, the
standard PyTorch loop; apply ``softmax`` to compare with tichchap's probabilities.
Every model lists, in ``keras_layers``, the modules that hold weights in the order tichchap's
``model.layers`` holds them, so :func:`load_keras_weights` can copy one onto the other.
"""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def keras_same_pads(size, kernel, stride):
    """(before, after) padding of one axis for Keras' padding='same' (the extra pixel after)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2d(nn.Conv2d):
    """nn.Conv2d with Keras' padding: "valid", or "same" (asymmetric when the total is odd)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding="valid", bias=True, groups=1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias, groups=groups)
        self.keras_padding = padding

    def forward(self, x):
        if self.keras_padding != "same":
            return super().forward(x)
        (top, bottom), (left, right) = (keras_same_pads(n, k, s) for n, k, s in
                                        zip(x.shape[2:], self.kernel_size, self.stride))
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), 1, self.groups)
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride, 0, 1, self.groups)


class MaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d with Keras' padding; "same" pads with -inf so the padding never wins."""

    def __init__(self, kernel_size, stride=None, padding="valid"):
        super().__init__(kernel_size, stride=stride)
        self.keras_padding = padding

    def forward(self, x):
        if self.keras_padding != "same":
            return super().forward(x)
        k = nn.modules.utils._pair(self.kernel_size)
        s = nn.modules.utils._pair(self.stride)
        (top, bottom), (left, right) = (keras_same_pads(n, kk, ss) for n, kk, ss in zip(x.shape[2:], k, s))
        if top == bottom and left == right and 2 * top <= k[0] and 2 * left <= k[1]:
            return F.max_pool2d(x, k, s, (top, left))
        return F.max_pool2d(F.pad(x, (left, right, top, bottom), value=-math.inf), k, s)


class FlattenNHWC(nn.Module):
    """Flatten in Keras' (channels-last) order, so a Keras Dense kernel fits unchanged."""

    def forward(self, x):
        return torch.flatten(x.permute(0, 2, 3, 1), 1)


class SeparableConv2d(nn.Module):
    """Keras' SeparableConv2D: a depthwise convolution, then a 1x1 pointwise one (bias last)."""

    def __init__(self, in_channels, filters, kernel_size, padding="valid", bias=True, depth_multiplier=1):
        super().__init__()
        self.depthwise = Conv2d(in_channels, in_channels * depth_multiplier, kernel_size, padding=padding,
                                bias=False, groups=in_channels)
        self.pointwise = nn.Conv2d(in_channels * depth_multiplier, filters, 1, bias=bias)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def batch_norm(channels, keras_momentum=0.99, keras_epsilon=1e-3):
    return nn.BatchNorm2d(channels, eps=keras_epsilon, momentum=1 - keras_momentum)


class LeNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5)
        self.conv2 = nn.Conv2d(32, 64, 5)
        self.fc1 = nn.Linear(4 * 4 * 64, 1000)
        self.fc2 = nn.Linear(1000, classes)
        self.flatten = FlattenNHWC()
        self.keras_layers = [self.conv1, self.conv2, self.fc1, self.fc2]

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(self.flatten(x))))


class SmallCNN(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 1)
        self.bn1 = batch_norm(6)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.bn2 = batch_norm(16)
        self.fc = nn.Linear(5 * 5 * 16, classes)
        self.flatten = FlattenNHWC()
        self.keras_layers = [self.conv1, self.bn1, self.conv2, self.bn2, self.fc]

    def forward(self, x):
        x = F.relu(self.bn1(F.max_pool2d(self.conv1(x), 2)))
        x = F.relu(self.bn2(F.max_pool2d(self.conv2(x), 2)))
        return self.fc(self.flatten(x))


class MLP(nn.Module):
    def __init__(self, in_features=784, hidden=128, classes=10):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, classes)
        self.keras_layers = [self.fc1, self.fc2]

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class FoodNet(nn.Module):
    def __init__(self, classes=2):
        super().__init__()
        self.convs1 = nn.ModuleList([nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)])
        self.convs2 = nn.ModuleList([nn.Conv2d(8, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1),
                                     nn.Conv2d(16, 16, 3, padding=1)])
        self.fc1 = nn.Linear(28 * 28 * 16, 32)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(32, classes)
        self.flatten = FlattenNHWC()
        self.keras_layers = [*self.convs1, *self.convs2, self.fc1, self.fc2]

    def forward(self, x):
        for conv in self.convs1:
            x = F.relu(conv(x))
        x = F.max_pool2d(x, 2)
        for conv in self.convs2:
            x = F.relu(conv(x))
        x = F.max_pool2d(x, 2)
        return self.fc2(self.dropout(F.relu(self.fc1(self.flatten(x)))))


class _SepBN(nn.Module):
    """SeparableConv2D(3x3, same, no bias) + BatchNormalization, Xception's unit."""

    def __init__(self, in_channels, filters):
        super().__init__()
        self.sep = SeparableConv2d(in_channels, filters, 3, padding="same", bias=False)
        self.bn = batch_norm(filters)

    def forward(self, x):
        return self.bn(self.sep(x))


class _DownBlock(nn.Module):
    """Two separable units, a 3x3 stride-2 'same' max pool, plus a strided 1x1 projection."""

    def __init__(self, in_channels, widths, relu_first=True):
        super().__init__()
        self.shortcut = Conv2d(in_channels, widths[1], 1, stride=2, padding="same", bias=False)
        self.shortcut_bn = batch_norm(widths[1])
        self.unit1 = _SepBN(in_channels, widths[0])
        self.unit2 = _SepBN(widths[0], widths[1])
        self.pool = MaxPool2d(3, 2, padding="same")
        self.relu_first = relu_first
        # Keras makes the shortcut before the separable convolutions.
        self.keras_layers = [self.shortcut, self.shortcut_bn, self.unit1.sep, self.unit1.bn,
                             self.unit2.sep, self.unit2.bn]

    def forward(self, x):
        shortcut = self.shortcut_bn(self.shortcut(x))
        if self.relu_first:
            x = F.relu(x)
        x = self.unit2(F.relu(self.unit1(x)))
        return self.pool(x) + shortcut


class _MiddleBlock(nn.Module):
    def __init__(self, channels=728):
        super().__init__()
        self.units = nn.ModuleList([_SepBN(channels, channels) for _ in range(3)])
        self.keras_layers = [m for u in self.units for m in (u.sep, u.bn)]

    def forward(self, x):
        shortcut = x
        for unit in self.units:
            x = unit(F.relu(x))
        return x + shortcut


class Xception(nn.Module):
    """Keras' Xception (``keras.applications.Xception`` without pretrained weights)."""

    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, stride=2, bias=False)
        self.bn1 = batch_norm(32)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.bn2 = batch_norm(64)
        self.entry = nn.ModuleList([_DownBlock(64, (128, 128), relu_first=False), _DownBlock(128, (256, 256)),
                                    _DownBlock(256, (728, 728))])
        self.middle = nn.ModuleList([_MiddleBlock(728) for _ in range(8)])
        self.exit_block = _DownBlock(728, (728, 1024))
        self.unit14a = _SepBN(1024, 1536)
        self.unit14b = _SepBN(1536, 2048)
        self.fc = nn.Linear(2048, classes)
        self.keras_layers = [self.conv1, self.bn1, self.conv2, self.bn2,
                             *[m for b in self.entry for m in b.keras_layers],
                             *[m for b in self.middle for m in b.keras_layers],
                             *self.exit_block.keras_layers,
                             self.unit14a.sep, self.unit14a.bn, self.unit14b.sep, self.unit14b.bn, self.fc]

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.entry:
            x = block(x)
        for block in self.middle:
            x = block(x)
        x = self.exit_block(x)
        x = F.relu(self.unit14a(x))
        x = F.relu(self.unit14b(x))
        return self.fc(torch.mean(x, dim=(2, 3)))


BUILDERS = {"lenet": LeNet, "small_cnn": SmallCNN, "mlp": MLP, "food_net": FoodNet, "xception": Xception}


def build(name):
    return BUILDERS[name]()


def _tensor(array):
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _depthwise_to_torch(kernel):
    kh, kw, c_in, m = kernel.shape
    return kernel.transpose(2, 3, 0, 1).reshape(c_in * m, 1, kh, kw)


@torch.no_grad()
def load_keras_weights(torch_model, tichchap_model):
    """Copy every weighted tichchap layer onto ``torch_model.keras_layers`` (same order), converting
    Keras layouts to PyTorch's. Shapes are checked, so an order mismatch fails loudly."""
    sources = [layer for layer in tichchap_model.layers if layer.weights]
    targets = torch_model.keras_layers
    if len(sources) != len(targets):
        raise ValueError(f"weighted layers differ: tichchap has {len(sources)}, the torch model {len(targets)}")

    def put(param, value):
        value = _tensor(value)
        if tuple(param.shape) != tuple(value.shape):
            raise ValueError(f"{layer.name}: shape {tuple(value.shape)} does not fit torch's {tuple(param.shape)}")
        param.copy_(value)

    for layer, module in zip(sources, targets):
        kind = type(layer).__name__
        if kind == "Conv2D":
            put(module.weight, layer.kernel.transpose(3, 2, 0, 1))
            if layer.use_bias:
                put(module.bias, layer.bias)
        elif kind == "Dense":
            put(module.weight, layer.kernel.T)
            if layer.use_bias:
                put(module.bias, layer.bias)
        elif kind == "SeparableConv2D":
            put(module.depthwise.weight, _depthwise_to_torch(layer.depthwise_kernel))
            put(module.pointwise.weight, layer.pointwise_kernel.transpose(3, 2, 0, 1))
            if layer.use_bias:
                put(module.pointwise.bias, layer.bias)
        elif kind == "DepthwiseConv2D":
            put(module.weight, _depthwise_to_torch(layer.kernel))
            if layer.use_bias:
                put(module.bias, layer.bias)
        elif kind == "BatchNormalization":
            put(module.weight, layer.gamma)
            put(module.bias, layer.beta)
            put(module.running_mean, layer.moving_mean)
            put(module.running_var, layer.moving_variance)
            module.eps, module.momentum = layer.epsilon, 1 - layer.momentum
        else:
            raise ValueError(f"{layer.name}: no PyTorch conversion for a {kind} layer")


def to_torch_input(x):
    """NHWC (or flat) NumPy batch -> contiguous NCHW (or flat) float32 tensor."""
    if x.ndim == 4:
        x = x.transpose(0, 3, 1, 2)
    return _tensor(x)
