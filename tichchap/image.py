"""Images in and out as NumPy arrays (HxWxC, float32), read and resized with Pillow.

Pillow is imported inside the functions, so ``import tichchap`` never needs it.

    >>> from tichchap import image
    >>> x = image.load("cat.jpg", target_size=(224, 224), scale=True)   # doctest: +SKIP
    >>> x.shape, x.dtype                                                  # doctest: +SKIP
    ((224, 224, 3), dtype('float32'))
"""

import os

import numpy as np

from .errors import ArgumentTypeError, ConfigError, DataNotFoundError, FileFormatError, ShapeError, describe
from .utils.fileio import atomic_write

#: ``color_mode`` -> (Pillow mode, channels). Grayscale is Pillow's "L" (ITU-R 601-2 luma:
#: L = 0.299 R + 0.587 G + 0.114 B), as Keras' ``load_img`` converts.
COLOR_MODES = {"grayscale": ("L", 1), "rgb": ("RGB", 3), "rgba": ("RGBA", 4)}

#: The resampling filters ``interpolation=`` accepts (Keras' names); "nearest" is Keras' default.
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def _pil():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("tichchap.image needs Pillow: pip install Pillow (or tichchap[images])") from None
    return Image


def _check_target_size(target_size):
    if target_size is None:
        return None
    if (isinstance(target_size, (tuple, list)) and len(target_size) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in target_size)):
        return int(target_size[0]), int(target_size[1])
    raise ConfigError(describe("image.load: target_size must be (height, width) in pixels",
                               "a pair of positive ints", f"target_size={target_size!r}"))


def _resample_filter(Image, interpolation):
    if interpolation not in INTERPOLATIONS:
        raise ConfigError(describe("image.load: unknown interpolation", f"one of {INTERPOLATIONS}",
                                   f"interpolation={interpolation!r}"))
    return getattr(Image.Resampling, interpolation.upper())


def load(path, target_size=None, color_mode="rgb", interpolation="nearest", scale=False, keep_aspect_ratio=False,
         dtype="float32"):
    """Read an image file (any format Pillow reads) as an array of shape (height, width, channels).

    Args:
        path: the file.
        target_size: ``(height, width)`` to resize to, as Keras; ``None`` keeps the file's size.
        color_mode: "rgb" (3 channels), "grayscale" (1 channel, Pillow's luma) or "rgba" (4).
        interpolation: the resampling filter when resizing: "nearest" (Keras' default),
            "bilinear", "bicubic", "hamming", "box" or "lanczos".
        scale: ``False`` gives values 0..255; ``True`` divides by 255 to give [0, 1].
        keep_aspect_ratio: crop the centre to the target's aspect ratio before resizing (Keras'
            option of the same name) instead of stretching.
        dtype: the array's float type.

    Returns:
        ``dtype`` array (H, W, C).

    Raises:
        DataNotFoundError: no file at ``path``.
        FileFormatError: the file is not an image Pillow can read, or it is truncated or corrupt.
        ConfigError: an unknown ``color_mode`` or ``interpolation``, or a bad ``target_size``.
    """
    Image = _pil()
    if color_mode not in COLOR_MODES:
        raise ConfigError(describe("image.load: unknown color_mode", f"one of {tuple(COLOR_MODES)}",
                                   f"color_mode={color_mode!r}"))
    size = _check_target_size(target_size)
    resample = _resample_filter(Image, interpolation)
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise ArgumentTypeError(describe("image.load: path must be a file name", "str or path-like",
                                         f"{type(path).__name__}"))
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataNotFoundError(describe(f"image.load: no image file at {path!r}", "an existing file",
                                         "a folder" if os.path.isdir(path) else "nothing there"))
    try:
        with Image.open(path) as im:
            im.load()  # decode now, so truncated data fails here and not later
            im = im.convert(COLOR_MODES[color_mode][0])
    except Image.DecompressionBombError as e:
        raise FileFormatError(f"image.load: {path!r} is too large to decode safely; {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # Pillow raises UnidentifiedImageError (an OSError) for unknown formats, OSError for
        # truncated data, SyntaxError/ValueError for some malformed headers.
        raise FileFormatError(describe(f"image.load: cannot read {path!r} as an image",
                                       "a file in a format Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP, ...)",
                                       f"{type(e).__name__}: {e}")) from None
    if size is not None:
        height, width = size
        if keep_aspect_ratio:
            im = _crop_to_aspect(im, width / height)
        if im.size != (width, height):
            im = im.resize((width, height), resample)
    array = np.asarray(im, dtype=dtype)
    if array.ndim == 2:
        array = array[:, :, None]
    if scale:
        array /= 255
    return array


def _crop_to_aspect(im, aspect):
    """The centre crop of ``im`` with width / height = ``aspect`` (as Keras' keep_aspect_ratio)."""
    width, height = im.size
    crop_w, crop_h = min(width, round(height * aspect)), min(height, round(width / aspect))
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    return im.crop((left, top, left + crop_w, top + crop_h))


def to_uint8(array, scale=False):
    """An image array as uint8 (H, W) or (H, W, C) for C in 1, 3, 4.

    ``scale=False``: values are taken as 0..255 if any exceeds 1, else as [0, 1]; they are
    clipped and rounded. ``scale=True``: the array's min..max is stretched to 0..255 (Keras'
    ``array_to_img(scale=True)``).
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ShapeError(describe("image: an image array must be (height, width) or (height, width, channels)",
                                  "channels 1, 3 or 4", f"shape {array.shape}"))
    if array.dtype == np.uint8 and not scale:
        return array
    values = array.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ShapeError("image: the array holds NaN or inf values; expected finite pixel values")
    if scale:
        low, high = values.min(), values.max()
        values = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    elif values.size and values.max() <= 1.0:
        values = values * 255.0
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def save(path, array, scale=False, format=None, **params):
    """Write an image array to ``path`` atomically; the format follows the file's extension.

    ``array``: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); see :func:`to_uint8` for how values
    are read. ``format`` overrides the extension ("PNG", "JPEG", ...); ``params`` go to Pillow
    (e.g. ``quality=95`` for JPEG).
    """
    Image = _pil()
    path = os.fspath(path)
    if format is None:
        extension = os.path.splitext(path)[1].lower()
        format = Image.registered_extensions().get(extension)
        if format is None:
            raise ConfigError(describe(f"image.save: cannot tell the image format of {path!r} from its extension",
                                       "an extension such as .png, .jpg, .bmp", repr(extension or "none")))
    im = Image.fromarray(to_uint8(array, scale=scale))
    if format.upper() == "JPEG" and im.mode == "RGBA":
        im = im.convert("RGB")
    with atomic_write(path, "wb") as f:
        im.save(f, format=format, **params)
    return path
