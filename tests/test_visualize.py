"""tichchap.visualize: the maps are the layers' outputs, sub-models share weights, and every picture
decodes with Pillow at the size its layout states, holding exactly the gray levels it claims."""

import importlib.util
import math
import os
import re
import sys
import types

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

import tichchap  # noqa: E402
from tichchap import callbacks, layers, visualize  # noqa: E402
from tichchap.errors import ConfigError, DataError, ShapeError  # noqa: E402
from tichchap.utils import clear_session  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()
    yield
    clear_session()


def small_cnn(seed=0):
    """Non-square input and kernels, so transposed axes would show."""
    tichchap.utils.set_random_seed(seed)
    return tichchap.Sequential([
        tichchap.Input((11, 9, 2)),
        layers.Conv2D(6, (3, 2), activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(5, 3, padding="same"),
        layers.Flatten(),
        layers.Dense(7, activation="softmax"),
    ])


def random_image(shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def read_png(path):
    with Image.open(path) as im:
        im.load()
        return np.asarray(im.convert("RGB"))


# -- the arrays ------------------------------------------------------------------------------


def test_maps_equal_the_layers_run_by_hand():
    model = small_cnn()
    bn = model.get_layer("batch_normalization")
    bn.moving_mean[...] = np.linspace(-0.2, 0.3, 6)  # inference-mode statistics that are not trivial
    bn.moving_variance[...] = np.linspace(0.5, 2.0, 6)
    x = random_image((11, 9, 2))
    maps = visualize.feature_maps(model, x)
    assert list(maps) == ["conv2d", "batch_normalization", "max_pooling2d", "conv2d_1", "flatten", "dense"]
    value = x[None]
    for layer in model.layers:
        value = layer.forward(value, training=False)
        assert maps[layer.name].shape == value.shape[1:] == layer.output_shape[1:]
        np.testing.assert_allclose(maps[layer.name], value[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(maps["dense"], model.predict(x[None])[0], rtol=1e-6, atol=1e-7)
    # ReLU really acted, and the softmax sums to one: the maps are the real activations
    assert maps["conv2d"].min() == 0 and maps["conv2d"].max() > 0
    assert maps["dense"].sum() == pytest.approx(1.0, abs=1e-5)


def test_maps_follow_model_order_and_accept_layer_objects_and_image_forms():
    model = small_cnn()
    x = random_image((11, 9, 2))
    maps = visualize.feature_maps(model, x, layers=["dense", model.get_layer("conv2d"), "dense"])
    assert list(maps) == ["conv2d", "dense"]
    np.testing.assert_array_equal(visualize.feature_maps(model, x[None], layers="conv2d")["conv2d"], maps["conv2d"])
    with pytest.raises(ShapeError, match=r"\(11, 9, 2\)"):
        visualize.feature_maps(model, random_image((9, 11, 2)))
    with pytest.raises(ConfigError, match="no_such_layer"):
        visualize.feature_maps(model, x, layers=["no_such_layer"])
    with pytest.raises(DataError, match="NaN"):
        visualize.feature_maps(model, np.full((11, 9, 2), np.nan, np.float32))


def test_one_channel_model_takes_a_2d_image():
    model = tichchap.Sequential([tichchap.Input((6, 5, 1)), layers.Conv2D(2, 3)])
    x = random_image((6, 5))
    np.testing.assert_array_equal(visualize.feature_maps(model, x)["conv2d"], model.predict(x[None, ..., None])[0])


def test_functional_graph_with_a_residual_add():
    inputs = tichchap.Input((8, 10, 3))
    a = layers.Conv2D(4, 3, padding="same", name="branch_a")(inputs)
    b = layers.Conv2D(4, 1, name="branch_b")(inputs)
    s = layers.Add(name="sum")([a, b])
    out = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D(name="gap")(s))
    model = tichchap.Model(inputs, out)
    x = random_image((8, 10, 3))
    maps = visualize.feature_maps(model, x)
    assert list(maps) == ["branch_a", "branch_b", "sum", "gap", "head"]
    np.testing.assert_allclose(maps["sum"], maps["branch_a"] + maps["branch_b"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(maps["gap"], maps["sum"].mean(axis=(0, 1)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps["head"], model.predict(x[None])[0], rtol=1e-6, atol=1e-6)


def test_sub_model_shares_the_parents_weights():
    model = small_cnn()
    x = random_image((11, 9, 2))
    sub = tichchap.Model(model.inputs, [model.get_layer(n).output for n in ("conv2d", "conv2d_1")])
    assert sub.get_layer("conv2d") is model.get_layer("conv2d")
    before = sub.predict(x[None])
    kernel, bias = model.get_layer("conv2d").get_weights()
    model.get_layer("conv2d").set_weights([-2.0 * kernel, bias + 0.5])
    after = sub.predict(x[None])
    assert not np.allclose(before[0], after[0]) and not np.allclose(before[1], after[1])
    by_hand = model.get_layer("conv2d").forward(x[None])
    np.testing.assert_allclose(after[0], by_hand, rtol=1e-6)
    np.testing.assert_allclose(visualize.feature_maps(model, x, ["conv2d"])["conv2d"], by_hand[0], rtol=1e-6)
    # and the other way round: a weight changed through the sub-model is the parent's weight
    sub.get_layer("conv2d_1").bias[...] += 1.0
    np.testing.assert_allclose(model.get_layer("conv2d_1").bias, sub.get_layer("conv2d_1").bias)


# -- the grid layout and its pixels ----------------------------------------------------------


def test_grid_layout_numbers():
    # 6 maps of 5x4: zoom ceil(64/5) = 13 -> tiles 65x52; 3 columns, 2 rows
    lay = visualize.grid_layout(6, 5, 4)
    assert (lay.zoom, lay.tile_h, lay.tile_w, lay.cols, lay.rows) == (13, 65, 52, 3, 2)
    assert lay.mosaic_w == 3 * 52 + 2 * 4
    assert lay.mosaic_h == 2 * (14 + 65) + 1 * 4
    assert (lay.width, lay.height) == (480, 60 + lay.mosaic_h + 10)
    # big maps are not enlarged; the picture grows with them
    big = visualize.grid_layout(8, 300, 257)
    assert (big.zoom, big.cols, big.rows) == (1, 3, 3)
    assert (big.width, big.height) == (3 * 257 + 2 * 4 + 20, 60 + 3 * (14 + 300) + 2 * 4 + 10)
    # tiles never overlap and stay inside the picture
    for k in range(8):
        x0, y0 = big.tile_origin(k)
        assert x0 >= 0 and y0 >= 60 and x0 + big.tile_w <= big.width and y0 + big.tile_h <= big.height - 10
    assert visualize.grid_layout(10, 3, 3, cols=4).rows == 3


def expected_levels(channel, low=None, high=None):
    """The gray levels a tile must hold, computed independently of visualize's helpers."""
    c = channel.astype(np.float64)
    low = c.min() if low is None else low
    high = c.max() if high is None else high
    unit = (c - low) / (high - low) if high > low else np.zeros_like(c)
    return np.clip(np.floor(unit * 255 + 0.5), 0, 255)


def assert_tile_pixels(png, layout, k, channel, low=None, high=None):
    x0, y0 = layout.tile_origin(k)
    tile = png[y0:y0 + layout.tile_h, x0:x0 + layout.tile_w].astype(np.int64)
    expected = expected_levels(channel, low, high).repeat(layout.zoom, 0).repeat(layout.zoom, 1)
    if expected.ndim == 2:
        expected = np.repeat(expected[..., None], 3, axis=-1)
    # +-1: floor(x + 0.5) and NumPy's round-half-even differ only on exact halves
    assert np.abs(tile - expected).max() <= 1


def test_plot_feature_maps_writes_decodable_pictures_of_the_stated_size_and_values(tmp_path):
    model = small_cnn()
    x = np.abs(random_image((11, 9, 2)))
    maps = visualize.feature_maps(model, x)
    paths = visualize.plot_feature_maps(model, x, out_dir=tmp_path)
    names = ["input", "conv2d", "batch_normalization", "max_pooling2d", "conv2d_1", "flatten", "dense"]
    assert [os.path.basename(p) for p in paths] == [f"{i:02d}_{n}.png" for i, n in enumerate(names)]
    for path, name in zip(paths, names):
        png = read_png(path)
        if name == "input":
            arr = x
        else:
            arr = maps[name]
        if arr.ndim == 1:
            assert png.shape[:2][::-1] == visualize.bar_chart_size(arr.size)
            continue
        layout = visualize.grid_layout(arr.shape[-1], arr.shape[0], arr.shape[1])
        assert png.shape[:2] == (layout.height, layout.width), name
        for k in range(arr.shape[-1]):
            if name == "input":  # the input's channels share one scale
                assert_tile_pixels(png, layout, k, arr[..., k], arr.min(), arr.max())
            else:
                assert_tile_pixels(png, layout, k, arr[..., k])
        # the white gap between tiles is really white
        x0, y0 = layout.tile_origin(0)
        if layout.cols > 1:
            assert (png[y0:y0 + layout.tile_h, x0 + layout.tile_w:x0 + layout.tile_w + 4] == 255).all()
    # conv2d: 6 maps of 9x8 -> zoom 8, tiles 72x64, 3x2 grid: the numbers this layout documents
    conv = read_png(paths[1])
    assert conv.shape[:2] == (60 + 2 * (14 + 72) + 4 + 10, 480)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_shared_scale_uses_one_range_for_all_channels(tmp_path):
    model = tichchap.Sequential([tichchap.Input((7, 6, 1)), layers.Conv2D(3, 2, name="conv")])
    model.get_layer("conv").kernel[...] = np.array([1.0, 2.0, 4.0]).reshape(1, 1, 1, 3) / 4
    x = np.arange(42, dtype=np.float32).reshape(7, 6, 1)
    arr = visualize.feature_maps(model, x)["conv"]
    path = visualize.plot_feature_maps(model, x, out_dir=tmp_path, shared_scale=True, include_input=False)[0]
    png = read_png(path)
    layout = visualize.grid_layout(3, 6, 5)
    for k in range(3):
        assert_tile_pixels(png, layout, k, arr[..., k], arr.min(), arr.max())
    # with its own scale each channel would reach white; with the shared one only the largest does
    x0, y0 = layout.tile_origin(0)
    assert png[y0:y0 + layout.tile_h, x0:x0 + layout.tile_w].max() < 255


def test_colour_input_is_drawn_in_colour(tmp_path):
    model = tichchap.Sequential([tichchap.Input((5, 4, 3)), layers.Conv2D(2, 2)])
    x = np.random.default_rng(0).uniform(0, 1, (5, 4, 3)).astype(np.float32)
    path = visualize.plot_feature_maps(model, x, out_dir=tmp_path)[0]
    png = read_png(path)
    layout = visualize.grid_layout(1, 5, 4)
    x0, y0 = layout.tile_origin(0)
    tile = png[y0:y0 + layout.tile_h, x0:x0 + layout.tile_w].astype(int)
    expected = expected_levels(x).repeat(layout.zoom, 0).repeat(layout.zoom, 1)
    assert np.abs(tile - expected).max() <= 1


def test_constant_channel_is_black_not_an_error(tmp_path):
    path = visualize.save_grid(np.zeros((2, 3, 4)), tmp_path / "zeros.png", ["zeros"])[0]
    png = read_png(path)
    layout = visualize.grid_layout(2, 3, 4)
    x0, y0 = layout.tile_origin(1)
    assert (png[y0:y0 + layout.tile_h, x0:x0 + layout.tile_w] == 0).all()


# -- filters, curves, confusion matrix --------------------------------------------------------


def test_plot_filters_first_layer_colour_and_deeper_layers_as_filter_by_channel_grids(tmp_path):
    model = tichchap.Sequential([tichchap.Input((12, 10, 3)), layers.Conv2D(5, (3, 2)), layers.Conv2D(4, 3),
                                 layers.Flatten(), layers.Dense(6)])
    first = model.get_layer("conv2d")
    png = read_png(visualize.plot_filters(first, tmp_path / "first.png"))
    layout = visualize.grid_layout(5, 3, 2)
    assert png.shape[:2] == (layout.height, layout.width)
    for k in range(5):
        assert_tile_pixels(png, layout, k, first.kernel[..., k])  # (3, 2, 3): one colour tile per filter
    deeper = model.get_layer("conv2d_1")
    png = read_png(visualize.plot_filters(deeper, tmp_path / "deeper.png"))
    layout = visualize.grid_layout(4 * 5, 3, 3, cols=5)
    assert (layout.rows, layout.cols) == (4, 5)
    assert png.shape[:2] == (layout.height, layout.width)
    for o in range(4):
        for i in range(5):
            assert_tile_pixels(png, layout, o * 5 + i, deeper.kernel[:, :, i, o])
    dense_png = read_png(visualize.plot_filters(model.get_layer("dense"), tmp_path / "dense.png"))
    layout = visualize.grid_layout(1, *model.get_layer("dense").kernel.shape)
    assert dense_png.shape[:2] == (layout.height, layout.width)
    assert_tile_pixels(dense_png, layout, 0, model.get_layer("dense").kernel)
    with pytest.raises(ConfigError, match="flatten"):
        visualize.plot_filters(model.get_layer("flatten"), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_plot_history_draws_the_logged_numbers(tmp_path):
    logs = {"loss": [1.2, 0.7, 0.5], "val_loss": [1.3, 0.9, 0.8], "accuracy": [0.5, 0.75, 0.8],
            "val_accuracy": [0.45, 0.6, 0.7]}
    fig = visualize.history_figure(logs)
    loss_ax, acc_ax = fig.axes
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), logs["loss"])
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), logs["val_loss"])
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), logs["val_accuracy"])
    np.testing.assert_allclose(acc_ax.lines[0].get_xdata(), [1, 2, 3])
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["training", "validation"]
    history = callbacks.History()
    for epoch in range(3):
        history.on_epoch_end(epoch, {k: v[epoch] for k, v in logs.items()})
    assert read_png(visualize.plot_history(history, tmp_path / "h.png")).shape[:2] == (400, 1000)
    # loss only: one panel
    assert read_png(visualize.plot_history({"loss": [3.0, 2.0]}, tmp_path / "l.png")).shape[:2] == (400, 500)
    with pytest.raises(DataError, match="loss"):
        visualize.plot_history({"accuracy": [0.5]}, tmp_path / "bad.png")


def test_confusion_matrix_counts_and_picture(tmp_path):
    y_true = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 2, 2, 0, 2]
    expected = np.array([[1, 1, 0], [0, 2, 1], [1, 0, 3]])
    np.testing.assert_array_equal(visualize.confusion_matrix(y_true, y_pred), expected)
    one_hot = np.eye(3)[y_true]
    probabilities = np.eye(3)[y_pred] * 0.8 + 0.05
    np.testing.assert_array_equal(visualize.confusion_matrix(one_hot, probabilities), expected)
    path = visualize.plot_confusion_matrix(y_true, y_pred, ["cat", "dog", "bird"], tmp_path / "c.png")
    width, height = visualize.confusion_figure_size(3)
    assert read_png(path).shape[:2] == (height, width)
    with pytest.raises(DataError, match="outside"):
        visualize.confusion_matrix([0, 5], [0, 1], num_classes=3)
    with pytest.raises(ShapeError, match="lengths"):
        visualize.confusion_matrix([0, 1], [0])


# -- the command -----------------------------------------------------------------------------


def _save_model_and_image(tmp_path):
    tichchap.utils.set_random_seed(3)
    model = tichchap.Sequential([tichchap.Input((11, 9, 1)), layers.Conv2D(6, (3, 2), activation="relu"),
                                 layers.MaxPooling2D(), layers.Flatten(), layers.Dense(4)])
    model_path = str(tmp_path / "model.tichchap")
    model.save(model_path)
    pixels = np.random.default_rng(5).integers(0, 256, (22, 18, 3), dtype=np.uint8)
    image_path = str(tmp_path / "photo.png")
    Image.fromarray(pixels).save(image_path)
    return model, model_path, image_path


def test_featuremaps_command_writes_pictures_and_index_in_layer_order(tmp_path):
    from tichchap import image

    model, model_path, image_path = _save_model_and_image(tmp_path)
    out = tmp_path / "maps"
    code = visualize.main([model_path, image_path, "--layers", "max_pooling2d,conv2d", "--out", str(out)])
    assert code == 0
    assert sorted(os.listdir(out)) == ["00_input.png", "01_conv2d.png", "02_max_pooling2d.png", "index.html"]
    page = (out / "index.html").read_text()
    assert re.findall(r'<img src="([^"]+)"', page) == ["00_input.png", "01_conv2d.png", "02_max_pooling2d.png"]
    assert page.index("<h2>conv2d") < page.index("<h2>max_pooling2d")
    assert "shape (None, 9, 8, 6)" in page and "shape (None, 4, 4, 6)" in page
    # the image is read as the model takes it (gray, resized to 11x9, in [0, 1]) and the page
    # states the maps' real value ranges
    x = image.load(image_path, target_size=(11, 9), color_mode="grayscale", interpolation="bilinear", scale=True)
    maps = visualize.feature_maps(model, x, ["conv2d", "max_pooling2d"])
    for name, m in maps.items():
        stats = re.search(r"<h2>%s .*?min (\S+) &middot; max (\S+) &middot; mean (\S+)</p>" % name, page, re.S)
        np.testing.assert_allclose([float(v) for v in stats.groups()], [m.min(), m.max(), m.mean()], rtol=1e-5)
    layout = visualize.grid_layout(6, 9, 8)
    png = read_png(out / "01_conv2d.png")
    assert png.shape[:2] == (layout.height, layout.width)
    for k in range(6):
        assert_tile_pixels(png, layout, k, maps["conv2d"][..., k])


def test_featuremaps_command_errors_are_one_line_and_exit_nonzero(tmp_path, capsys):
    _, model_path, image_path = _save_model_and_image(tmp_path)
    assert visualize.main(["no_such_model_or_file", image_path, "--out", str(tmp_path / "o")]) == 1
    assert "neither a model file nor a model name" in capsys.readouterr().err
    assert visualize.main([model_path, str(tmp_path / "missing.png"), "--out", str(tmp_path / "o")]) == 1
    assert "missing.png" in capsys.readouterr().err
    assert visualize.main([model_path, image_path, "--layers", "nope", "--out", str(tmp_path / "o")]) == 1
    assert "nope" in capsys.readouterr().err
    assert visualize.main(["--help"]) == 0
    assert "--shared-scale" in capsys.readouterr().out


def test_featuremaps_command_builds_an_application_by_name(tmp_path, monkeypatch):
    def tiny_net():
        return tichchap.Sequential([tichchap.Input((8, 8, 1)), layers.Conv2D(3, 3, name="c"), layers.Flatten(name="f")])

    fake = types.ModuleType("tichchap.applications")
    fake.tiny_net = tiny_net
    fake.MODELS = {"tiny_net": tiny_net}
    monkeypatch.setitem(sys.modules, "tichchap.applications", fake)
    monkeypatch.setattr(tichchap, "applications", fake, raising=False)
    image_path = str(tmp_path / "digit.png")
    Image.fromarray(np.arange(100, dtype=np.uint8).reshape(10, 10)).save(image_path)
    out = tmp_path / "app"
    assert visualize.main(["tiny_net", image_path, "--out", str(out), "--shared-scale"]) == 0
    assert sorted(os.listdir(out)) == ["00_input.png", "01_c.png", "02_f.png", "index.html"]
    assert read_png(out / "01_c.png").shape[:2] == (lambda l: (l.height, l.width))(visualize.grid_layout(3, 6, 6))
    assert visualize.main(["Sequential", image_path, "--out", str(out)]) == 1  # only the table's models


def test_featuremaps_command_with_a_real_application(tmp_path):
    applications = pytest.importorskip("tichchap.applications")
    if "lenet" not in getattr(applications, "MODELS", {}):
        pytest.skip("tichchap.applications has no lenet")
    image_path = str(tmp_path / "shirt.png")
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (40, 30), dtype=np.uint8)).save(image_path)
    out = tmp_path / "lenet"
    assert visualize.main(["lenet", image_path, "--layers", "conv2d,max_pooling2d", "--out", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["00_input.png", "01_conv2d.png", "02_max_pooling2d.png", "index.html"]
    layout = visualize.grid_layout(32, 24, 24)  # LeNet's first layer: 32 maps of 24x24
    assert read_png(out / "01_conv2d.png").shape[:2] == (layout.height, layout.width)


# -- the example -----------------------------------------------------------------------------


def _load_demo():
    spec = importlib.util.spec_from_file_location("conv_relu_pool_demo",
                                                  os.path.join(REPO, "examples", "conv_relu_pool_demo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_conv_relu_pool_demo_matches_a_direct_correlation(tmp_path):
    signal = pytest.importorskip("scipy.signal")
    demo = _load_demo()
    photo = demo.load_gray(demo.sample_photo_path(), size=40)
    assert photo.shape == (40, 34, 1) and 0 <= photo.min() and photo.max() <= 1
    model = demo.build_model(photo.shape, seed=7)
    maps = visualize.feature_maps(model, photo, list(demo.STAGES))
    kernel = model.get_layer("conv2d").kernel
    assert kernel.shape == (3, 3, 1, 8)
    padded = np.pad(photo[..., 0].astype(np.float64), 2)
    conv = np.stack([signal.correlate2d(padded, kernel[:, :, 0, f], mode="valid") for f in range(8)], axis=-1)
    assert maps["conv2d"].shape == (42, 36, 8)
    np.testing.assert_allclose(maps["conv2d"], conv, atol=1e-5)
    relu = np.maximum(conv, 0)
    np.testing.assert_allclose(maps["re_lu"], relu, atol=1e-5)
    blocks = relu.reshape(21, 2, 18, 2, 8)
    np.testing.assert_allclose(maps["max_pooling2d"], blocks.max(axis=(1, 3)), atol=1e-5)
    np.testing.assert_allclose(maps["average_pooling2d"], blocks.mean(axis=(1, 3)), atol=1e-5)
    # same seed, same kernels
    np.testing.assert_array_equal(demo.build_model(photo.shape, seed=7).get_layer("conv2d").kernel, kernel)

    assert demo.main(["--out", str(tmp_path), "--size", "40", "--seed", "7"]) == 0
    written = sorted(os.listdir(tmp_path))
    assert written == ["00_input.png", "01_conv2d.png", "02_re_lu.png", "03_max_pooling2d.png",
                       "04_average_pooling2d.png", "index.html"]
    layout = visualize.grid_layout(8, 21, 18)
    assert read_png(tmp_path / "03_max_pooling2d.png").shape[:2] == (layout.height, layout.width)
    assert math.isclose(float(kernel.std()), np.sqrt(2 / 9), rel_tol=0.35)  # He normal's spread, 72 samples
