"""The HTML comparison report: verdicts per layer, statistics, pictures that exist, decode and load
in a browser (headless Chromium, skipped where it is not installed)."""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import tichchap
from tichchap import layers
from tichchap.hardware import Fixed, GoldenModel, TruncatedFloat32, build_report
from tichchap.hardware.report import signed_distance

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "")
                 if p and os.path.exists(p)), None)


def tiny_net(rng):
    model = tichchap.Sequential([
        tichchap.Input((6, 4, 3)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(3, activation="relu"),
        layers.Dense(2, activation="softmax"),
    ])
    for layer in model.layers:
        layer.set_weights([rng.normal(0, 0.5, size=w.shape).astype(np.float32) for w in layer.get_weights()])
    return model


def read_page(out_dir):
    with open(os.path.join(out_dir, "index.html"), encoding="utf-8") as fh:
        return fh.read()


def verdicts(page):
    return dict(re.findall(r"<td class='verdict (?:pass|fail)' data-layer='([^']+)'>(PASS|FAIL)</td>", page))


def image_sources(page):
    return re.findall(r"<img src='([^']+)'", page)


def check_images_decode(out_dir, page):
    from PIL import Image

    sources = image_sources(page)
    assert sources
    for src in sources:
        assert not os.path.isabs(src) and not src.startswith(("http:", "https:", "file:"))
        path = os.path.join(out_dir, src)
        with Image.open(path) as im:
            im.load()
            assert im.format == "PNG" and im.size[0] > 50 and im.size[1] > 50
    return sources


def test_report_with_dumps_passes_exact_layers_and_fails_a_broken_one(tmp_path):
    rng = np.random.default_rng(0)
    model = tiny_net(rng)
    fmt = Fixed(16, 6, rounding="RND", overflow="SAT")
    golden = GoldenModel(model, fmt)
    x = rng.random((1, 6, 4, 3))
    words = golden.run(x)
    dumps = {name: words[name].copy() for name in golden.layer_names[1:]}
    dumps["max_pooling2d"][0, 1, 0, 2] += np.uint64(3)                   # the RTL is 3 LSBs off in one word
    out_dir = str(tmp_path / "report")
    keras = {name: golden.float_outputs(x)[name] * 1.0 for name in ("conv2d", "dense")}
    report = build_report(golden, x, dumps=dumps, keras_outputs=keras, out_dir=out_dir)
    page = read_page(out_dir)
    assert verdicts(page) == {"input_layer": "PASS", "conv2d": "PASS", "max_pooling2d": "FAIL", "flatten": "PASS",
                              "dense": "PASS", "dense_1": "PASS"}
    assert report["passed"] is False and "id='overall'>FAIL" in page
    pooled = report["layers"]["max_pooling2d"]
    assert pooled["compared_with"] == "RTL" and pooled["result"].failures == 1
    assert pooled["result"].max_lsb == 3 and pooled["result"].first_failure["index"] == (0, 1, 0, 2)
    assert "(0, 1, 0, 2)" in page
    assert report["layers"]["input_layer"]["compared_with"] == "float"       # no dump of the input
    assert set(report["layers"]["conv2d"]["others"]) == {"float", "Keras"}
    sources = check_images_decode(out_dir, page)
    for name in ("conv2d", "max_pooling2d", "dense"):
        for kind in ("rtl", "golden", "float", "error", "histogram"):
            assert f"img/{name}_{kind}.png" in sources
    assert "img/conv2d_keras.png" in sources and "img/max_pooling2d_keras.png" not in sources
    assert not [f for f in os.listdir(out_dir) + os.listdir(os.path.join(out_dir, "img")) if f.endswith(".tmp")]
    # the signed error of the histogram
    d = signed_distance(words["max_pooling2d"], dumps["max_pooling2d"], fmt)
    assert d.sum() == 3 and np.count_nonzero(d) == 1


def test_report_without_dumps_compares_golden_with_the_float_model(tmp_path):
    rng = np.random.default_rng(1)
    model = tiny_net(rng)
    golden = GoldenModel(model, TruncatedFloat32())
    x = rng.random((2, 6, 4, 3))
    report = build_report(golden, x, out_dir=str(tmp_path), tolerance=64, sample=1)
    page = read_page(str(tmp_path))
    assert set(verdicts(page)) == set(golden.layer_names)
    assert all(layer["compared_with"] == "float" for layer in report["layers"].values())
    conv = report["layers"]["conv2d"]["result"]
    assert conv.unit == "ULP" and 0 < conv.exact_share < 1 and conv.max_lsb > 0   # truncation shows up
    assert "no RTL dumps: golden vs float model" in page
    check_images_decode(str(tmp_path), page)


def test_report_reads_a_dump_folder(tmp_path):
    rng = np.random.default_rng(2)
    model = tiny_net(rng)
    golden = GoldenModel(model, Fixed(12, 4, rounding="RND", overflow="SAT"))
    x = rng.random((1, 6, 4, 3))
    golden.export(str(tmp_path / "exported"), x, file_format="bin")
    report = build_report(golden, x, dumps=str(tmp_path / "exported" / "expected"), out_dir=str(tmp_path / "r"))
    assert report["passed"] and all(v["compared_with"] == "RTL" for k, v in report["layers"].items()
                                    if k != "input_layer")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_report_loads_in_headless_chromium_with_every_image(tmp_path):
    rng = np.random.default_rng(3)
    model = tiny_net(rng)
    golden = GoldenModel(model, Fixed(16, 6, rounding="RND", overflow="SAT"))
    x = rng.random((1, 6, 4, 3))
    out_dir = tmp_path / "report dir"                                 # a space in the path, as users have
    build_report(golden, x, out_dir=str(out_dir))
    page = read_page(str(out_dir))
    expected_images = len(image_sources(page))
    # and one that misses its pictures: the page's own check must notice
    broken_dir = tmp_path / "broken"
    shutil.copytree(out_dir, broken_dir)
    os.remove(broken_dir / "img" / "conv2d_error.png")

    def dom(folder):
        result = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", "--virtual-time-budget=5000",
             (folder / "index.html").as_uri()], capture_output=True, text=True, timeout=60)
        return result.stdout

    loaded = dom(out_dir)
    assert f'data-images-loaded="{expected_images}"' in loaded and 'data-images-broken="0"' in loaded
    assert len(re.findall(r"class=\"verdict (?:pass|fail)\" data-layer=", loaded)) == len(golden.layer_names)
    broken = dom(broken_dir)
    assert 'data-images-broken="1"' in broken and "failed to load" in broken


@pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                    reason="Icarus Verilog (iverilog, vvp) not installed")
def test_golden_export_through_the_verilog_conv_reaches_a_passing_report(tmp_path):
    """GoldenModel.export -> examples/rtl's Verilog conv3x3+ReLU in Icarus -> its dump -> report."""
    rtl_dir = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "rtl")
    x_fmt, w_fmt, b_fmt = Fixed(8, 4), Fixed(8, 2), Fixed(16, 6)
    out_fmt = Fixed(8, 4, rounding="RND", overflow="SAT")              # the formats the Verilog is built for
    rng = np.random.default_rng(4)
    model = tichchap.Sequential([tichchap.Input((5, 6, 2)), layers.Conv2D(3, 3, padding="same", activation="relu")])
    conv = model.layers[0]
    conv.set_weights([rng.normal(0, 0.8, size=(3, 3, 2, 3)).astype(np.float32),
                      rng.normal(0, 1.0, size=3).astype(np.float32)])
    golden = GoldenModel(model, x_fmt, layer_formats={"input_layer": {"output": x_fmt},
                                                      "conv2d": {"weight": w_fmt, "bias": b_fmt, "output": out_fmt}})
    x = rng.normal(0, 2.0, size=(1, 5, 6, 2))
    golden.export(str(tmp_path / "mem"), x, file_format="hex")
    sim = tmp_path / "sim"
    sim.mkdir()
    for source, target in (("input.hex", "input.hex"), ("weights/conv2d_kernel.hex", "weights.hex"),
                           ("weights/conv2d_bias.hex", "bias.hex")):
        shutil.copy(tmp_path / "mem" / source, sim / target)
    params = [f"-Ptb_conv3x3_relu.{k}={v}" for k, v in (("H", 5), ("W", 6), ("CIN", 2), ("COUT", 3))]
    subprocess.run(["iverilog", "-g2005", "-o", str(sim / "sim.vvp"), *params, os.path.join(rtl_dir, "conv3x3_relu.v"),
                    os.path.join(rtl_dir, "tb_conv3x3_relu.v")], check=True, capture_output=True)
    subprocess.run(["vvp", "-n", str(sim / "sim.vvp")], cwd=sim, check=True, capture_output=True)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    shutil.copy(sim / "output.hex", dumps / "conv2d.hex")
    report = build_report(golden, x, dumps=str(dumps), out_dir=str(tmp_path / "report"))
    conv_result = report["layers"]["conv2d"]
    assert conv_result["compared_with"] == "RTL" and conv_result["passed"]
    assert conv_result["result"].exact == 5 * 6 * 3 and golden.overflows["conv2d"] > 0   # saturation exercised
    assert verdicts(read_page(str(tmp_path / "report")))["conv2d"] == "PASS"
