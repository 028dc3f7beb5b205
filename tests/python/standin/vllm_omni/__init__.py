"""STAND-IN for the real `vllm_omni` package, for compat's tests only.

This is not vLLM-Omni. It mimics the few entry points that
backends/vllm_omni/batch_text_to_image.py uses (Omni, DiffusionParallelConfig,
OmniDiffusionSamplingParams), records every call as a JSON line in the file
named by $VLLM_OMNI_STANDIN_RECORD, and returns tiny solid-colour images whose
`.save(path)` writes a valid PNG with only the standard library (no Pillow).

Knobs (environment variables):
  VLLM_OMNI_STANDIN_RECORD     path of the JSON-lines call record
  VLLM_OMNI_STANDIN_FAIL_ON    generate() raises when the prompt contains this text
  VLLM_OMNI_STANDIN_FAIL_INIT  Omni() raises when set to a non-empty value
"""

import json
import os

__version__ = "0.0.0+standin"
IS_STANDIN = True


def record(event: str, **fields) -> None:
    """Append one call to the record file (if one is configured)."""
    path = os.environ.get("VLLM_OMNI_STANDIN_RECORD")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"call": event, **fields}, ensure_ascii=False) + "\n")
