"""STAND-IN for vllm_omni.entrypoints.omni: an Omni that records its calls.

Signatures of vLLM-Omni ``main`` bd4f9acfd30456cb8fa98af53d32f7adc34e03a0:

* ``Omni(model: str, **kwargs)`` -- OmniBase.__init__, entrypoints/omni_base.py:161;
  keyword validation and the effective stage settings are in the stand-in
  vllm_omni/engine/async_omni_engine.py (the real code path is described there).
* ``generate(prompts, sampling_params_list=None, *, py_generator=False,
  use_tqdm=True) -> list[OmniRequestOutput]`` -- entrypoints/omni.py:71-94. A
  single sampling-params object is accepted for a one-stage model
  (omni_base.py:323-342, resolve_sampling_params_list); on any exception the
  real generate() closes the engine before re-raising (omni.py:91-94), and so
  does this one -- a later generate() on it fails.
* The request is seen as Qwen-Image's pipeline sees it: guidance runs when
  ``true_cfg_scale > 1`` and the prompt dict has a ``negative_prompt`` that is
  not None (pipeline_qwen_image.py:641-650, 706-709; true_cfg_scale defaults
  to 4.0 when unset, line 1034); ``guidance_scale`` not None sets
  ``guidance_scale_provided`` (diffusion/request.py:62-67).

Outputs (env VLLM_OMNI_STANDIN_OUTPUT) -- every place a release puts images
(vllm_omni/diffusion/utils/image_output.py, outputs/__init__.py):

  images            OmniRequestOutput.images = [PIL-like image]       (default)
  array_images      OmniRequestOutput.images = [NumPy-like HxWx3 array]
  mm_image          _multimodal_output = {"image": array}
  mm_images         _multimodal_output = {"images": [array]}
  mm_model_outputs  _multimodal_output = {"model_outputs": array NxHxWx3}
  completion_mm     outputs = [CompletionOutput(multimodal_output={"image": array})]
  request_output    0.18-era LegacyOmniRequestOutput(request_output=<output with .images>)

Every output carries ``peak_memory_mb = 1000 + seed`` (outputs/__init__.py:175).
The image colour depends on the seed, so different seeds give different files.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import zlib
from collections.abc import Sequence
from typing import Any

from vllm_omni import record
from vllm_omni.engine import async_omni_engine as engine
from vllm_omni.inputs.data import OmniDiffusionSamplingParams
from vllm_omni.outputs import CompletionOutput, LegacyOmniRequestOutput, OmniRequestOutput
from vllm_omni.standin_arrays import FakeArray, solid_hwc


def png_bytes(width: int, height: int, rgb: tuple) -> bytes:
    """A valid 8-bit RGB PNG of one colour, written with zlib + struct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    raw = row * height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


class TinyImage:
    """Stand-in PIL image: `.save(path)` writes a tiny PNG (no Pillow needed)."""

    def __init__(self, width: int, height: int, rgb: tuple) -> None:
        self.size = (width, height)
        self.mode = "RGB"
        self.rgb = rgb

    def save(self, path, *args, **kwargs) -> None:
        with open(path, "wb") as f:
            f.write(png_bytes(self.size[0], self.size[1], self.rgb))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)


def _params_dict(sp: Any) -> dict:
    if dataclasses.is_dataclass(sp):
        return {f.name: _jsonable(getattr(sp, f.name)) for f in dataclasses.fields(sp)}
    return {"repr": repr(sp)}


class Omni:
    """Stand-in for vllm_omni.entrypoints.omni.Omni."""

    def __init__(self, model: str, **kwargs: Any) -> None:
        if os.environ.get("VLLM_OMNI_STANDIN_FAIL_INIT"):
            record("init_failed")
            raise RuntimeError("stand-in: model load failed")
        engine.check_keys(kwargs)
        pc = engine.effective_parallel_config(kwargs)
        record(
            "init",
            model=model,
            kwargs={k: _jsonable(v) for k, v in kwargs.items()},
            kwarg_types={k: type(v).__module__ + "." + type(v).__name__ for k, v in kwargs.items()},
            stage_path=engine.stage_path(),
            parallel_config={f.name: getattr(pc, f.name) for f in dataclasses.fields(pc)},
            world_size=pc.world_size,
            engine_args=_jsonable(engine.default_engine_args(kwargs)),
        )
        self.model = model
        self.kwargs = kwargs
        self.parallel_config = pc
        self.closed = False
        self.num_stages = 1

    def generate(
        self,
        prompts: Any,
        sampling_params_list: Any = None,
        *,
        py_generator: bool = False,
        use_tqdm: Any = True,
    ) -> list:
        if self.closed:
            record("generate_after_close")
            raise RuntimeError("stand-in: generate() on an Omni whose engine was shut down")
        try:
            return self._generate(prompts, sampling_params_list)
        except Exception:
            # entrypoints/omni.py:91-94
            self.close()
            raise

    def _generate(self, prompts: Any, sampling_params_list: Any) -> list:
        # omni_base.py:323-342
        if sampling_params_list is None:
            sp = OmniDiffusionSamplingParams()
        elif isinstance(sampling_params_list, Sequence) and not isinstance(sampling_params_list, (str, bytes)):
            if len(sampling_params_list) != self.num_stages:
                raise ValueError(f"Expected {self.num_stages} sampling params, got {len(sampling_params_list)}")
            sp = sampling_params_list[0]
        else:
            sp = sampling_params_list
        if not isinstance(sp, OmniDiffusionSamplingParams):
            raise TypeError(
                "Diffusion stage requires OmniDiffusionSamplingParams or vllm.SamplingParams, "
                f"got {type(sp).__name__!r}."
            )
        prompt = prompts[0] if isinstance(prompts, list) else prompts
        text = prompt["prompt"] if isinstance(prompt, dict) else prompt
        # diffusion/request.py:62-67
        guidance_scale_provided = sp.guidance_scale is not None
        # pipeline_qwen_image.py:644-650, 706-709, 1034
        has_neg_prompt = isinstance(prompt, dict) and prompt.get("negative_prompt") is not None
        true_cfg_scale = sp.true_cfg_scale or 4.0
        do_true_cfg = true_cfg_scale > 1 and has_neg_prompt
        record(
            "generate",
            prompt=prompt,
            sampling_params=_params_dict(sp),
            sampling_params_type=type(sp).__module__ + "." + type(sp).__name__,
            guidance_scale_provided=guidance_scale_provided,
            do_true_cfg=do_true_cfg,
            # diffusion/distributed/cfg_parallel.py:466-489: CFG-Parallel only logs a warning
            cfg_parallel_idle=self.parallel_config.cfg_parallel_size > 1 and not do_true_cfg,
        )
        fail_on = os.environ.get("VLLM_OMNI_STANDIN_FAIL_ON")
        if fail_on and fail_on in text:
            raise RuntimeError("CUDA out of memory (stand-in)")
        seed = sp.seed or 0
        rgb = (seed * 37 % 256, seed * 91 % 256, seed * 13 % 256)
        w = min(sp.width or 8, 8)
        h = min(sp.height or 8, 8)
        return [self._output(os.environ.get("VLLM_OMNI_STANDIN_OUTPUT", "images"), w, h, rgb, seed, prompt)]

    @staticmethod
    def _output(kind: str, w: int, h: int, rgb: tuple, seed: int, prompt: Any) -> Any:
        array = solid_hwc(h, w, tuple(c / 255 for c in rgb))
        common = {"request_id": f"0_{seed}", "prompt": prompt, "final_output_type": "image", "peak_memory_mb": 1000.0 + seed}
        if kind == "images":
            return OmniRequestOutput(images=[TinyImage(w, h, rgb)], **common)
        if kind == "array_images":
            return OmniRequestOutput(images=[array], **common)
        if kind == "mm_image":
            return OmniRequestOutput(_multimodal_output={"image": array}, **common)
        if kind == "mm_images":
            return OmniRequestOutput(_multimodal_output={"images": [array]}, **common)
        if kind == "mm_model_outputs":
            batch = FakeArray([array.tolist()])
            return OmniRequestOutput(_multimodal_output={"model_outputs": batch}, **common)
        if kind == "completion_mm":
            return OmniRequestOutput(outputs=[CompletionOutput(multimodal_output={"image": array})], **common)
        if kind == "request_output":
            inner = OmniRequestOutput(images=[TinyImage(w, h, rgb)], request_id=common["request_id"])
            return LegacyOmniRequestOutput(
                request_id=common["request_id"],
                final_output_type="image",
                request_output=inner,
                peak_memory_mb=common["peak_memory_mb"],
            )
        raise ValueError(f"unknown VLLM_OMNI_STANDIN_OUTPUT {kind!r}")

    def close(self) -> None:
        if not self.closed:
            record("close")
        self.closed = True
