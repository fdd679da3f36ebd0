"""A stratified 7,000-image sample of Fashion-MNIST in the official idx gz format.

Made by ``python -m tichchap.datasets.make_sample``; read by
:mod:`tichchap.datasets.fashion_mnist_sample`. Fashion-MNIST is (c) Zalando SE, MIT license.
"""
