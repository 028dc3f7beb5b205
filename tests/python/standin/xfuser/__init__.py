"""STAND-IN for the real `xfuser` package (xDiT), for compat's tests only.

This is not xDiT. It mimics the parts of xDiT's unified runner that
backends/xdit/batch_text_to_image.py calls, with the signatures, flag names,
registry keys, model capabilities and validation behaviour of the released
xfuser 0.7.0 (PyPI wheel xfuser-0.7.0-py3-none-any.whl; xfuser.__version__ is
"0.7.0"), each cited by file and line of that wheel:

  xfuser.xFuserArgs, xfuser.config.FlexibleArgumentParser   (xfuser/config/args.py)
  xfuser.runner.xFuserModelRunner                            (xfuser/runner.py)
  xfuser.core.utils.runner_utils.is_last_process, log        (xfuser/core/utils/runner_utils.py)
  xfuser.model_executor.models.runner_models.base_model      (MODEL_REGISTRY, ModelCapabilities,
                                                              DiffusionOutput, xFuserModel)

No weights, no GPU: a model "loads" instantly and its pipeline returns a tiny
solid-colour image (seed-dependent) whose `.save(path)` writes a valid PNG
with the standard library. It imports `torch`; the tests put the stand-in
torch (tests/python/standin_torch) first on PYTHONPATH.

Every call is recorded as a JSON line in $XFUSER_STANDIN_RECORD, with the
rank that made it. Knobs (environment variables):
  XFUSER_STANDIN_RECORD       path of the JSON-lines call record
  XFUSER_STANDIN_FAIL_ON      the pipeline raises for a prompt containing this text
  XFUSER_STANDIN_FAIL_RANK    ... only on this rank (default: every rank)
  XFUSER_STANDIN_FAIL_INIT    runner.initialize raises (model load failure)
  XFUSER_STANDIN_SAVE_NOTHING an image's .save(path) creates an empty file
  XFUSER_STANDIN_LOAD_SLEEP   seconds the model load takes
  XFUSER_STANDIN_FIRST_SLEEP  seconds the first pipeline call of a process takes
                              (what compilation / autotuning does to a real first call)
"""

import json
import os

from xfuser.config import xFuserArgs  # noqa: F401  (xfuser/__init__.py:16 exports it)

IS_STANDIN = True


def record(event: str, **fields) -> None:
    """Append one call to the record file (if one is configured)."""
    path = os.environ.get("XFUSER_STANDIN_RECORD")
    if not path:
        return
    line = {"call": event, "rank": int(os.environ.get("RANK", "0")), **fields}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line, ensure_ascii=False) + "\n")
