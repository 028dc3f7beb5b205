"""STAND-IN of DiffGenerator (runtime/entrypoints/diffusion_generator.py, 0.5.23).

* from_pretrained(local_mode=True, **kwargs) builds ServerArgs.from_kwargs(**kwargs)
  (diffusion_generator.py:124-148): unknown keywords are a TypeError, and the
  auto rules the adapter pins resolve as in the release (server_args stand-in);
* generate(sampling_params_kwargs=None, external_trace_header=None)
  (diffusion_generator.py:242): the model's defaults class instantiated with the
  keywords (sampling_params.py:1102, unknown -> TypeError), the model's default
  negative prompt where none is given, Cache-DiT per request or from
  SGLANG_CACHE_DIT_ENABLED (denoising.py:787-796); with save_output and
  return_file_paths_only (both default True) the result carries a path and no
  frames (diffusion_generator.py:349-372); otherwise frames[0] is a uint8 HWC
  array whose truth value raises, like NumPy's. A failed request returns None
  (diffusion_generator.py:453-454, 478-479).

Test controls (environment): SGLANG_STANDIN_RECORD (a JSONL file of the
calls), SGLANG_STANDIN_FAIL (a request whose prompt contains it fails),
SGLANG_STANDIN_FAIL_LOAD (from_pretrained raises).
"""

import json
import os
import zlib

from sglang.multimodal_gen.configs.sample.sampling_params import SamplingParams
from sglang.multimodal_gen.registry import get_model_info
from sglang.multimodal_gen.runtime.entrypoints.utils import GenerationResult
from sglang.multimodal_gen.runtime.server_args import ServerArgs

RESOLVED = ("performance_mode", "num_gpus", "tp_size", "sp_degree", "ulysses_degree", "ring_degree",
            "kv_gather_degree", "enable_cfg_parallel", "cfg_parallel_degree", "encoder_parallel",
            "warmup_mode", "enable_torch_compile")


def _record(obj):
    path = os.environ.get("SGLANG_STANDIN_RECORD")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(obj, ensure_ascii=False, default=repr) + "\n")


class _DType:
    name = "uint8"
    kind = "u"


class Uint8Image:
    """HxWx3 uint8, NumPy-like: ndim, shape, dtype, tolist(); bool() raises."""

    def __init__(self, height, width, rgb):
        self._rows = [[list(rgb) for _ in range(width)] for _ in range(height)]
        self.shape = (height, width, 3)
        self.ndim = 3
        self.dtype = _DType()

    def __bool__(self):
        raise ValueError("The truth value of an array with more than one element is ambiguous. "
                         "Use a.any() or a.all()")

    def __len__(self):
        return self.shape[0]

    def tolist(self):
        return self._rows


class DiffGenerator:
    def __init__(self, server_args):
        self.server_args = server_args
        self._closed = False

    @classmethod
    def from_pretrained(cls, local_mode=True, **kwargs):
        if os.environ.get("SGLANG_STANDIN_FAIL_LOAD"):
            raise RuntimeError("stand-in: the model failed to load")
        server_args = ServerArgs.from_kwargs(**kwargs)
        _record({"call": "from_pretrained", "kwargs": kwargs,
                 "resolved": {k: getattr(server_args, k) for k in RESOLVED},
                 "env_cache_dit": os.environ.get("SGLANG_CACHE_DIT_ENABLED")})
        return cls(server_args)

    def generate(self, sampling_params_kwargs=None, external_trace_header=None):
        if self._closed:
            raise RuntimeError("stand-in: generate after shutdown")
        kwargs = dict(sampling_params_kwargs)
        info = get_model_info(self.server_args.model_path)
        cls = info.sampling_param_cls if info is not None else SamplingParams
        params = cls(**kwargs)  # the release: type(defaults)(**user_kwargs), sampling_params.py:1102
        cache_dit = params.enable_cache_dit
        if cache_dit is None:
            cache_dit = os.environ.get("SGLANG_CACHE_DIT_ENABLED", "").lower() == "true"
        effective = {"prompt": params.prompt, "negative_prompt": params.negative_prompt, "seed": params.seed,
                     "height": params.height, "width": params.width, "steps": params.num_inference_steps,
                     "guidance_scale": params.guidance_scale, "enable_cache_dit": cache_dit,
                     "enable_teacache": params.enable_teacache, "keywords": sorted(kwargs)}
        _record({"call": "generate", "effective": effective})
        fail = os.environ.get("SGLANG_STANDIN_FAIL")
        if fail and fail in (params.prompt or ""):
            return None  # the release logs "Generation failed" and returns None
        common = {"prompt": params.prompt, "size": (params.height, params.width, 1), "generation_time": 0.01,
                  "peak_memory_mb": 1536.0 + (512.0 if self.server_args.enable_cfg_parallel else 0.0),
                  "metrics": {"steps": [1.0] * int(params.num_inference_steps or 0)}}
        if params.save_output and params.return_file_paths_only:
            return GenerationResult(output_file_path=os.path.join("outputs", "stand-in.png"), **common)
        key = json.dumps([params.prompt, params.negative_prompt, params.seed, params.num_inference_steps,
                          params.guidance_scale, cache_dit], ensure_ascii=False).encode("utf-8")
        h = zlib.crc32(key)
        image = Uint8Image(params.height, params.width, (h & 0xFF, (h >> 8) & 0xFF, (h >> 16) & 0xFF))
        return GenerationResult(frames=[image], samples="tensor", **common)

    def shutdown(self):
        self._closed = True
        _record({"call": "shutdown"})
