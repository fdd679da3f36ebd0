"""The featuremaps page opens from disk in a real browser and every picture on it loads.

Runs headless Chromium (Debian's ``chromium``); skipped where it is not installed.
"""

import os
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

import tichchap  # noqa: E402
from tichchap import layers, visualize  # noqa: E402
from tichchap.utils import clear_session  # noqa: E402

from helpers_browser import find_chromium, image_load_report  # noqa: E402

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="headless Chromium not installed (apt-get install chromium)")


@pytest.fixture
def featuremaps_page(tmp_path):
    clear_session()
    tichchap.utils.set_random_seed(0)
    model = tichchap.Sequential([tichchap.Input((16, 12, 3)), layers.Conv2D(8, 3, activation="relu"),
                                 layers.MaxPooling2D(), layers.Conv2D(4, (3, 2), padding="same"),
                                 layers.GlobalAveragePooling2D(), layers.Dense(5, activation="softmax")])
    model_path = str(tmp_path / "model.tichchap")
    model.save(model_path)
    image_path = str(tmp_path / "photo.jpg")
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 24, 3), dtype=np.uint8)).save(image_path)
    # a folder name with a space and a non-ASCII letter: links must still resolve from disk
    out = tmp_path / "feature maps ảnh"
    assert visualize.main([model_path, image_path, "--out", str(out)]) == 0
    yield out
    clear_session()


def test_every_picture_on_the_page_loads_in_chromium(featuremaps_page):
    pngs = sorted(f for f in os.listdir(featuremaps_page) if f.endswith(".png"))
    assert len(pngs) == 6  # the input and five layers
    report = image_load_report(featuremaps_page / "index.html")
    assert report["broken"] == []
    assert report["total"] == len(pngs)
    loaded = {entry["src"]: (entry["naturalWidth"], entry["naturalHeight"]) for entry in report["loaded"]}
    assert sorted(loaded) == pngs
    for name, size in loaded.items():  # the browser decoded each file at its real size
        with Image.open(featuremaps_page / name) as im:
            assert size == im.size


def test_the_page_still_loads_after_the_folder_is_moved(featuremaps_page, tmp_path):
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(featuremaps_page, moved)
    shutil.rmtree(featuremaps_page)
    report = image_load_report(moved / "index.html")
    assert report["total"] == 6 and report["broken"] == []


def test_the_probe_sees_a_broken_image(tmp_path):
    """The check itself works: a missing file is reported as broken."""
    Image.new("RGB", (7, 5), "red").save(tmp_path / "ok.png")
    page = tmp_path / "page.html"
    page.write_text('<!DOCTYPE html><html><body><img src="ok.png"><img src="missing.png"></body></html>')
    report = image_load_report(page)
    assert report["total"] == 2
    assert [(e["src"], e["naturalWidth"], e["naturalHeight"]) for e in report["loaded"]] == [("ok.png", 7, 5)]
    assert [e["src"] for e in report["broken"]] == ["missing.png"]
    assert not [f for f in os.listdir(tmp_path) if re.match(r"\.probe-", f)]
