"""``tichchap golden export|report`` on a tiny model file: files written, read back, verdicts and
exit statuses."""

import json
import os

import numpy as np
import pytest

import tichchap
from tichchap import layers
from tichchap.hardware import Fixed, GoldenModel, TruncatedFloat32, load_exported
from tichchap.hardware.cli import main, parse_format


@pytest.fixture
def model_file(tmp_path):
    rng = np.random.default_rng(0)
    model = tichchap.Sequential([
        tichchap.Input((6, 4, 3)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(2, activation="softmax"),
    ])
    for layer in model.layers:
        layer.set_weights([rng.normal(0, 0.5, size=w.shape).astype(np.float32) for w in layer.get_weights()])
    path = str(tmp_path / "tiny.npz")
    model.save(path)
    x = rng.random((6, 4, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    return path, str(tmp_path / "x.npy"), x


def test_parse_format():
    assert parse_format("fixed:16,6") == Fixed(16, 6)
    assert parse_format("fixed:16,6,RND,SAT") == Fixed(16, 6, rounding="RND", overflow="SAT")
    assert parse_format("ufixed:8,2,rnd_conv") == Fixed(8, 2, signed=False, rounding="RND_CONV")
    assert parse_format("truncated") == TruncatedFloat32()
    with pytest.raises(ValueError, match="fixed:W,I"):
        parse_format("fixed16")
    with pytest.raises(ValueError, match="integer"):
        parse_format("fixed:16,x")


def test_export_then_report_on_the_exported_expectations(tmp_path, model_file, capsys):
    path, x_path, x = model_file
    out = str(tmp_path / "mem")
    rc = main(["export", path, "--input", x_path, "--format", "fixed:16,6,RND,SAT", "--out", out,
               "--mem-format", "seed", "--layout", "per-channel"])
    assert rc == 0
    assert "4 layers" in capsys.readouterr().out
    loaded, manifest = load_exported(out)
    golden = GoldenModel(tichchap.load_model(path), Fixed(16, 6, rounding="RND", overflow="SAT"))
    words = golden.run(x)
    assert all(np.array_equal(loaded[k], words[k]) for k in ("conv2d", "max_pooling2d", "flatten", "dense"))
    assert np.array_equal(loaded["input"], words["input_layer"])
    assert manifest["source"]["input"] == "x.npy" and manifest["layout"] == "per_channel"
    with open(os.path.join(out, "expected", "conv2d_c0.txt")) as fh:          # SEED_RTL.md's dump format
        lines = fh.read().split()
    assert lines[0] == "24" and len(lines) == 25 and all(len(w) == 16 and set(w) <= {"0", "1"} for w in lines[1:])

    report_dir = str(tmp_path / "report")
    rc = main(["report", path, "--input", x_path, "--format", "fixed:16,6,RND,SAT", "--out", report_dir,
               "--dumps", os.path.join(out, "expected"), "--mem-format", "seed", "--layout", "per-channel"])
    printed = capsys.readouterr().out
    assert rc == 0 and printed.count("PASS") == 5 and "vs RTL" in printed
    assert os.path.exists(os.path.join(report_dir, "index.html"))

    # the RTL gets one word of conv2d channel 1 wrong: the report fails that layer, exit status 1
    dump = os.path.join(out, "expected", "conv2d_c1.txt")
    with open(dump) as fh:
        lines = fh.read().split("\n")
    lines[3] = lines[3][:-1] + ("1" if lines[3][-1] == "0" else "0")
    with open(dump, "w") as fh:
        fh.write("\n".join(lines))
    rc = main(["report", path, "--input", x_path, "--format", "fixed:16,6,RND,SAT", "--out", report_dir,
               "--dumps", os.path.join(out, "expected"), "--mem-format", "seed", "--layout", "per-channel"])
    printed = capsys.readouterr().out
    assert rc == 1
    assert [line.split()[1] for line in printed.splitlines() if line.startswith("FAIL")] == ["conv2d"]


def test_report_from_an_image_file_without_dumps(tmp_path, model_file, capsys):
    from PIL import Image

    path, _, _ = model_file
    image_path = str(tmp_path / "photo.png")
    Image.fromarray(np.random.default_rng(1).integers(0, 256, size=(30, 20, 3), dtype=np.uint8)).save(image_path)
    rc = main(["report", path, "--input", image_path, "--format", "float32", "--out", str(tmp_path / "r")])
    printed = capsys.readouterr().out
    assert "vs float" in printed and rc in (0, 1)
    assert "report: " in printed and os.path.exists(tmp_path / "r" / "index.html")


def test_cli_errors_have_clear_messages_and_exit_statuses(tmp_path, model_file, capsys):
    path, x_path, _ = model_file
    assert main(["export", path, "--input", x_path, "--format", "fixed:abc", "--out", str(tmp_path / "o")]) == 1
    assert "fixed:WIDTH,INTEGER" in capsys.readouterr().err
    assert main(["export", "no_such_model", "--input", x_path, "--format", "float32", "--out", str(tmp_path)]) == 1
    assert "neither a file nor an application" in capsys.readouterr().err
    np.save(tmp_path / "wrong.npy", np.zeros((5, 5, 3)))
    assert main(["export", path, "--input", str(tmp_path / "wrong.npy"), "--format", "float32",
                 "--out", str(tmp_path / "o")]) == 1
    assert "(6, 4, 3)" in capsys.readouterr().err
    assert main(["report", path, "--input", x_path, "--format", "float32", "--out", str(tmp_path / "r"),
                 "--dumps", str(tmp_path)]) == 1
    assert "no dump for any layer" in capsys.readouterr().err
    assert main(["export", path]) == 2
    assert main([]) == 2


def test_tichchap_command_dispatches_golden(tmp_path, model_file):
    cli = pytest.importorskip("tichchap.cli")
    if "golden" not in getattr(cli, "DELEGATED", {}):
        pytest.skip("tichchap.cli does not dispatch 'golden' yet")
    path, x_path, _ = model_file
    assert cli.main(["golden", "export", path, "--input", x_path, "--format", "truncated",
                     "--out", str(tmp_path / "m")]) == 0
    with open(tmp_path / "m" / "golden_manifest.json") as fh:
        assert json.load(fh)["number_format"] == {"type": "TruncatedFloat32"}
