"""Hardware golden model: bit-accurate number formats, integer kernels, memory files, compare.

Nothing here imports an optional dependency at module load.
"""

from .compare import CompareResult, compare, difference_map
from .formats import Fixed, Float32, NumberFormat, TruncatedFloat32, format_from_config
from .golden import GoldenModel, LayerFormats, load_exported, read_dumps
from .kernels import SEED_CONV, SEED_DENSE, SEED_FIRST_CONV, ReductionPolicy
from .memfiles import export_words, import_manifest, import_words
from .report import build_report

__all__ = ["Fixed", "Float32", "NumberFormat", "TruncatedFloat32", "format_from_config", "compare",
           "CompareResult", "difference_map", "ReductionPolicy", "SEED_CONV", "SEED_FIRST_CONV", "SEED_DENSE",
           "export_words", "import_words", "import_manifest",
           "GoldenModel", "LayerFormats", "read_dumps", "load_exported", "build_report"]
