"""Memory files a testbench reads, and the dumps an RTL simulation writes.

File formats (``file_format``):

- ``"hex"``  Verilog ``$readmemh``: one word per line, exactly ``ceil(W/4)`` hex digits.
- ``"bin"``  Verilog ``$readmemb``: one word per line, exactly ``W`` binary digits.
- ``"coe"``  Xilinx coefficient file (radix 16).
- ``"mif"``  Intel memory initialization file (DATA_RADIX=HEX, ADDRESS_RADIX=UNS).
- ``"npy"``  NumPy array of the (packed) words, smallest unsigned dtype that holds W bits (W <= 64).
- ``"seed"`` the dump format of SEED_RTL.md: first line the decimal count of words, then one word
  per line as W binary digits.

Layouts (``layout``): ``"NHWC"`` (the array's own C order), ``"NCHW"`` (channels before rows, for
3-D HWC or 4-D NHWC arrays) or ``"per_channel"`` (one file per channel = last axis, named
``<stem>_c<k><ext>``, each in raster order). ``channel_order="BGR"`` reverses the channel axis
first. ``lanes=k`` packs k consecutive words into one ``k*W``-bit word, the first word in the most
significant bits (``lane_order="msb_first"``) or in the least (``"lsb_first"``). The SEED input
image format is ``layout="NHWC", channel_order="BGR", lanes=3, file_format="seed"``.

Every export writes a JSON manifest beside the files (``<stem>.manifest.json``): what the files
hold (layer, shape, layout, packing, number format, source), so :func:`import_manifest` can read
them back. Importers check the word count against the expected shape and refuse a mismatch unless
the caller names the frame to take (``frame=k``: words ``k*E .. (k+1)*E-1`` of a file holding
several frames of E words).
"""

import json
import os

import numpy as np

from ..errors import ConfigError, FileFormatError, ShapeError
from ..utils.fileio import atomic_write
from .formats import NumberFormat, format_from_config

FILE_FORMATS = {"hex": ".hex", "bin": ".bin", "coe": ".coe", "mif": ".mif", "npy": ".npy", "seed": ".txt"}
LAYOUTS = ("NHWC", "NCHW", "per_channel")


def _width_of(number_format):
    if isinstance(number_format, NumberFormat):
        return number_format.width, number_format.to_config()
    if isinstance(number_format, (int, np.integer)) and number_format > 0:
        return int(number_format), None
    raise ConfigError(f"number_format must be a NumberFormat or a word width in bits; received {number_format!r}")


def _check_options(file_format, layout, lanes, lane_order, channel_order):
    if file_format not in FILE_FORMATS:
        raise ConfigError(f"file_format: expected one of {sorted(FILE_FORMATS)}; received {file_format!r}")
    if layout not in LAYOUTS:
        raise ConfigError(f"layout: expected one of {LAYOUTS}; received {layout!r}")
    if not isinstance(lanes, (int, np.integer)) or lanes < 1:
        raise ConfigError(f"lanes must be a positive integer; received {lanes!r}")
    if lane_order not in ("msb_first", "lsb_first"):
        raise ConfigError(f"lane_order: expected 'msb_first' or 'lsb_first'; received {lane_order!r}")
    if channel_order not in ("RGB", "BGR"):
        raise ConfigError(f"channel_order: expected 'RGB' or 'BGR'; received {channel_order!r}")


def _stem_and_ext(path, file_format):
    stem, ext = os.path.splitext(os.fspath(path))
    return stem, ext or FILE_FORMATS[file_format]


def _channels_first(a):
    if a.ndim == 4:
        return a.transpose(0, 3, 1, 2)
    if a.ndim == 3:
        return a.transpose(2, 0, 1)
    raise ShapeError(f"layout 'NCHW' needs a 3-D (H, W, C) or 4-D (N, H, W, C) array; received shape {a.shape}")


def _pack(flat, width, lanes, lane_order):
    """Flat words (Python ints) -> packed words of lanes*width bits."""
    if lanes == 1:
        return flat
    if len(flat) % lanes:
        raise ShapeError(f"cannot pack {len(flat)} words into lanes of {lanes}; the count must be a multiple")
    packed = []
    for start in range(0, len(flat), lanes):
        group = flat[start:start + lanes]
        if lane_order == "lsb_first":
            group = group[::-1]
        value = 0
        for w in group:
            value = (value << width) | w
        packed.append(value)
    return packed


def _unpack(packed, width, lanes, lane_order):
    if lanes == 1:
        return packed
    mask = (1 << width) - 1
    flat = []
    for value in packed:
        group = [(value >> (width * (lanes - 1 - k))) & mask for k in range(lanes)]
        flat.extend(group[::-1] if lane_order == "lsb_first" else group)
    return flat


def _to_int_list(words, width):
    a = np.asarray(words)
    if a.dtype != object and a.dtype.kind not in "ui":
        raise ConfigError(f"expected integer words; received an array of dtype {a.dtype}")
    values = [int(v) for v in a.ravel()]
    if values and (min(values) < 0 or max(values) >= (1 << width)):
        raise ConfigError(f"words must lie in [0, 2**{width}); received values from {min(values)} to {max(values)}")
    return values


# ====================================================================== writers
def _write_text(path, words, width, file_format):
    digits_hex, digits_bin = (width + 3) // 4, width
    if file_format == "hex":
        body = "".join(f"{w:0{digits_hex}x}\n" for w in words)
    elif file_format == "bin":
        body = "".join(f"{w:0{digits_bin}b}\n" for w in words)
    elif file_format == "seed":
        body = f"{len(words)}\n" + "".join(f"{w:0{digits_bin}b}\n" for w in words)
    elif file_format == "coe":
        vector = ",\n".join(f"{w:0{digits_hex}x}" for w in words)
        body = f"memory_initialization_radix=16;\nmemory_initialization_vector=\n{vector};\n"
    elif file_format == "mif":
        lines = "".join(f"\t{address} : {w:0{digits_hex}X};\n" for address, w in enumerate(words))
        body = (f"WIDTH={width};\nDEPTH={len(words)};\n\nADDRESS_RADIX=UNS;\nDATA_RADIX=HEX;\n\n"
                f"CONTENT BEGIN\n{lines}END;\n")
    else:  # pragma: no cover
        raise ConfigError(file_format)
    with atomic_write(path, "w") as f:
        f.write(body)


def _npy_dtype(width):
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if width <= np.dtype(dtype).itemsize * 8:
            return dtype
    return None


def _write_npy(path, words, width):
    dtype = _npy_dtype(width)
    if dtype is None:
        raise ConfigError(f"npy files hold words up to 64 bits; received {width}-bit words (use 'hex' or 'bin')")
    with atomic_write(path, "wb") as f:
        np.save(f, np.array(words, dtype=dtype), allow_pickle=False)


def export_words(path, words, number_format, file_format="hex", layout="NHWC", lanes=1,
                 lane_order="msb_first", channel_order="RGB", layer=None, source=None, manifest=True):
    """Write an array of words as memory file(s) and a manifest; returns the list of paths written.

    Args:
        path: file path; its extension is kept (default extension from ``file_format``).
            With ``layout="per_channel"`` files are ``<stem>_c<k><ext>``.
        words: integer words of any shape (layout options need the channel as the last axis).
        number_format: a NumberFormat or a word width in bits.
        layer, source: recorded in the manifest (what the words are, which model/input made them).
    """
    _check_options(file_format, layout, lanes, lane_order, channel_order)
    width, format_config = _width_of(number_format)
    a = np.asarray(words)
    if channel_order == "BGR":
        a = a[..., ::-1]
    stem, ext = _stem_and_ext(path, file_format)
    if layout == "per_channel":
        if a.ndim < 1:
            raise ShapeError("layout 'per_channel' needs an array with a channel axis; received a scalar")
        streams = [(f"{stem}_c{k}{ext}", a[..., k]) for k in range(a.shape[-1])]
    else:
        streams = [(stem + ext, _channels_first(a) if layout == "NCHW" else a)]
    written = []
    for file_path, part in streams:
        packed = _pack(_to_int_list(part, width), width, lanes, lane_order)
        if file_format == "npy":
            _write_npy(file_path, packed, width * lanes)
        else:
            _write_text(file_path, packed, width * lanes, file_format)
        written.append(file_path)
    if manifest:
        info = {"layer": layer, "source": source, "shape": list(np.shape(words)), "layout": layout,
                "file_format": file_format, "word_width": width, "lanes": lanes, "lane_order": lane_order,
                "channel_order": channel_order, "number_format": format_config,
                "files": [os.path.basename(p) for p in written]}
        manifest_path = stem + ".manifest.json"
        with atomic_write(manifest_path, "w") as f:
            json.dump(info, f, indent=2)
        written.append(manifest_path)
    return written


# ====================================================================== readers
def _parse_digits(token, base, digits, path, line_number):
    if len(token) > digits:
        raise FileFormatError(f"{path}, line {line_number}: word has {len(token)} digits; "
                              f"expected at most {digits}; received {token!r}")
    try:
        return int(token, base)
    except ValueError:
        raise FileFormatError(f"{path}, line {line_number}: not a base-{base} word; received {token!r}") from None


def _parse_number(text, base, path, what):
    try:
        return int(text.strip(), base)
    except ValueError:
        raise FileFormatError(f"{path}: {what} is not a base-{base} number; received {text.strip()!r}") from None


def _data_lines(text):
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("//")[0].strip()
        if line:
            yield number, line


def _read_text(path, width, file_format):
    try:
        with open(path, "r", encoding="ascii") as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise FileFormatError(f"{path}: not a text memory file; expected ASCII digits; received byte "
                              f"{err.object[err.start]:#04x} at offset {err.start}") from None
    digits_hex = (width + 3) // 4
    if file_format in ("hex", "bin"):
        base, digits = (16, digits_hex) if file_format == "hex" else (2, width)
        words = []
        for number, line in _data_lines(text):
            for token in line.replace("_", "").split():
                if token.startswith("@"):
                    raise FileFormatError(f"{path}, line {number}: address records (@...) are not supported; "
                                          f"expected one word per line; received {token!r}")
                words.append(_parse_digits(token, base, digits, path, number))
        return words, None
    if file_format == "seed":
        lines = list(_data_lines(text))
        if not lines:
            raise FileFormatError(f"{path}: empty file; expected a count line then binary words")
        try:
            header = int(lines[0][1])
        except ValueError:
            raise FileFormatError(f"{path}, line {lines[0][0]}: expected the decimal word count; "
                                  f"received {lines[0][1]!r}") from None
        words = [_parse_digits(line, 2, width, path, number) for number, line in lines[1:]]
        if header != len(words):
            raise FileFormatError(f"{path}: header says {header} words; the file holds {len(words)} (truncated?)")
        return words, header
    if file_format == "coe":
        flat = text.replace("\n", " ")
        parts = {}
        for statement in flat.split(";"):
            if "=" in statement:
                key, value = statement.split("=", 1)
                parts[key.strip().lower()] = value.strip()
        if "memory_initialization_vector" not in parts:
            raise FileFormatError(f"{path}: no memory_initialization_vector; expected a Xilinx .coe file")
        base = _parse_number(parts.get("memory_initialization_radix", "16"), 10, path, "memory_initialization_radix")
        if base not in (2, 10, 16):
            raise FileFormatError(f"{path}: memory_initialization_radix must be 2, 10 or 16; received {base}")
        digits = {16: digits_hex, 2: width}.get(base, len(str(1 << width)))
        tokens = [t for t in parts["memory_initialization_vector"].replace(",", " ").split() if t]
        return [_parse_digits(t, base, digits, path, 0) for t in tokens], None
    if file_format == "mif":
        header, _, content = text.partition("CONTENT BEGIN")
        if not content:
            raise FileFormatError(f"{path}: no 'CONTENT BEGIN'; expected an Intel .mif file")
        settings = {}
        for statement in header.split(";"):
            if "=" in statement:
                key, value = statement.split("=", 1)
                settings[key.strip().upper()] = value.strip().upper()
        base = {"HEX": 16, "BIN": 2, "UNS": 10, "DEC": 10}.get(settings.get("DATA_RADIX", "HEX"))
        if base is None:
            raise FileFormatError(f"{path}: unsupported DATA_RADIX {settings.get('DATA_RADIX')!r}")
        declared_width = _parse_number(settings.get("WIDTH", str(width)), 10, path, "WIDTH")
        if declared_width != width:
            raise FileFormatError(f"{path}: WIDTH={declared_width}; expected {width}")
        entries = {}
        for statement in content.split("END")[0].split(";"):
            statement = statement.split("--")[0].strip()
            if not statement:
                continue
            address, _, value = statement.partition(":")
            if not value or "[" in address:
                raise FileFormatError(f"{path}: unsupported content line {statement!r}; expected 'address : word'")
            entries[_parse_number(address, 10, path, "address")] = _parse_number(value, base, path, "word")
        if sorted(entries) != list(range(len(entries))):
            raise FileFormatError(f"{path}: addresses are not 0..{len(entries) - 1} without gaps")
        return [entries[k] for k in range(len(entries))], None
    raise ConfigError(file_format)  # pragma: no cover


def _read_npy(path):
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - numpy's header parser leaks ValueError, SyntaxError, tokenize.TokenError...
        raise FileFormatError(f"{path}: not a readable .npy file of words ({exc})") from None
    if a.dtype.kind not in "ui":
        raise FileFormatError(f"{path}: expected unsigned integer words; received dtype {a.dtype}")
    return [int(v) for v in a.ravel()], None


def _select_frame(words, expected, path, frame):
    count = len(words)
    if frame is None:
        if count != expected:
            hint = (f" ({count // expected} frames of {expected} words)" if count % expected == 0 and count > expected
                    else "")
            raise FileFormatError(f"{path}: word count does not match the expected shape; expected {expected} words; "
                                  f"received {count}{hint}; pass frame=k to take the k-th frame of {expected} words")
        return words
    if not isinstance(frame, (int, np.integer)) or frame < 0 or (frame + 1) * expected > count:
        raise FileFormatError(f"{path}: frame {frame!r} is not in the file; expected 0 <= frame < "
                              f"{count // expected}; received frame={frame!r} for {count} words")
    return words[frame * expected:(frame + 1) * expected]


def import_words(path, shape, number_format, file_format=None, layout="NHWC", lanes=1, lane_order="msb_first",
                 channel_order="RGB", frame=None):
    """Read words written by :func:`export_words` or an RTL dump; returns an array of ``shape``.

    ``path`` is the file (or, for ``layout="per_channel"``, the same path given to the exporter:
    channel files ``<stem>_c<k><ext>`` are read). Words are ``np.uint64`` up to 64 bits, else
    Python ints in an object array. A word count other than ``prod(shape)`` is refused with
    :class:`~tichchap.errors.FileFormatError` unless ``frame`` names the frame to take.
    """
    width, _ = _width_of(number_format)
    stem, ext = os.path.splitext(os.fspath(path))
    if file_format is None:
        by_ext = {v: k for k, v in FILE_FORMATS.items()}
        if ext not in by_ext:
            raise ConfigError(f"{path}: cannot tell the file format from the extension; pass file_format= "
                              f"one of {sorted(FILE_FORMATS)}")
        file_format = by_ext[ext]
    _check_options(file_format, layout, lanes, lane_order, channel_order)
    shape = tuple(int(s) for s in shape)
    if layout == "per_channel":
        channels = shape[-1]
        stream_shape = shape[:-1]
        paths = [f"{stem}_c{k}{ext}" for k in range(channels)]
    else:
        stream_shape = shape
        paths = [os.fspath(path)]
    per_file = int(np.prod(stream_shape, dtype=np.int64))
    if per_file % lanes:
        raise ShapeError(f"{path}: {per_file} words per file do not fill whole {lanes}-lane words")
    streams = []
    for file_path in paths:
        if not os.path.exists(file_path):
            raise FileFormatError(f"{file_path}: file not found; expected one file per "
                                  f"{'channel' if layout == 'per_channel' else 'array'}")
        if file_format == "npy":
            packed, _ = _read_npy(file_path)
        else:
            packed, _ = _read_text(file_path, width * lanes, file_format)
        if packed and max(packed) >= 1 << (width * lanes):
            raise FileFormatError(f"{file_path}: a word exceeds {width * lanes} bits")
        packed = _select_frame(packed, per_file // lanes, file_path, frame)
        streams.append(_unpack(packed, width, lanes, lane_order))
    dtype = np.uint64 if width <= 64 else object
    if layout == "per_channel":
        a = np.stack([np.array(s, dtype=dtype).reshape(stream_shape) for s in streams], axis=-1)
    elif layout == "NCHW":
        flat = np.array(streams[0], dtype=dtype)
        if len(shape) == 4:
            a = flat.reshape(shape[0], shape[3], shape[1], shape[2]).transpose(0, 2, 3, 1)
        elif len(shape) == 3:
            a = flat.reshape(shape[2], shape[0], shape[1]).transpose(1, 2, 0)
        else:
            raise ShapeError(f"layout 'NCHW' needs a 3-D or 4-D shape; received {shape}")
    else:
        a = np.array(streams[0], dtype=dtype).reshape(shape)
    if channel_order == "BGR":
        a = a[..., ::-1]
    return np.ascontiguousarray(a)


def read_manifest(manifest_path):
    with open(manifest_path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as exc:
            raise FileFormatError(f"{manifest_path}: not a JSON manifest ({exc})") from None


def import_manifest(manifest_path, frame=None):
    """Read back what :func:`export_words` wrote, using its manifest. Returns ``(words, manifest)``."""
    info = read_manifest(manifest_path)
    folder = os.path.dirname(os.fspath(manifest_path))
    first = os.path.join(folder, info["files"][0])
    if info["layout"] == "per_channel":
        stem, ext = os.path.splitext(first)
        first = stem[:stem.rindex("_c")] + ext
    fmt = format_from_config(info["number_format"]) if info.get("number_format") else info["word_width"]
    words = import_words(first, info["shape"], fmt, info["file_format"], info["layout"], info["lanes"],
                         info["lane_order"], info["channel_order"], frame=frame)
    return words, info
