"""The classic picture of what a convolutional layer does, built from tichchap layers.

A photograph is turned gray, convolved with 8 random 3x3 kernels (zero padding 2, stride 1,
He-initialised with a fixed seed), passed through ReLU, then pooled 2x2 by maximum and by
average. Each stage is saved as a grid of its 8 maps, with an index.html showing them in order:

    python examples/conv_relu_pool_demo.py --out demo_out
    python examples/conv_relu_pool_demo.py --image my_photo.jpg --size 256 --seed 3

The default photograph is Grace Hopper's portrait that ships with matplotlib as sample data
(``matplotlib.cbook.get_sample_data("grace_hopper.jpg")``): an official U.S. Navy photograph,
in the public domain as a work of the U.S. federal government.
"""

import argparse
import os
import sys

import numpy as np

try:
    import tichchap
except ImportError:  # run from a clone without installing: use the repository's package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import tichchap
from tichchap import image, initializers, layers, visualize

STAGES = ("conv2d", "re_lu", "max_pooling2d", "average_pooling2d")


def sample_photo_path():
    """The path of matplotlib's sample photograph (public domain, see the module docstring)."""
    from matplotlib import cbook

    return str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def build_model(input_shape, seed=0, filters=8):
    """gray image -> ZeroPadding2D(2) -> Conv2D(8, 3, He normal) -> ReLU -> {2x2 max pool, 2x2 average pool}."""
    x = tichchap.Input(input_shape, name="gray_image")
    padded = layers.ZeroPadding2D(2, name="zero_padding2d")(x)
    conv = layers.Conv2D(filters, 3, strides=1, kernel_initializer=initializers.HeNormal(seed=seed),
                         name="conv2d")(padded)
    relu = layers.ReLU(name="re_lu")(conv)
    max_pooled = layers.MaxPooling2D(2, name="max_pooling2d")(relu)
    average_pooled = layers.AveragePooling2D(2, name="average_pooling2d")(relu)
    return tichchap.Model(x, [max_pooled, average_pooled], name="conv_relu_pool")


def load_gray(path, size=None):
    """The photograph as a (H, W, 1) array in [0, 1]; ``size`` scales its longer side to that many pixels."""
    target = None
    if size:
        from PIL import Image

        with Image.open(path) as im:
            width, height = im.size
        factor = size / max(width, height)
        target = (max(1, round(height * factor)), max(1, round(width * factor)))
    return image.load(path, target_size=target, color_mode="grayscale", interpolation="bilinear", scale=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="conv_relu_pool_demo", help="output folder (default: ./conv_relu_pool_demo)")
    parser.add_argument("--image", default=None, help="a photograph (default: matplotlib's grace_hopper.jpg)")
    parser.add_argument("--size", type=int, default=None, help="resize so the longer side has this many pixels")
    parser.add_argument("--seed", type=int, default=0, help="seed of the He-normal kernels (default 0)")
    parser.add_argument("--shared-scale", action="store_true", help="one gray scale for all 8 maps of a stage")
    args = parser.parse_args(argv)

    photo = load_gray(args.image or sample_photo_path(), args.size)
    model = build_model(photo.shape, seed=args.seed)
    paths = visualize.plot_feature_maps(model, photo, layers=list(STAGES), out_dir=args.out,
                                        shared_scale=args.shared_scale, html=True,
                                        html_title="Gray photo -> 8 random 3x3 convolutions -> ReLU -> 2x2 pooling")
    kernels = model.get_layer("conv2d").kernel
    print(f"photo {photo.shape[:2]} -> conv {model.get_layer('conv2d').output_shape[1:]} -> pooled "
          f"{model.get_layer('max_pooling2d').output_shape[1:]}; kernel std {kernels.std():.3f} "
          f"(He normal: sqrt(2/9) = {np.sqrt(2 / 9):.3f})")
    for path in paths:
        print("wrote", path)
    print("open", os.path.join(args.out, "index.html"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
