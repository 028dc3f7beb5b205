"""STAND-IN xfuser.runner: xFuserModelRunner with the real methods and signatures.

As xfuser/runner.py of the xfuser 0.7.0 wheel:
  RANK/WORLD_SIZE/MASTER_* defaulted for a run without torchrun   (runner.py:12-17)
  xFuserModelRunner(config: dict)                                 (runner.py:33-44)
      xFuserArgs.from_runner_args(config), .create_config(), then the model class
      from MODEL_REGISTRY -- ValueError("Model X not found in registry.") -- whose
      __init__ validates the config against its capabilities
  initialize(input_args: dict) -> None, once                      (runner.py:54-64)
  run(input_args: dict) -> (DiffusionOutput, timings)             (runner.py:66-73)
      RuntimeError("ModelRunner not initialized. ...") before initialize
  preprocess_args(input_args: dict) -> dict                       (runner.py:75-77)
  cleanup() -> None                                               (runner.py:90-98)
"""

import os

if not os.environ.get("RANK"):
    os.environ["RANK"] = "0"
    os.environ["WORLD_SIZE"] = "1"
    os.environ["MASTER_ADDR"] = "localhost"
    os.environ["MASTER_PORT"] = "12355"

import torch  # noqa: E402

from xfuser import record, xFuserArgs  # noqa: E402
from xfuser.core.distributed import get_runtime_state  # noqa: E402
from xfuser.model_executor.models.runner_models.base_model import MODEL_REGISTRY  # noqa: E402


class xFuserModelRunner:
    def __init__(self, config: dict) -> None:
        xfuser_config = xFuserArgs.from_runner_args(config)
        xfuser_config.create_config()
        self.config = xfuser_config
        self.model = self._select_model(xfuser_config.model, xfuser_config)
        self.is_initialized = False

    def _select_model(self, model_name: str, config):
        model = MODEL_REGISTRY.get(model_name, None)
        if not model:
            raise ValueError(f"Model {model_name} not found in registry.")
        return model(config)

    def initialize(self, input_args: dict) -> None:
        if self.is_initialized:
            return
        record("initialize")
        self.model.initialize(input_args)
        self.is_initialized = True

    def run(self, input_args: dict):
        if not self.is_initialized:
            raise RuntimeError("ModelRunner not initialized. Call initialize() before run().")
        output, timings = self.model.run(input_args)
        return output, timings

    def preprocess_args(self, input_args: dict) -> dict:
        return self.model.preprocess_args(input_args)

    def cleanup(self) -> None:
        torch.compiler.reset()
        torch.cuda.synchronize()
        self.model.cleanup()
        get_runtime_state().destroy_distributed_env()
