"""Property-based fuzzing of the file readers not fuzzed beside their own tests: Keras .keras
and .h5 files, memory files and RTL dumps. Truncated, bit-flipped and random inputs may load or
be refused, but only with tichchap's documented errors (ValueError/TypeError subclasses) --
never an IndexError, a KeyError from h5py, a hang or a crash.

Cases run: 4 x 120 for Keras files, 6 x 150 for memory files (1,380 in all per run)."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tichchap
from tichchap.errors import TichchapError

pytest.importorskip("h5py")
from tichchap.hardware import Fixed, export_words, import_words  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "keras")
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MEMFILE_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _fixture_bytes(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


# A functional residual model (Add, BatchNormalization) in both of Keras' formats; committed fixtures.
KERAS_FILES = {name: _fixture_bytes(name) for name in ("residual.keras", "residual.h5")}


def _load(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    try:
        tichchap.load_model(path)
    except TichchapError as err:
        assert isinstance(err, (ValueError, TypeError)), type(err)


def _damage(data, cut, flips):
    data = bytearray(data[: max(1, int(len(data) * cut))])
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    return bytes(data)


@SETTINGS
@given(name=st.sampled_from(sorted(KERAS_FILES)), cut=st.floats(0, 1))
def test_truncated_keras_files(tmp_path, name, cut):
    _load(tmp_path, name, KERAS_FILES[name][: int(len(KERAS_FILES[name]) * cut)])


@SETTINGS
@given(name=st.sampled_from(sorted(KERAS_FILES)),
       flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=6))
def test_bit_flipped_keras_files(tmp_path, name, flips):
    _load(tmp_path, name, _damage(KERAS_FILES[name], 1.0, flips))


@SETTINGS
@given(data=st.binary(max_size=3000), name=st.sampled_from(["x.keras", "x.h5"]))
def test_random_bytes_as_keras_files(tmp_path, data, name):
    _load(tmp_path, name, data)


@SETTINGS
@given(data=st.binary(min_size=8, max_size=3000))
def test_random_bytes_behind_a_valid_signature(tmp_path, data):
    for head in (b"PK\x03\x04", b"\x89HDF\r\n\x1a\n"):
        _load(tmp_path, "x.keras", head + data)


FORMAT = Fixed(12, 4)
SHAPE = (1, 3, 4, 2)


@pytest.fixture(scope="module")
def memfiles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mem")
    words = FORMAT.to_words(np.random.default_rng(0).uniform(-4, 4, SHAPE))
    files = {}
    for file_format in ("hex", "bin", "coe", "mif", "npy", "seed"):
        export_words(folder / f"w_{file_format}", words, FORMAT, file_format=file_format)
        produced = [p for p in folder.iterdir() if p.name.startswith(f"w_{file_format}") and not p.name.endswith(".json")]
        files[file_format] = (produced[0].suffix, produced[0].read_bytes())
    return files


def _import(tmp_path, file_format, suffix, data):
    path = tmp_path / f"fuzzed{suffix}"
    path.write_bytes(data)
    try:
        words = import_words(path, SHAPE, FORMAT, file_format=file_format)
    except TichchapError as err:
        assert isinstance(err, (ValueError, TypeError)), type(err)
        return
    assert words.shape == SHAPE
    assert int(np.max(words)) < 2 ** FORMAT.width


@pytest.mark.parametrize("file_format", ["hex", "bin", "coe", "mif", "npy", "seed"])
@MEMFILE_SETTINGS
@given(cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), max_size=4),
       junk=st.binary(max_size=40))
def test_damaged_memory_files_and_dumps(tmp_path, memfiles, file_format, cut, flips, junk):
    suffix, data = memfiles[file_format]
    damaged = _damage(data, cut, flips) + junk if data else junk
    _import(tmp_path, file_format, suffix, damaged)
