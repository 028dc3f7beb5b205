"""STAND-IN for the real `vllm_omni` package, for compat's tests only.

This is not vLLM-Omni. It mimics, with the real names and signatures of the
released vllm-omni 0.30.0 (PyPI wheel vllm_omni-0.30.0-py3-none-any.whl; the
engine-side behaviour below was first read at ``main`` bd4f9acf, which 0.30.0
contains), the entry points backends/vllm_omni/batch_text_to_image.py uses:

  vllm_omni.__version__                         vllm_omni/__init__.py (from version.py)
  vllm_omni.entrypoints.omni.Omni               entrypoints/omni.py, omni_base.py
  vllm_omni.engine.async_omni_engine            what Omni does with its kwargs
  vllm_omni.inputs.data.OmniDiffusionSamplingParams   inputs/data.py (exact fields)
  vllm_omni.diffusion.data.DiffusionParallelConfig    diffusion/data.py (exact fields)
  vllm_omni.outputs.OmniRequestOutput           outputs/__init__.py

It records every call as a JSON line in the file named by
$VLLM_OMNI_STANDIN_RECORD and returns tiny images (PIL-like objects whose
`.save(path)` writes a valid PNG with the standard library, or NumPy-like
arrays whose truth value raises as NumPy's does).

Knobs (environment variables):
  VLLM_OMNI_STANDIN_RECORD      path of the JSON-lines call record
  VLLM_OMNI_STANDIN_VERSION     __version__ (default "0.30.0", the wheel's)
  VLLM_OMNI_STANDIN_STAGE_PATH  "default" (Qwen-Image) or "registry" (see engine/async_omni_engine.py)
  VLLM_OMNI_STANDIN_OUTPUT      where generate() puts the image (see entrypoints/omni.py)
  VLLM_OMNI_STANDIN_FAIL_ON     generate() raises when the prompt contains this text
  VLLM_OMNI_STANDIN_FAIL_INIT   Omni() raises when set to a non-empty value
"""

import json
import os

__version__ = os.environ.get("VLLM_OMNI_STANDIN_VERSION", "0.30.0")
__version_tuple__ = tuple(int(p) if p.isdigit() else p for p in __version__.split("."))
IS_STANDIN = True


def record(event: str, **fields) -> None:
    """Append one call to the record file (if one is configured)."""
    path = os.environ.get("VLLM_OMNI_STANDIN_RECORD")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"call": event, **fields}, ensure_ascii=False) + "\n")


def __getattr__(name: str):
    # vllm_omni/__init__.py: Omni and AsyncOmni are imported lazily
    if name == "Omni":
        from .entrypoints.omni import Omni

        return Omni
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
