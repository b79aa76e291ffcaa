"""lstmcount: exact parameter accounting for LSTM, GRU and RNN layers, per gate and per framework."""

from .accounting import Report
from .api import analyze, count, count_layer, formula, model_report
from .errors import CheckFailed, FrameworkMissing, LstmcountError, SpecError, UsageError
from .show import summary

__version__ = "0.1.0"

__all__ = [
    "CheckFailed",
    "FrameworkMissing",
    "LstmcountError",
    "Report",
    "SpecError",
    "UsageError",
    "analyze",
    "count",
    "count_layer",
    "formula",
    "model_report",
    "summary",
    "__version__",
]
