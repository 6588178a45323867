"""Features for both networks: the public entry point of the features stage.

Input contract: the `bars` table (`schemas/bars.py`); a suspended day is a missing row or a row
with volume 0 and never yields a price or a return. The CNN's monthly table is built in
`tasks/features/cnn.py`, the LSTM's daily windows in `tasks/features/lstm.py`; both lay the bars
out on a dense (symbol, calendar day) grid (`tasks/features/panel.py`) so that no lag or window
can silently step over a gap.
"""

from __future__ import annotations

from cnnlstm.tasks.features.cnn import (
    DRET_COLUMNS,
    MRET_COLUMNS,
    N_FEATURES,
    RAW_COLUMNS,
    X_COLUMNS,
    CnnEligibility,
    CnnFeatureConfig,
    build_cnn_features,
    build_cnn_features_counted,
)
from cnnlstm.tasks.features.lstm import (
    WINDOW_FIELDS,
    LstmWindowConfig,
    LstmWindows,
    build_lstm_windows,
)

__all__ = [
    "DRET_COLUMNS",
    "MRET_COLUMNS",
    "N_FEATURES",
    "RAW_COLUMNS",
    "WINDOW_FIELDS",
    "X_COLUMNS",
    "CnnEligibility",
    "CnnFeatureConfig",
    "LstmWindowConfig",
    "LstmWindows",
    "build_cnn_features",
    "build_cnn_features_counted",
    "build_lstm_windows",
]
