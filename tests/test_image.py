"""tichchap.image: reading (PNG, JPEG, BMP, GIF), colour modes, resizing, scaling, errors, saving."""

import os

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from tichchap import image  # noqa: E402
from tichchap.errors import ConfigError, DataNotFoundError, FileFormatError  # noqa: E402


def _rgb_pixels(h=6, w=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _write(path, pixels, fmt=None, **params):
    Image.fromarray(pixels).save(path, format=fmt, **params)
    return str(path)


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".webp"])
def test_lossless_formats_read_back_exactly(tmp_path, ext):
    if ext == ".webp":
        from PIL import features

        if not features.check("webp"):
            pytest.skip("Pillow without WebP")
    pixels = _rgb_pixels()
    params = {"lossless": True} if ext == ".webp" else {}
    x = image.load(_write(tmp_path / f"a{ext}", pixels, **params))
    assert x.dtype == np.float32 and x.shape == (6, 4, 3)
    np.testing.assert_array_equal(x, pixels.astype(np.float32))


def test_jpeg_reads_close_to_what_was_written(tmp_path):
    # a smooth picture, so JPEG's loss is small
    yy, xx = np.mgrid[0:32, 0:48]
    pixels = np.stack([yy * 6, xx * 4, (yy + xx) * 3], axis=-1).astype(np.uint8)
    x = image.load(_write(tmp_path / "a.jpg", pixels, quality=95))
    assert x.shape == (32, 48, 3)
    assert np.abs(x - pixels).mean() < 3.0


def test_grayscale_is_pillow_luma_and_has_one_channel(tmp_path):
    pixels = _rgb_pixels(5, 7, seed=1)
    x = image.load(_write(tmp_path / "a.png", pixels), color_mode="grayscale")
    assert x.shape == (5, 7, 1)
    r, g, b = (pixels[..., i].astype(np.float64) for i in range(3))
    luma = r * 299 / 1000 + g * 587 / 1000 + b * 114 / 1000  # ITU-R 601-2, as Pillow's "L"
    assert np.abs(x[..., 0] - luma).max() <= 1.0


def test_gray_file_as_rgb_repeats_the_channel_and_rgba_keeps_alpha(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    path = _write(tmp_path / "g.png", gray)
    x = image.load(path)
    assert x.shape == (3, 4, 3)
    for c in range(3):
        np.testing.assert_array_equal(x[..., c], gray)
    rgba = np.dstack([_rgb_pixels(3, 4), np.full((3, 4), 77, np.uint8)])
    y = image.load(_write(tmp_path / "a.png", rgba), color_mode="rgba")
    np.testing.assert_array_equal(y, rgba)


def test_palette_gif_reads_as_rgb(tmp_path):
    pixels = np.zeros((4, 4, 3), np.uint8)
    pixels[:2] = (255, 0, 0)
    pixels[2:] = (0, 0, 255)
    path = str(tmp_path / "p.gif")
    Image.fromarray(pixels).convert("P", palette=Image.Palette.ADAPTIVE, colors=2).save(path)
    x = image.load(path)
    np.testing.assert_array_equal(x[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(x[3, 3], [0, 0, 255])


def test_target_size_is_height_then_width(tmp_path):
    path = _write(tmp_path / "a.png", _rgb_pixels(6, 4))
    assert image.load(path, target_size=(3, 8)).shape == (3, 8, 3)
    assert image.load(path, target_size=(6, 4)).shape == (6, 4, 3)


def test_nearest_upscaling_repeats_pixels_and_bilinear_blends(tmp_path):
    pixels = np.array([[[0, 0, 0], [200, 100, 40]],
                       [[40, 80, 120], [255, 255, 255]]], dtype=np.uint8)
    path = _write(tmp_path / "a.png", pixels)
    nearest = image.load(path, target_size=(4, 4))  # nearest is the default, as Keras
    np.testing.assert_array_equal(nearest, pixels.repeat(2, axis=0).repeat(2, axis=1).astype(np.float32))
    bilinear = image.load(path, target_size=(4, 4), interpolation="bilinear")
    assert not np.array_equal(bilinear, nearest)
    # the centre pixels lie between the corners: strictly inside the range of their neighbours
    row = bilinear[1, :, 0]
    assert 0 < row[1] < 200 and 0 < row[2] < 255
    # every bilinear value lies in the range of the source values of that channel
    for c in range(3):
        assert pixels[..., c].min() <= bilinear[..., c].min() and bilinear[..., c].max() <= pixels[..., c].max()


def test_keep_aspect_ratio_crops_the_centre(tmp_path):
    pixels = np.zeros((4, 8, 3), np.uint8)
    pixels[:, 2:6] = 255  # a white centre square in a wide image
    x = image.load(_write(tmp_path / "a.png", pixels), target_size=(4, 4), keep_aspect_ratio=True)
    np.testing.assert_array_equal(x, np.full((4, 4, 3), 255, np.float32))


def test_scale_divides_by_255(tmp_path):
    pixels = _rgb_pixels()
    path = _write(tmp_path / "a.png", pixels)
    np.testing.assert_allclose(image.load(path, scale=True), pixels / 255.0, rtol=1e-6)
    assert image.load(path, dtype="float64").dtype == np.float64


def test_garbage_file_raises_file_format_error_naming_the_file(tmp_path):
    path = tmp_path / "not_an_image.png"
    path.write_bytes(b"this is text, not a picture\n" * 10)
    with pytest.raises(FileFormatError, match="not_an_image.png") as info:
        image.load(path)
    assert isinstance(info.value, ValueError)


def test_truncated_png_raises_file_format_error(tmp_path):
    good = _write(tmp_path / "good.png", np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = open(good, "rb").read()
    bad = tmp_path / "truncated.png"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="truncated.png"):
        image.load(bad)


def test_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(DataNotFoundError, match="nothing_here.png"):
        image.load(tmp_path / "nothing_here.png")
    path = _write(tmp_path / "a.png", _rgb_pixels())
    with pytest.raises(ConfigError, match="color_mode"):
        image.load(path, color_mode="cmyk")
    with pytest.raises(ConfigError, match="interpolation"):
        image.load(path, interpolation="sinc")
    with pytest.raises(ConfigError, match="target_size"):
        image.load(path, target_size=(0, 4))
    with pytest.raises(ConfigError, match="target_size"):
        image.load(path, target_size=28)


def test_save_round_trips_and_is_atomic(tmp_path):
    pixels = _rgb_pixels(5, 9)
    for ext in (".png", ".bmp"):
        path = image.save(tmp_path / f"out{ext}", pixels.astype(np.float32))
        np.testing.assert_array_equal(image.load(path), pixels)
    # values in [0, 1] are taken as fractions of 255
    path = image.save(tmp_path / "unit.png", pixels / 255.0)
    np.testing.assert_array_equal(image.load(path), pixels)
    # scale=True stretches min..max to 0..255
    path = image.save(tmp_path / "stretched.png", np.array([[-1.0, 0.0], [1.0, 3.0]]), scale=True)
    np.testing.assert_array_equal(image.load(path, color_mode="grayscale")[..., 0], [[0, 64], [128, 255]])
    # an unknown extension changes nothing on disk and leaves no temporary file
    with pytest.raises(ConfigError, match="extension"):
        image.save(tmp_path / "out.unknownext", pixels)
    assert sorted(os.listdir(tmp_path)) == ["out.bmp", "out.png", "stretched.png", "unit.png"]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mutated_files_raise_only_file_format_error(tmp_path):
    """Truncated, bit-flipped and random files of each format: a decoded array or FileFormatError,
    nothing else (a deterministic sample of the cases; 1,800 such cases ran clean when written)."""
    import io

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (20, 17, 3), dtype=np.uint8)
    cases = 0
    for fmt, ext in [("PNG", ".png"), ("JPEG", ".jpg"), ("BMP", ".bmp"), ("GIF", ".gif"), ("TIFF", ".tif")]:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=fmt)
        good = buffer.getvalue()
        for i in range(30):
            data = bytearray(good)
            if i % 3 == 0:
                data = data[: rng.integers(0, len(data))]
            elif i % 3 == 1:
                for _ in range(rng.integers(1, 8)):
                    data[rng.integers(0, len(data))] ^= 1 << int(rng.integers(0, 8))
            else:
                data = bytearray(rng.integers(0, 256, rng.integers(0, 200), dtype=np.uint8).tobytes())
            path = tmp_path / f"mutated{ext}"
            path.write_bytes(bytes(data))
            try:
                x = image.load(path, target_size=(5, 4))
            except FileFormatError as error:
                assert "mutated" in str(error)
            else:
                assert x.shape == (5, 4, 3) and np.isfinite(x).all()
            cases += 1
    assert cases == 150
