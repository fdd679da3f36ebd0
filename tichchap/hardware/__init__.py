"""Hardware golden model: bit-accurate number formats, integer kernels, memory files, compare.

Nothing here imports an optional dependency at module load.
"""

from .formats import Fixed, Float32, NumberFormat, TruncatedFloat32, format_from_config

__all__ = ["Fixed", "Float32", "NumberFormat", "TruncatedFloat32", "format_from_config"]
