"""Memory files: round trips for every format and option, exact digit counts, refusals."""

import itertools
import json
import os

import numpy as np
import pytest

from tichchap.errors import ConfigError, FileFormatError
from tichchap.hardware.formats import Fixed, Float32
from tichchap.hardware.memfiles import FILE_FORMATS, LAYOUTS, export_words, import_manifest, import_words

OPTIONS = list(itertools.product(sorted(FILE_FORMATS), LAYOUTS, [(1, "msb_first"), (2, "msb_first"), (2, "lsb_first")],
                                 ["RGB", "BGR"]))


@pytest.mark.parametrize("file_format, layout, packing, channel_order", OPTIONS)
def test_round_trip_every_format_and_option(tmp_path, file_format, layout, packing, channel_order):
    lanes, lane_order = packing
    fmt = Fixed(13, 5)
    rng = np.random.default_rng(1)
    words = rng.integers(0, 2**13, size=(2, 3, 4, 2)).astype(np.uint64)
    path = tmp_path / f"layer{FILE_FORMATS[file_format]}"
    written = export_words(path, words, fmt, file_format, layout, lanes, lane_order, channel_order,
                           layer="conv2d", source="unit test")
    assert all(os.path.exists(p) for p in written)
    back = import_words(path, words.shape, fmt, file_format, layout, lanes, lane_order, channel_order)
    assert back.dtype == np.uint64 and np.array_equal(back, words)
    again, manifest = import_manifest(written[-1])
    assert np.array_equal(again, words)
    assert manifest["layer"] == "conv2d" and manifest["shape"] == [2, 3, 4, 2]
    assert manifest["number_format"] == fmt.to_config()


def test_hex_and_bin_have_exact_digit_counts(tmp_path):
    words = np.array([0, 1, 2**13 - 1, 0x1ABC], dtype=np.uint64)
    export_words(tmp_path / "w.hex", words, 13, "hex", manifest=False)
    export_words(tmp_path / "w.bin", words, 13, "bin", manifest=False)
    assert (tmp_path / "w.hex").read_text().splitlines() == ["0000", "0001", "1fff", "1abc"]
    assert (tmp_path / "w.bin").read_text().splitlines()[2] == "1" * 13
    assert all(len(line) == 13 for line in (tmp_path / "w.bin").read_text().splitlines())


def test_coe_and_mif_text(tmp_path):
    words = np.array([0xA, 0xFF], dtype=np.uint64)
    export_words(tmp_path / "w.coe", words, 8, "coe", manifest=False)
    export_words(tmp_path / "w.mif", words, 8, "mif", manifest=False)
    assert (tmp_path / "w.coe").read_text() == ("memory_initialization_radix=16;\n"
                                                "memory_initialization_vector=\n0a,\nff;\n")
    mif = (tmp_path / "w.mif").read_text()
    assert "WIDTH=8;" in mif and "DEPTH=2;" in mif and "\t1 : FF;\n" in mif


def test_seed_input_image_is_one_96_bit_word_per_pixel_bgr_msb_first(tmp_path):
    fmt = Float32()
    rgb = np.array([[[[1.0, 2.0, 3.0], [0.5, 0.25, -1.0]]]])          # (1, 1, 2, 3)
    words = fmt.to_words(rgb)
    export_words(tmp_path / "image.txt", words, fmt, "seed", lanes=3, channel_order="BGR")
    lines = (tmp_path / "image.txt").read_text().splitlines()
    assert lines[0] == "2" and len(lines[1]) == 96
    b, g, r = int(lines[1][:32], 2), int(lines[1][32:64], 2), int(lines[1][64:], 2)
    assert (b, g, r) == (0x40400000, 0x40000000, 0x3F800000)          # 3.0, 2.0, 1.0
    back = import_words(tmp_path / "image.txt", rgb.shape, fmt, "seed", lanes=3, channel_order="BGR")
    assert np.array_equal(back, words)


def test_seed_per_channel_dump_with_two_frames_needs_a_frame(tmp_path):
    frame0 = np.arange(12, dtype=np.uint32).reshape(1, 3, 4, 1)
    frame1 = frame0 + 100
    body = "24\n" + "".join(f"{int(w):032b}\n" for w in np.concatenate([frame0.ravel(), frame1.ravel()]))
    (tmp_path / "out_c0.txt").write_text(body)
    with pytest.raises(FileFormatError, match=r"expected 12 words; received 24 \(2 frames"):
        import_words(tmp_path / "out.txt", (1, 3, 4, 1), Float32(), "seed", layout="per_channel")
    got = import_words(tmp_path / "out.txt", (1, 3, 4, 1), Float32(), "seed", layout="per_channel", frame=1)
    assert np.array_equal(got, frame1)
    with pytest.raises(FileFormatError, match="frame 2 is not in the file"):
        import_words(tmp_path / "out.txt", (1, 3, 4, 1), Float32(), "seed", layout="per_channel", frame=2)


@pytest.mark.parametrize("file_format", sorted(FILE_FORMATS))
def test_wrong_word_counts_are_refused(tmp_path, file_format):
    words = np.arange(10, dtype=np.uint64)
    path = tmp_path / f"w{FILE_FORMATS[file_format]}"
    export_words(path, words, 8, file_format, manifest=False)
    with pytest.raises(FileFormatError, match="expected 12 words; received 10"):
        import_words(path, (3, 4), 8, file_format)
    with pytest.raises(FileFormatError, match="expected 4 words; received 10"):
        import_words(path, (2, 2), 8, file_format)
    assert np.array_equal(import_words(path, (5,), 8, file_format, frame=1), words[5:])


def test_malformed_files_are_refused(tmp_path):
    (tmp_path / "a.hex").write_text("0f\n1ff\n")
    with pytest.raises(FileFormatError, match="line 2: word has 3 digits; expected at most 2"):
        import_words(tmp_path / "a.hex", (2,), 8)
    (tmp_path / "b.hex").write_text("0f\nxz\n")
    with pytest.raises(FileFormatError, match="not a base-16 word"):
        import_words(tmp_path / "b.hex", (2,), 8)
    (tmp_path / "c.txt").write_text("3\n00000001\n00000010\n")
    with pytest.raises(FileFormatError, match="header says 3 words; the file holds 2"):
        import_words(tmp_path / "c.txt", (2,), 8)
    with pytest.raises(FileFormatError, match="file not found"):
        import_words(tmp_path / "missing.hex", (2,), 8)


def test_wide_words_and_comments(tmp_path):
    fmt = Fixed(80, 40)
    words = np.array([0, 2**79 + 5, 2**80 - 1], dtype=object)
    export_words(tmp_path / "wide.hex", words, fmt, "hex", manifest=False)
    assert len((tmp_path / "wide.hex").read_text().splitlines()[1]) == 20
    back = import_words(tmp_path / "wide.hex", (3,), fmt)
    assert back.dtype == object and back.tolist() == words.tolist()
    with pytest.raises(ConfigError, match="up to 64 bits"):
        export_words(tmp_path / "wide.npy", words, fmt, "npy", manifest=False)
    (tmp_path / "c.hex").write_text("// header comment\n0a // first\n\n0b\n")
    assert import_words(tmp_path / "c.hex", (2,), 8).tolist() == [10, 11]


def test_manifest_describes_the_files(tmp_path):
    words = np.zeros((1, 2, 2, 3), dtype=np.uint64)
    written = export_words(tmp_path / "conv.hex", words, Fixed(8, 3), layout="per_channel", layer="conv2d_1",
                           source={"model": "food_net", "input": "img.png"})
    info = json.loads(open(written[-1]).read())
    assert info["files"] == ["conv_c0.hex", "conv_c1.hex", "conv_c2.hex"]
    assert info["layout"] == "per_channel" and info["word_width"] == 8
    assert info["source"] == {"model": "food_net", "input": "img.png"}
