#!/usr/bin/env python3
"""compat backend: a text-to-image batch on vLLM-Omni (one model load, many prompts).

Supported: **vLLM-Omni 0.18.0 and later** (``--fa-deterministic`` needs 0.27 or
later). The installed version is read from ``vllm_omni.__version__`` (falling
back to ``importlib.metadata``) before the model loads; an older release is
refused, never run with settings it would drop. See README.md ("Versions").
The newest release, vllm-omni 0.30.0 (wheel vllm_omni-0.30.0-py3-none-any.whl),
is what tests/python/test_released_engines.py checks every keyword and sampling
field against; README.md ("The release") cites its file:line.

``--probe REQUEST --output ANSWER`` answers compat's probe (backends/protocol.py;
exit 0 answered, 2 bad request, 3 vllm_omni not importable).

Everything below was checked against vLLM-Omni's own source: upstream ``main``
at commit bd4f9acfd30456cb8fa98af53d32f7adc34e03a0 (2026-08-22, the newest
complete snapshot available; read from the fork github.com/fhfuih/vllm-omni,
whose ``main`` is upstream's), and against ``main`` at the 0.18.0 release
commit a5bf33f2 ("[skip ci] update release 0.18.0 (#2380)", 2026-03-31).
``file:line`` references are to bd4f9acf unless marked otherwise.

* ``Omni(model=..., **kwargs)`` (vllm_omni/entrypoints/omni.py, OmniBase in
  entrypoints/omni_base.py:161) forwards its kwargs to ``AsyncOmniEngine``; for a
  single-stage diffusion model such as Qwen-Image (no entry in
  vllm_omni/config/pipeline_registry.py, see its docstring) the stage config is
  built by ``AsyncOmniEngine._create_default_diffusion_stage_cfg``
  (engine/async_omni_engine.py:932-1128), which reads a fixed list of keys and
  silently ignores any other keyword.
* The parallel degrees are passed as **plain keywords** (``ulysses_degree=``,
  ``ring_degree=``, ``cfg_parallel_size=``, ``tensor_parallel_size=``,
  ``vae_patch_parallel_size=``), as vLLM-Omni's own text-to-image example does
  (examples/offline_inference/text_to_image/text_to_image.py:443-469), never as
  ``parallel_config=DiffusionParallelConfig(...)``: that object is an
  orchestrator-only field (engine/arg_utils.py:515) and is dropped on the way to
  a stage for every model resolved through the pipeline registry or a deploy
  YAML (config/stage_config.py:71-76; vllm-omni issues #6312, #5804), and it
  was dropped for every model between #1115 (2026-03-12) and #1878
  (2026-03-14). The keywords are read by the default stage builder since #1908
  (async_omni_engine.py:964-1005 here; the same code at a5bf33f2).
* ``OmniDiffusionSamplingParams`` (vllm_omni/inputs/data.py:197-409) gets both
  ``true_cfg_scale`` (Qwen-Image's guidance, data.py:283) and ``guidance_scale``
  (FLUX/SD3.5/Z-Image, data.py:272) from ``--cfg-scale``.
* The request always carries ``"negative_prompt"``, even when empty: Qwen-Image
  turns guidance on only when the key is present and not None
  (diffusion/models/qwen_image/pipeline_qwen_image.py:641-650 and 706-709:
  ``do_true_cfg = true_cfg_scale > 1 and has_neg_prompt``); ``""`` counts, and so
  it does in FLUX, SD3.5 and Z-Image (same ``is None`` test).
* Images are looked for everywhere current releases put them
  (vllm_omni/diffusion/utils/image_output.py:17-82 and outputs/__init__.py:
  ``.images``, ``.multimodal_output`` and ``.outputs[i].multimodal_output``
  under "image"/"images"/"model_outputs"; the 0.18-era nested
  ``.request_output``), as PIL images, NumPy arrays or torch tensors; an array is
  never tested for truth.
* Peak memory: ``OmniRequestOutput.peak_memory_mb`` (outputs/__init__.py:175),
  the rank-0 worker's ``max_memory_reserved`` for the request
  (diffusion/worker/diffusion_model_runner.py:466-493), becomes a
  ``{"event": "memory", "device": 0, ...}`` line.
* ``Omni.generate`` closes the engine on any exception (entrypoints/omni.py:91-94,
  also at a5bf33f2), so after a failed prompt the script loads the model again
  (a ``reload`` event) before the next prompt.

Protocol (compat DESIGN.md §4): prompt ``i`` (0-based) uses seed ``seed + i`` and
is written to ``prompt_{i:02d}.png``; ``results.jsonl`` gets one line per prompt,
plus ``load``, ``warmup``, ``reload``/``reload_warmup`` and ``memory`` events,
flushed as they happen; the log gets ``  Prompt N: X seconds`` (1-based) per prompt.

Exit codes:
  0  setup succeeded and at least one prompt produced an image
  1  setup failed (prompt file unreadable, vllm_omni missing or too old for the
     requested features, model load failed) -- or every prompt failed
  2  bad usage (argparse errors, empty prompt file, a combination vLLM-Omni
     would silently drop or does not support)

vllm_omni, torch, numpy and PIL are imported inside functions, so ``--help`` (and
the tests, with a stand-in ``vllm_omni``) work without them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import sys
import time
import traceback
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The oldest release whose Omni(...) honours every keyword this script passes
# (degrees as plain keywords: #1908, 2026-03-18; quantization: #1470, 2026-03-19;
# peak_memory_mb on outputs: #1805, 2026-03-24), checked at a5bf33f2.
MIN_VERSION = (0, 18)
# Omni(...) keywords that appeared later: fa_deterministic is read by the default
# stage builder only since #5887 (2026-08-07, async_omni_engine.py:1058), after
# the 0.26.0 docs commit 30cba842 and before the vLLM 0.27 rebase 2ce15ab7.
KEYWORD_MIN_VERSION: dict[str, tuple[int, int]] = {"fa_deterministic": (0, 27)}

SUPPORTED_TEXT = "vLLM-Omni >= 0.18 (--fa-deterministic: >= 0.27)"

# vLLM-Omni's example values (examples/offline_inference/text_to_image/text_to_image.py:389-417),
# the same as the engine's defaults (async_omni_engine.py, _get_default_cache_config).
TEA_CACHE_CONFIG: dict[str, Any] = {
    "rel_l1_thresh": 0.2,
}
CACHE_DIT_CONFIG: dict[str, Any] = {
    "Fn_compute_blocks": 1,
    "Bn_compute_blocks": 0,
    "max_warmup_steps": 4,
    "residual_diff_threshold": 0.24,
    "max_continuous_cached_steps": 3,
    "enable_taylorseer": False,
    "taylorseer_order": 1,
    "scm_steps_mask_policy": None,
    "scm_steps_policy": "dynamic",
}

# Where image payloads live in a multimodal_output mapping
# (vllm_omni/diffusion/utils/image_output.py:80).
MULTIMODAL_IMAGE_KEYS = ("image", "images", "model_outputs")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class SetupError(Exception):
    """The installed vLLM-Omni cannot honour what was asked (exit 1)."""


def _load_protocol() -> Any:
    """backends/protocol.py, imported by this file's own path: the script still
    runs from a checkout with nothing installed."""
    import importlib.util  # noqa: PLC0415

    path = Path(__file__).resolve().parent.parent / "protocol.py"
    spec = importlib.util.spec_from_file_location("compat_backend_protocol", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules.setdefault("compat_backend_protocol", module)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


PROTOCOL = _load_protocol()
# The shared plumbing (backends/protocol.py).
positive_int = PROTOCOL.positive_int
non_negative_int = PROTOCOL.non_negative_int
read_prompts = PROTOCOL.read_prompts
Results = PROTOCOL.Results
save_image = PROTOCOL.save_image


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=(
            "Generate one image per prompt with vLLM-Omni, loading the model once "
            f"(supported: {SUPPORTED_TEXT}). Writes prompt_NN.png and results.jsonl into --output."
        ),
    )
    p.add_argument("--model", required=True, help="model name or local path, e.g. Qwen/Qwen-Image-2512")
    p.add_argument("--prompt-file", required=True, help="UTF-8 text file, one prompt per line")
    p.add_argument("--output", required=True, help="output directory (created if missing)")
    p.add_argument("--num-inference-steps", type=positive_int, default=50)
    p.add_argument("--height", type=positive_int, default=1024)
    p.add_argument("--width", type=positive_int, default=1024)
    p.add_argument(
        "--cfg-scale",
        type=float,
        default=4.0,
        help="guidance scale, passed as both true_cfg_scale (Qwen-Image) and guidance_scale (FLUX, SD3.5, Z-Image)",
    )
    p.add_argument(
        "--guidance-scale",
        type=PROTOCOL.optional_float,
        default=None,
        help="guidance_scale when it should differ from --cfg-scale (a guidance-distilled model: "
        "FLUX.1-dev's 3.5 with --cfg-scale 1); empty: --cfg-scale's value",
    )
    p.add_argument("--seed", type=int, default=42, help="prompt i uses seed + i")
    p.add_argument(
        "--negative-prompt",
        default="",
        help='always sent, even empty ("" keeps Qwen-Image\'s true CFG on)',
    )
    # Parallelism: plain Omni(...) keywords, as in vLLM-Omni's example.
    p.add_argument("--cfg-parallel-size", type=int, default=1, choices=[1, 2], help="CFG-Parallel (cfg_parallel_size)")
    p.add_argument("--ulysses-degree", type=positive_int, default=1, help="Ulysses-SP degree (ulysses_degree)")
    p.add_argument("--ring-degree", type=positive_int, default=1, help="Ring-Attention degree (ring_degree)")
    p.add_argument(
        "--tensor-parallel-size",
        type=positive_int,
        default=None,
        help="tensor parallelism inside the DiT (tensor_parallel_size); unset: the engine's default (1)",
    )
    p.add_argument(
        "--vae-patch-parallel-size",
        type=positive_int,
        default=1,
        help="VAE patch/tile parallel decode over the DiT's GPUs (vae_patch_parallel_size); "
        "at most ulysses x ring x cfg x tp",
    )
    # Caches.
    p.add_argument(
        "--cache-backend",
        choices=["tea_cache", "cache_dit", "mag_cache"],
        default=None,
        help="mag_cache: the strategy's own ratios (FLUX.1, FLUX.2), interpolated to --num-inference-steps",
    )
    # Memory.
    p.add_argument("--enable-cpu-offload", action="store_true", help="model-level CPU offload (enable_cpu_offload)")
    p.add_argument(
        "--use-hsdp",
        action="store_true",
        help="shard the DiT's weights over the parallel layout's GPUs (use_hsdp, hsdp_shard_size auto); "
        "needs a parallel degree above 1",
    )
    p.add_argument(
        "--enable-layerwise-offload",
        action="store_true",
        help="layerwise (blockwise) CPU offload of the DiT (enable_layerwise_offload); single GPU only",
    )
    p.add_argument(
        "--quantization",
        choices=["fp8", "int8", "bitsandbytes"],
        default=None,
        help="transformer quantization (quantization); lossy",
    )
    # Execution.
    p.add_argument(
        "--enforce-eager",
        action="store_true",
        help="disable regional torch.compile (enforce_eager)",
    )
    p.add_argument(
        "--fa-deterministic",
        action="store_true",
        help="deterministic FlashAttention on the FLASH_ATTN dense path (fa_deterministic); vLLM-Omni >= 0.27",
    )
    p.add_argument(
        "--warmup",
        type=non_negative_int,
        default=1,
        help="untimed generations of the first prompt before the batch (default 1)",
    )
    return p


def cache_config_for(backend: str | None, steps: int) -> dict[str, Any] | None:
    if backend == "tea_cache":
        return dict(TEA_CACHE_CONFIG)
    if backend == "cache_dit":
        return dict(CACHE_DIT_CONFIG)
    if backend == "mag_cache":
        # The strategy's ratios are interpolated to this many steps; unset, the
        # backend assumes 28 (cache/magcache/backend.py:76-87 in 0.30.0).
        return {"num_inference_steps": steps}
    return None


def world_size(args: argparse.Namespace) -> int:
    """GPUs the DiT group uses: ulysses x ring x cfg x tp (DiffusionParallelConfig
    world size with pp = dp = 1, vllm_omni/diffusion/data.py:289-345; the VAE
    patch group reuses these GPUs)."""
    return args.ulysses_degree * args.ring_degree * args.cfg_parallel_size * (args.tensor_parallel_size or 1)


def combination_errors(args: argparse.Namespace) -> list[str]:
    """Combinations vLLM-Omni would silently drop or does not support.

    Sources: the feature-compatibility table in docs/user_guide/diffusion_features.md
    (bd4f9acf, lines 204-232) and the code paths cited per rule."""
    errors: list[str] = []
    world = world_size(args)
    if args.vae_patch_parallel_size > world:
        # vllm_omni/diffusion/distributed/vae_patch_parallel.py:46 clamps to the DiT
        # group size (docs/user_guide/feature_compatibility.md: "automatically clamped").
        errors.append(
            f"--vae-patch-parallel-size {args.vae_patch_parallel_size} exceeds the DiT group size {world} "
            "(ulysses x ring x cfg x tp); vLLM-Omni would silently clamp it"
        )
    if args.enable_layerwise_offload and world > 1:
        # diffusion_features.md table: CPU Offloading (Layerwise) x Ulysses/Ring/CFG/TP = ❌.
        errors.append("--enable-layerwise-offload runs on a single GPU only (vLLM-Omni's compatibility table)")
    if args.enable_layerwise_offload and args.enable_cpu_offload:
        # vllm_omni/diffusion/offloader/base.py:107-112: layer-wise wins, model-level is disabled.
        errors.append(
            "--enable-layerwise-offload and --enable-cpu-offload: vLLM-Omni keeps layerwise and silently "
            "disables the model-level offload"
        )
    if args.use_hsdp and world == 1:
        # diffusion/data.py:419-426 (0.30.0): standalone HSDP needs hsdp_shard_size;
        # compat shards over the parallel layout's GPUs.
        errors.append("--use-hsdp shards over the parallel layout's GPUs: give a parallel degree above 1")
    if args.vae_patch_parallel_size > 1 and (args.enable_layerwise_offload or args.enable_cpu_offload):
        # diffusion_features.md table: VAE Patch Parallel x CPU Offloading (Layerwise / Module-wise) = ❌.
        errors.append("--vae-patch-parallel-size > 1 cannot be combined with CPU offload (vLLM-Omni's table)")
    return errors


def omni_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of Omni(...): every one is read by vLLM-Omni's default
    diffusion stage builder (engine/async_omni_engine.py:932-1128) or by OmniBase
    (entrypoints/omni_base.py:161-200); the names are the example's
    (text_to_image.py:443-473)."""
    kwargs: dict[str, Any] = {
        "model": args.model,
        "cache_backend": args.cache_backend,
        "cache_config": cache_config_for(args.cache_backend, args.num_inference_steps),
        "ulysses_degree": args.ulysses_degree,
        "ring_degree": args.ring_degree,
        "cfg_parallel_size": args.cfg_parallel_size,
        "vae_patch_parallel_size": args.vae_patch_parallel_size,
        "enable_cpu_offload": args.enable_cpu_offload,
        "enable_layerwise_offload": args.enable_layerwise_offload,
    }
    # Only when given, as the example does (text_to_image.py:468-471): unset means
    # the engine's own default.
    if args.tensor_parallel_size is not None:
        kwargs["tensor_parallel_size"] = args.tensor_parallel_size
    if args.quantization is not None:
        kwargs["quantization"] = args.quantization  # async_omni_engine.py:1074
    if args.enforce_eager:
        kwargs["enforce_eager"] = True  # async_omni_engine.py:1049
    if args.fa_deterministic:
        kwargs["fa_deterministic"] = True  # async_omni_engine.py:1058 (#5887)
    if args.use_hsdp:
        kwargs["use_hsdp"] = True  # DiffusionParallelConfig, diffusion/data.py:330 in 0.30.0
    return kwargs


# ------------------------------------------------------------------ version --


def parse_version(text: str | None) -> tuple[int, int] | None:
    """(major, minor) of a release, or None when it says nothing (no version,
    "dev", or setuptools_scm's "0.1.devN+g<hash>" for a checkout without tags:
    vllm_omni/version.py falls back to "dev")."""
    if not text:
        return None
    m = re.match(r"^v?(\d+)\.(\d+)", text.strip())
    if m is None:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    if (major, minor) in ((0, 0), (0, 1)) and "dev" in text:
        return None
    return major, minor


def installed_version() -> str | None:
    """vllm_omni.__version__ (vllm_omni/__init__.py imports it from version.py),
    else the installed distribution's metadata."""
    import vllm_omni  # noqa: PLC0415 - ImportError: vllm_omni is missing (setup failure)

    version = getattr(vllm_omni, "__version__", None)
    if parse_version(version) is None:
        try:
            from importlib.metadata import PackageNotFoundError, version as dist_version  # noqa: PLC0415

            for name in ("vllm-omni", "vllm_omni"):
                try:
                    meta = dist_version(name)
                except PackageNotFoundError:
                    continue
                if parse_version(meta) is not None or version is None:
                    version = meta
                break
        except Exception:  # noqa: BLE001 - metadata is a fallback only
            pass
    return version


def version_refusal(text: str | None, kwargs: dict[str, Any]) -> str | None:
    """Why this vLLM-Omni would drop a keyword compat passes, or None."""
    parsed = parse_version(text)
    if parsed is None:
        # An untagged source checkout: check the code instead of the number.
        import importlib.util  # noqa: PLC0415

        if importlib.util.find_spec("vllm_omni.engine.async_omni_engine") is None:
            return (
                f"vLLM-Omni version {text!r} predates the AsyncOmniEngine entry point (#1908), whose "
                f"default stage builder reads the parallel degrees as keywords; supported: {SUPPORTED_TEXT}"
            )
        for key in KEYWORD_MIN_VERSION:
            if key in kwargs and not _diffusion_config_has_field(key):
                return (
                    f"cannot tell whether vLLM-Omni {text!r} reads {key!r} (OmniDiffusionConfig has no such "
                    f"field); supported: {SUPPORTED_TEXT}"
                )
        return None
    if parsed < MIN_VERSION:
        return (
            f"vLLM-Omni {text} is not supported: before 0.18 Omni(...) ignores the parallel degrees given "
            f"as keywords; supported: {SUPPORTED_TEXT}"
        )
    for key, minimum in KEYWORD_MIN_VERSION.items():
        if key in kwargs and parsed < minimum:
            flag = "--" + key.replace("_", "-")
            return f"{flag} needs vLLM-Omni >= {minimum[0]}.{minimum[1]}: {text} would silently ignore Omni({key}=...)"
    return None


def check_version(args: argparse.Namespace, kwargs: dict[str, Any]) -> str:
    """Refuse a vLLM-Omni that would drop a keyword; returns the version text."""
    text = installed_version()
    refusal = version_refusal(text, kwargs)
    if refusal:
        raise SetupError(refusal)
    return text or "unknown"


def _diffusion_config_has_field(name: str) -> bool:
    try:
        import dataclasses  # noqa: PLC0415

        from vllm_omni.diffusion.data import OmniDiffusionConfig  # noqa: PLC0415

        return name in {f.name for f in dataclasses.fields(OmniDiffusionConfig)}
    except Exception:  # noqa: BLE001
        return False


# ------------------------------------------------------------------ results --


def _torch():
    try:
        import torch  # noqa: PLC0415

        return torch
    except ImportError:
        return None


def _device_type(torch: Any) -> str:
    try:
        from vllm_omni.platforms import current_omni_platform  # noqa: PLC0415

        return current_omni_platform.device_type
    except Exception:  # noqa: BLE001
        pass
    if torch is not None and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def make_generator(seed: int) -> Any:
    """A torch.Generator seeded with `seed` on the platform's device, as in
    vLLM-Omni's example (text_to_image.py:386); None when torch is absent (the
    stand-in tests)."""
    torch = _torch()
    if torch is None:
        return None
    return torch.Generator(device=_device_type(torch)).manual_seed(seed)


def load_omni(args: argparse.Namespace, kwargs: dict[str, Any]) -> Any:
    from vllm_omni.entrypoints.omni import Omni  # noqa: PLC0415

    return Omni(**kwargs)


def sampling_params(args: argparse.Namespace, seed: int) -> Any:
    from vllm_omni.inputs.data import OmniDiffusionSamplingParams  # noqa: PLC0415

    # Fields of vllm_omni/inputs/data.py:197-344 (all present at a5bf33f2 too).
    # guidance_scale != None marks guidance_scale_provided (diffusion/request.py:62-67).
    return OmniDiffusionSamplingParams(
        height=args.height,
        width=args.width,
        num_inference_steps=args.num_inference_steps,
        true_cfg_scale=args.cfg_scale,
        guidance_scale=args.cfg_scale if args.guidance_scale is None else args.guidance_scale,
        seed=seed,
        generator=make_generator(seed),
        num_outputs_per_prompt=1,
    )


def prompt_input(prompt: str, negative_prompt: str) -> dict[str, Any]:
    """The request. "negative_prompt" is always there: Qwen-Image's pipeline keeps
    true CFG on only when the key is present and not None, and "" qualifies
    (pipeline_qwen_image.py:644-647, 706-709)."""
    return {"prompt": prompt, "negative_prompt": negative_prompt}


# ------------------------------------------------------------------- images --


def _is_array(value: Any) -> bool:
    """A NumPy array or torch tensor (never tested for truth: bool(array) raises)."""
    return hasattr(value, "ndim") and hasattr(value, "shape") and not callable(getattr(value, "save", None))


def _image_items(payload: Any) -> list[Any]:
    """The images in one payload: a PIL image, an array/tensor (HWC/CHW, or a
    batch NHWC/NCHW), or a list/tuple of those."""
    if payload is None:
        return []
    if callable(getattr(payload, "save", None)):
        return [payload]
    if _is_array(payload):
        ndim = int(payload.ndim)
        if ndim == 4:
            return [payload[i] for i in range(int(payload.shape[0]))]
        if ndim in (2, 3):
            return [payload]
        return []
    if isinstance(payload, (list, tuple)):
        items: list[Any] = []
        for item in payload:
            items.extend(_image_items(item))
        return items
    return []


def _mapping_payloads(value: Any) -> list[Any]:
    """Image payloads of a multimodal_output (a dict, or an object with to_dict(),
    as in image_output.py:75-82)."""
    if value is None:
        return []
    if callable(getattr(value, "to_dict", None)) and not isinstance(value, Mapping):
        try:
            value = value.to_dict()
        except Exception:  # noqa: BLE001
            return []
    if not isinstance(value, Mapping):
        return []
    return [value[key] for key in MULTIMODAL_IMAGE_KEYS if key in value]


def _payloads(output: Any, depth: int = 0) -> list[Any]:
    """Every place a release puts images on one output, in the order vLLM-Omni's
    own extract_images_from_outputs looks (image_output.py:24-35, 50-72)."""
    payloads: list[Any] = []
    if depth > 3 or output is None:
        return payloads
    if callable(getattr(output, "save", None)) or _is_array(output):
        return [output]
    payloads.append(getattr(output, "images", None))  # OmniRequestOutput.images (outputs/__init__.py:162)
    try:
        mm = getattr(output, "multimodal_output", None)  # property, outputs/__init__.py:323-335
    except Exception:  # noqa: BLE001
        mm = None
    payloads.extend(_mapping_payloads(mm))
    completions = getattr(output, "outputs", None)
    if isinstance(completions, (list, tuple)):
        for completion in completions:
            payloads.extend(_mapping_payloads(getattr(completion, "multimodal_output", None)))
    # 0.18-era OmniRequestOutput wrapped its stage output in .request_output
    # (vllm_omni/outputs.py at a5bf33f2, multimodal_output property lines 112-127).
    inner = getattr(output, "request_output", None)
    if inner is not None and inner is not output:
        inners = inner if isinstance(inner, (list, tuple)) else [inner]
        for item in inners:
            if isinstance(item, Mapping):
                payloads.extend(_mapping_payloads(item))
            else:
                payloads.extend(_payloads(item, depth + 1))
    return payloads


def extract_images(outputs: Any) -> list[Any]:
    """The images of one generate() call: the first place that holds any."""
    if outputs is None:
        return []
    items = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    for out in items:
        for payload in _payloads(out):
            images = _image_items(payload)
            if len(images) > 0:
                return images
    return []


def peak_memory_mb(outputs: Any) -> float:
    """OmniRequestOutput.peak_memory_mb (outputs/__init__.py:175; 0.0 = not measured)."""
    items = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    peak = 0.0
    for out in items:
        for obj in (out, getattr(out, "request_output", None)):
            value = getattr(obj, "peak_memory_mb", None)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > peak:
                peak = float(value)
    return peak


class _PngImage:
    """An 8-bit image written with the standard library (no Pillow needed)."""

    def __init__(self, rows: list[list[Any]], channels: int) -> None:
        self.rows = rows
        self.channels = channels

    def save(self, path: Any, *args: Any, **kwargs: Any) -> None:
        height = len(self.rows)
        width = len(self.rows[0]) if height else 0
        color_type = {1: 0, 2: 4, 3: 2, 4: 6}[self.channels]
        raw = bytearray()
        for row in self.rows:
            raw.append(0)
            for px in row:
                raw.extend(px if self.channels > 1 else [px])

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))


def _to_uint8(value: float, signed: bool, is_float: bool) -> int:
    if not is_float:
        return max(0, min(255, int(value)))
    if signed:
        value = value / 2 + 0.5
    return int(round(max(0.0, min(1.0, value)) * 255))


def to_image(image: Any) -> Any:
    """Something with .save(path): a PIL image as is; an array or tensor converted
    like vLLM-Omni does (CHW -> HWC, [-1, 1] -> [0, 1], x255: image_output.py:100-117,
    diffusers' numpy_to_pil), through NumPy + Pillow when present, else the
    standard library."""
    if callable(getattr(image, "save", None)):
        return image
    if callable(getattr(image, "detach", None)):  # a torch tensor
        image = image.detach().to("cpu").float()
    try:
        import numpy as np  # noqa: PLC0415
        from PIL import Image  # noqa: PLC0415
    except ImportError:
        np = None
    if np is not None:
        a = image.numpy() if callable(getattr(image, "numpy", None)) else np.asarray(image)
        if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
            a = a.transpose(1, 2, 0)
        if a.dtype.kind == "f":
            if a.size and float(a.min()) < 0.0:
                a = a / 2 + 0.5
            a = (a.clip(0, 1) * 255).round().astype(np.uint8)
        else:
            a = a.clip(0, 255).astype(np.uint8)
        if a.ndim == 3 and a.shape[-1] == 1:
            a = a[..., 0]
        return Image.fromarray(a)
    # Standard library only.
    shape = tuple(int(s) for s in image.shape)
    data = image.tolist()
    if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4):
        c, h, w = shape
        data = [[[data[k][y][x] for k in range(c)] for x in range(w)] for y in range(h)]
        shape = (h, w, c)
    flat: list[Any] = []

    def walk(v: Any) -> None:
        if isinstance(v, list):
            for x in v:
                walk(x)
        else:
            flat.append(v)

    walk(data)
    is_float = any(isinstance(v, float) for v in flat)
    signed = is_float and len(flat) > 0 and min(flat) < 0.0
    if len(shape) == 2:
        rows = [[_to_uint8(v, signed, is_float) for v in row] for row in data]
        return _PngImage(rows, 1)
    rows = [[[_to_uint8(v, signed, is_float) for v in px] for px in row] for row in data]
    return _PngImage(rows, shape[2])


def generate_one(omni: Any, args: argparse.Namespace, prompt: str, seed: int) -> tuple[Any, float]:
    """One image and the engine's peak memory (MiB) for it."""
    outputs = omni.generate(prompt_input(prompt, args.negative_prompt), sampling_params(args, seed))
    images = extract_images(outputs)
    if len(images) == 0:
        raise RuntimeError("generate() returned no image")
    return images[0], peak_memory_mb(outputs)


def _synchronize() -> None:
    torch = _torch()
    if torch is not None and torch.cuda.is_available():
        try:
            torch.cuda.synchronize()
        except Exception:  # noqa: BLE001
            pass


_error_text = PROTOCOL.error_text


def _close(omni: Any) -> None:
    close = getattr(omni, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # noqa: BLE001
            traceback.print_exc()


def _visible_device_count() -> int | None:
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None or value.strip() == "":
        return None
    return len([d for d in value.split(",") if d.strip() != ""])


def run(args: argparse.Namespace) -> int:
    errors = combination_errors(args)
    if errors:
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        prompts = read_prompts(args.prompt_file)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read prompt file {args.prompt_file}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if not prompts:
        print(f"error: prompt file {args.prompt_file} has no prompts", file=sys.stderr)
        return EXIT_USAGE

    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = Results(out_dir / "results.jsonl")
    kwargs = omni_kwargs(args)
    try:
        try:
            version = check_version(args, kwargs)
        except (ImportError, SetupError) as exc:
            print(f"error: {_error_text(exc)}", file=sys.stderr, flush=True)
            results.write({"event": "load", "seconds": None, "ok": False, "error": _error_text(exc)})
            return EXIT_FAILED
        print(f"vLLM-Omni batch (vLLM-Omni {version}; supported: {SUPPORTED_TEXT})", flush=True)
        print(
            f"  model={args.model} prompts={len(prompts)} steps={args.num_inference_steps} "
            f"size={args.width}x{args.height} cfg_scale={args.cfg_scale} seed={args.seed}",
            flush=True,
        )
        print(f"  Omni kwargs: {json.dumps({k: v for k, v in kwargs.items() if k != 'model'}, sort_keys=True, default=repr)}", flush=True)
        visible = _visible_device_count()
        if visible is not None and visible != world_size(args):
            print(
                f"warning: {visible} visible device(s), but ulysses x ring x cfg x tp = {world_size(args)}",
                file=sys.stderr,
                flush=True,
            )

        def load(event: str, extra: dict[str, Any]) -> Any:
            t0 = time.perf_counter()
            try:
                engine = load_omni(args, kwargs)
            except Exception as exc:  # noqa: BLE001 - any load failure is a setup failure
                traceback.print_exc()
                print(f"error: model load failed: {_error_text(exc)}", file=sys.stderr, flush=True)
                results.write({"event": event, **extra, "seconds": None, "ok": False, "error": _error_text(exc)})
                return None
            results.write({"event": event, **extra, "seconds": round(time.perf_counter() - t0, 4)})
            import vllm_omni  # noqa: PLC0415 - imported by the version check above

            results.write({"event": "settings", "backend": "vllm-omni",
                           "engine": PROTOCOL.engine_record("vllm-omni", vllm_omni)})
            print(f"Model loaded in {time.perf_counter() - t0:.2f} seconds", flush=True)
            return engine

        peaks: list[float] = []  # the engine's peak_memory_mb of every generation

        def warm_up(engine: Any, event: str = "warmup") -> bool:
            """Untimed generations; False when one failed (the engine is then closed).
            After a reload the event is "reload_warmup", so the first warm-up's
            time is the one compat reads."""
            if args.warmup == 0:
                return True
            t0 = time.perf_counter()
            try:
                for _ in range(args.warmup):
                    _, mb = generate_one(engine, args, prompts[0], args.seed)
                    peaks.append(mb)
                _synchronize()
                results.write({"event": event, "seconds": round(time.perf_counter() - t0, 4)})
                return True
            except Exception as exc:  # noqa: BLE001 - the batch still runs
                traceback.print_exc()
                results.write({"event": event, "seconds": None, "ok": False, "error": _error_text(exc)})
                return False

        omni = load("load", {})
        if omni is None:
            return EXIT_FAILED
        ok_count = 0
        try:
            if not warm_up(omni):
                # Omni.generate closed the engine (entrypoints/omni.py:91-94).
                _close(omni)
                omni = load("reload", {"after": "warmup"})
            for i, prompt in enumerate(prompts):
                name = f"prompt_{i:02d}.png"
                if omni is None:
                    msg = "engine unavailable: reloading after an earlier failure failed"
                    results.write({"prompt": i, "image": None, "seconds": None, "ok": False, "error": msg})
                    print(f"  Prompt {i + 1}: failed ({msg})", flush=True)
                    continue
                t0 = time.perf_counter()
                try:
                    image, mb = generate_one(omni, args, prompt, args.seed + i)
                    _synchronize()
                    seconds = time.perf_counter() - t0
                    peaks.append(mb)
                    save_image(to_image(image), out_dir / name)  # whole, on disk, before its ok line
                except Exception as exc:  # noqa: BLE001 - one prompt's failure never ends the batch
                    traceback.print_exc()
                    results.write(
                        {"prompt": i, "image": None, "seconds": None, "ok": False, "error": _error_text(exc)}
                    )
                    print(f"  Prompt {i + 1}: failed ({_error_text(exc)})", flush=True)
                    if i + 1 < len(prompts):
                        # Omni.generate closes the engine on any exception
                        # (entrypoints/omni.py:91-94): load it again for the rest.
                        _close(omni)
                        omni = load("reload", {"after": i})
                        if omni is not None and not warm_up(omni, "reload_warmup"):
                            _close(omni)
                            omni = load("reload", {"after": "warmup"})
                    continue
                ok_count += 1
                results.write({"prompt": i, "image": name, "seconds": round(seconds, 4), "ok": True})
                print(f"  Prompt {i + 1}: {seconds:.4f} seconds", flush=True)

            peak = max(peaks, default=0.0)
            if peak > 0.0:
                # The rank-0 worker (device 0 of CUDA_VISIBLE_DEVICES), torch's
                # max_memory_reserved per request (diffusion_model_runner.py:466-493);
                # other ranks are not reported by the engine.
                results.write({"event": "memory", "device": 0, "peak_bytes": int(round(peak * 1024 * 1024))})
        finally:
            if omni is not None:
                _close(omni)

        print(f"Done: {ok_count}/{len(prompts)} prompts produced an image", flush=True)
        return EXIT_OK if ok_count > 0 else EXIT_FAILED
    finally:
        results.close()


# Options whose value is free text: compat passes them as two argv entries, and a
# value starting with "-" (a negative prompt such as "-blurry" or "-- --seed 9")
# would otherwise be taken by argparse for an option.
TEXT_OPTIONS = ("--negative-prompt", "--model", "--prompt-file", "--output")


def join_text_values(argv: list[str]) -> list[str]:
    """Turn `--negative-prompt VALUE` into `--negative-prompt=VALUE` (same for
    the other free-text options) so the value is never parsed as an option."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in TEXT_OPTIONS and i + 1 < len(argv):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


# -------------------------------------------------------------------- probe --




class _ProbeParser(argparse.ArgumentParser):
    """build_parser()'s options, its errors raised instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SetupError(message)


def _probe_parser() -> argparse.ArgumentParser:
    p = build_parser()
    p.__class__ = _ProbeParser
    return p


def _settings_argv(model: str, settings: dict[str, Any]) -> list[str]:
    def num(key: str, default: Any) -> str:
        value = settings.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PROTOCOL.BadProbeRequest(f"settings.{key} must be a number, got {value!r}")
        return str(value)

    return [
        "--model", model, "--prompt-file", "-", "--output", ".",
        "--num-inference-steps", num("steps", 30), "--height", num("height", 1024),
        "--width", num("width", 1024), "--cfg-scale", num("cfg_scale", 4.0),
    ]


def _ingress_validator() -> Any:
    """vLLM-Omni's own check of a diffusion stage's keywords
    (config/omni_config.py:1370-1414 in 0.30.0), or None on a release without it."""
    try:
        from vllm_omni.config.omni_config import (  # noqa: PLC0415
            normalize_and_validate_diffusion_engine_ingress_kwargs,
        )
    except Exception:  # noqa: BLE001 - older releases: no such check
        return None
    return normalize_and_validate_diffusion_engine_ingress_kwargs


def probe_feature(base: list[str], fragment: list[str], version: str) -> dict[str, Any]:
    """One feature: the adapter's flags, its combination rules and version
    gates, then vLLM-Omni's own keyword check, parallel config and cache
    selector -- what the run would meet before the model loads."""
    def no(reason: str) -> dict[str, Any]:
        return {"supported": False, "reason": f"vllm-omni {version}: {reason}"}

    try:
        args = _probe_parser().parse_args(join_text_values(base + list(fragment)))
    except SetupError as exc:
        return no(f"the adapter does not take {' '.join(fragment)}: {exc}")
    errors = combination_errors(args)
    if errors:
        return no("; ".join(errors))
    kwargs = omni_kwargs(args)
    refusal = version_refusal(version, kwargs)
    if refusal:
        return no(refusal)
    validate = _ingress_validator()
    if validate is not None:
        try:
            # Omni(model, **rest): the model goes to the engine on its own (omni_base.py)
            validate({k: v for k, v in kwargs.items() if k != "model"}, stage_id=0)
        except (ValueError, TypeError) as exc:
            return no(f"{exc} (config/omni_config.py)")
    try:
        from vllm_omni.diffusion.data import DiffusionParallelConfig  # noqa: PLC0415

        names = {f.name for f in __import__("dataclasses").fields(DiffusionParallelConfig)}
        DiffusionParallelConfig(**{k: v for k, v in kwargs.items() if k in names and v is not None})
    except (ValueError, TypeError, AssertionError) as exc:
        return no(f"DiffusionParallelConfig refuses it: {exc}")
    if args.cache_backend:
        try:
            from vllm_omni.diffusion.cache.selector import get_cache_backend  # noqa: PLC0415
        except ImportError as exc:
            return no(f"no cache selector (vllm_omni.diffusion.cache.selector): {exc}")
        try:
            get_cache_backend(args.cache_backend, kwargs.get("cache_config") or {})
        except ValueError as exc:
            return no(f"{exc} (diffusion/cache/selector.py)")
    if args.cache_backend == "mag_cache":
        why = mag_cache_refusal(args.model)
        if why:
            return no(why)
    return {"supported": True}


def transformer_class(model: str) -> str | None:
    """The model's transformer class from its model_index.json, where that is
    on disk (a local folder, or the Hugging Face cache; nothing is downloaded)."""
    index = Path(model) / "model_index.json"
    if not index.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache  # noqa: PLC0415

            cached = try_to_load_from_cache(model, "model_index.json")
        except Exception:  # noqa: BLE001 - not a repo id, no hub library
            return None
        if not isinstance(cached, str):
            return None
        index = Path(cached)
    try:
        entry = json.loads(index.read_text(encoding="utf-8")).get("transformer")
    except (OSError, ValueError, AttributeError):
        return None
    return entry[1] if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], str) else None


def mag_cache_refusal(model: str) -> str | None:
    """MagCache needs ratios for the model's transformer, and 0.30.0 ships them
    for FLUX.1 and FLUX.2 only (cache/magcache/strategy.py:443-445); any other
    raises at the first generation, after the model load. The class comes from
    the model's model_index.json; a model whose class cannot be read here is
    refused with that reason rather than guessed."""
    try:
        from vllm_omni.diffusion.cache.magcache.strategy import MagCacheStrategyRegistry  # noqa: PLC0415
    except Exception as exc:  # noqa: BLE001
        return f"no MagCache strategies (vllm_omni.diffusion.cache.magcache.strategy): {PROTOCOL.error_text(exc)}"
    known = sorted(getattr(MagCacheStrategyRegistry, "_registry", {}) or {})
    ships = f"ratios ship for {', '.join(known) or 'no transformer'} (cache/magcache/strategy.py)"
    cls = transformer_class(model)
    if cls is None:
        return f"cannot read {model}'s transformer class (no model_index.json on disk) to find its MagCache ratios; {ships}"
    if cls not in known:
        return f"no MagCache ratios for {cls}; {ships}; calibrate first"
    return None


def probe_main(request_path: str, output_path: str) -> int:
    """Answer a probe request (backends/protocol.py) for the installed vLLM-Omni."""
    try:
        request = PROTOCOL.read_probe_request(request_path)
        base = _settings_argv(request["model"], request["settings"])
    except PROTOCOL.BadProbeRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return PROTOCOL.PROBE_BAD_REQUEST
    try:
        import vllm_omni  # noqa: PLC0415
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install
        return PROTOCOL.not_importable("vllm-omni", exc)
    identity = PROTOCOL.engine_identity("vllm-omni", vllm_omni)
    version = identity.get("version")
    if parse_version(version) is None:
        version = installed_version() or version or "unknown"
    identity["version"] = version
    notes = [f"adapter supports {SUPPORTED_TEXT}",
             "which pipelines a cache backend can hook is decided at load (the backends' enabler tables); "
             "the probe checks the keywords, the parallel config and the cache selector"]
    features = {name: probe_feature(base, fragment, version) for name, fragment in request["features"].items()}
    answer = PROTOCOL.probe_answer("vllm-omni", identity, request["model"], features, notes)
    return PROTOCOL.write_probe_answer(output_path, answer)


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    probed = PROTOCOL.probe_if_asked(raw, probe_main)
    if probed is not None:
        return probed
    args = build_parser().parse_args(join_text_values(raw))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
