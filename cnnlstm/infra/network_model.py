"""The MLflow model of a trained network, logged as code: weights + typed config, no pickle.

MLflow's "models from code" logs this file itself; loading it runs the file, which rebuilds the
network from two artifacts: `network` (JSON: kind, shape, training args, see
`cnnlstm.models.modules.network_config`) and `weights` (a torch `state_dict`, loaded with
`weights_only=True`). Nothing in a stored model refers to a Python class by module path, so
models survive a moved module and load without executing pickled code. `predict` takes a float
array shaped for the network ((N, 1, 32) CNN, (N, window, 6) LSTM) and returns P(class 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow.pyfunc import PythonModel

from cnnlstm.models.modules import classifier_from_state


class NetworkModel(PythonModel):
    """A `Classifier` rebuilt from its weights and config; predicts P(class 1)."""

    def load_context(self, context) -> None:
        """Rebuild the network from the `network` and `weights` artifacts."""
        config = json.loads(Path(context.artifacts["network"]).read_text())
        state = torch.load(context.artifacts["weights"], map_location="cpu", weights_only=True)
        self.module = classifier_from_state(config, state)

    def predict(self, context, model_input: np.ndarray, params=None) -> np.ndarray:
        """P(class 1) of each input (the logged signature is a float32 tensor spec)."""
        x = torch.as_tensor(np.asarray(model_input, dtype=np.float32))
        with torch.no_grad():
            return self.module(x).float().softmax(dim=1)[:, 1].numpy()


mlflow.models.set_model(NetworkModel())
