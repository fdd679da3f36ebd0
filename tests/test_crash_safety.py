"""Files are never half-written: a save killed midway leaves the previous file loadable, and a
damaged model file gives a FileFormatError, never an IndexError or a crash."""

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tichchap
from tichchap import Input, Sequential, layers
from tichchap.errors import FileFormatError, TichchapError
from tichchap.utils.fileio import atomic_write

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write(b"new but unfinished")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_atomic_write_gives_files_the_ordinary_mode(tmp_path):
    with atomic_write(tmp_path / "f.bin") as f:
        f.write(b"x")
    (tmp_path / "plain.bin").write_bytes(b"x")
    assert os.stat(tmp_path / "f.bin").st_mode == os.stat(tmp_path / "plain.bin").st_mode


def test_a_save_killed_midway_leaves_a_file_that_loads(tmp_path):
    path = tmp_path / "model.npz"
    child = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {REPO!r})
        import tichchap
        from tichchap import layers
        model = tichchap.Sequential([tichchap.Input((64, 64, 3)), layers.Flatten(), layers.Dense(512), layers.Dense(10)])
        i = 0
        print("ready", flush=True)
        while True:
            i += 1
            model.layers[-1].bias[...] = i
            model.save({str(path)!r})
    """)
    kills = 0
    rng = np.random.default_rng(0)
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.05 + rng.uniform(0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if path.exists():
            model = tichchap.load_model(path)  # must never be a broken file
            bias = model.layers[-1].bias
            assert np.all(bias == bias[0]) and bias[0] >= 1
    assert kills == 6 and path.exists()


@pytest.fixture(scope="module")
def saved_model_bytes(tmp_path_factory):
    model = Sequential([Input((6, 5, 2)), layers.Conv2D(3, 3, padding="same"), layers.BatchNormalization(),
                        layers.Flatten(), layers.Dropout(0.2), layers.Dense(4, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(np.random.default_rng(0).normal(size=(8, 6, 5, 2)), np.arange(8) % 4, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("m") / "model.npz"
    model.save(path)
    return path.read_bytes()


def _load_bytes(tmp_path, data):
    path = tmp_path / "fuzzed.npz"
    path.write_bytes(data)
    try:
        tichchap.load_model(path)
    except TichchapError as err:
        assert isinstance(err, (ValueError, TypeError))
        assert str(path) in str(err) or "model file" in str(err)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(cut=st.floats(0, 1, exclude_max=True))
def test_truncated_model_files(tmp_path, saved_model_bytes, cut):
    _load_bytes(tmp_path, saved_model_bytes[: int(len(saved_model_bytes) * cut)])


@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=8))
def test_bit_flipped_model_files(tmp_path, saved_model_bytes, flips):
    data = bytearray(saved_model_bytes)
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    _load_bytes(tmp_path, bytes(data))


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes_as_model_files(tmp_path, data):
    _load_bytes(tmp_path, data)


@FUZZ
@given(entry=st.sampled_from(["tichchap.json.npy", "weights/0.npy", "weights/3.npy", "optimizer/0/1.npy"]),
       replacement=st.binary(max_size=300))
def test_model_files_with_a_replaced_entry(tmp_path, saved_model_bytes, entry, replacement):
    """A well-formed zip whose members lie: every entry re-packed, one replaced by junk."""
    src = zipfile.ZipFile(io.BytesIO(saved_model_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, replacement if name == entry else src.read(name))
    _load_bytes(tmp_path, out.getvalue())


def test_bit_flip_in_the_zip_version_field_is_a_format_error(tmp_path, saved_model_bytes):
    """Found by test_bit_flipped_model_files: zipfile raises NotImplementedError ("zip file
    version 10.9") when the central directory's version byte is damaged."""
    data = bytearray(saved_model_bytes)
    directory = data.rfind(b"PK\x05\x06")
    first_entry = int.from_bytes(data[directory + 16 : directory + 20], "little")
    data[first_entry + 6] ^= 1 << 6  # "version needed to extract" of the first entry: 4.5 -> 10.9
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="truncated or corrupt"):
        tichchap.load_model(path)
