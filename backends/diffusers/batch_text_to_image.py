#!/usr/bin/env python3
"""compat backend: a text-to-image batch on Hugging Face diffusers (one model load, many prompts).

Targets **diffusers 0.42.1** (torch 2.15.0, transformers 5.24.0; see
requirements.txt). Any ``DiffusionPipeline`` loads (``--model`` is a hub id or a
local directory); the feature flags use diffusers' own APIs on the pipeline's
denoiser (``pipe.transformer``, or ``pipe.unet``):

* ``--cache NAME``: ``denoiser.enable_cache(config)`` with
  ``FirstBlockCacheConfig``, ``TaylorSeerCacheConfig``, ``MagCacheConfig``
  (calibrated first, see below), ``PyramidAttentionBroadcastConfig``,
  ``FasterCacheConfig`` or ``SeaCacheConfig``; ``--cache cache_dit``: the
  cache-dit package's DBCache instead (``cache_dit.enable_cache(pipe,
  cache_config=DBCacheConfig(), calibrator_config=...)``, cache-dit 1.5.3,
  its documented defaults), with ``--cache-dit-calibrator taylorseer`` and
  ``--cache-dit-scm POLICY`` (a steps computation mask); cache-dit's own count
  of cached steps (``cache_dit.summary``) joins the ``work`` event;
* ``--compile``: ``denoiser.compile_repeated_blocks(fullgraph=True)`` (regional
  torch.compile; the first generation compiles, so keep ``--warmup`` >= 1);
* ``--group-offload [block_level|leaf_level]``: ``pipe.enable_group_offload(
  onload_device, offload_device=cpu, ...)`` (on a CPU-only machine onload and
  offload device are both the CPU: the hooks run, nothing moves);
* ``--ulysses-degree N`` / ``--ring-degree N``: ``ContextParallelConfig`` and
  ``--tp-degree N``: ``TensorParallelConfig``, applied with
  ``denoiser.enable_parallelism(config=...)``, one process per GPU: started
  outside torchrun with a degree > 1, the script re-executes itself as
  ``python3 -m torch.distributed.run --standalone --nproc_per_node <product of
  the degrees> batch_text_to_image.py <same arguments>`` (``--no-torchrun``: exit
  2 instead); every rank loads the pipeline and runs every prompt, only rank 0
  writes images and results.jsonl. torchrun reports a failed worker as exit 1.
  Context and tensor parallelism cannot be combined (diffusers'
  ``ParallelConfig`` refuses it): a usage error here.

Guidance: the negative prompt is always passed (an empty one as ``" "``), because
Qwen-Image turns true CFG on only when a negative prompt is given
(``do_true_cfg = true_cfg_scale > 1 and has_neg_prompt`` in
``pipeline_qwenimage.py``). ``true_cfg_scale`` and ``guidance_scale`` are both
passed when the pipeline's ``__call__`` accepts them (checked with ``inspect``).

MagCache needs magnitude ratios per model. Unless ``--mag-ratios`` gives them,
the script runs one untimed calibration generation of prompt 0
(``MagCacheConfig(calibrate=True)``), reads the ratios diffusers prints for the
conditional branch, and re-enables MagCache with them (a ``calibration`` event
in results.jsonl).

Protocol (compat DESIGN.md §4): prompt ``i`` (0-based) uses seed ``seed + i``
(a CPU ``torch.Generator``) and is written to ``prompt_{i:02d}.png``;
``results.jsonl`` gets one line per prompt plus ``settings`` (threads, device,
dtype, versions, the applied feature configs, the keyword arguments passed to the
pipeline), ``load``, ``calibration`` (MagCache), ``warmup`` and ``memory``
(CUDA only) events, flushed as they happen; the log gets ``  Prompt N: X
seconds`` (1-based) per prompt.

Exit codes:
  0  setup succeeded and at least one prompt produced an image
  1  setup failed (prompt file unreadable, torch/diffusers missing, model load
     or a feature's setup raised) -- or every prompt failed
  2  bad usage: argparse errors, empty prompt file, flags that do not fit
     together, or a feature this script or machine cannot do (parallel degrees
     without CUDA or with --no-torchrun outside torchrun, a cache the installed
     diffusers lacks, a pipeline without a transformer/unet)
Probe (``--probe REQUEST --output ANSWER``, backends/protocol.py): 0 answered,
2 bad request, 3 torch/diffusers not importable.
A single failing prompt (an exception) is recorded as ``ok: false`` with the
exception's one-line message (full traceback on stderr) and the batch goes on.

Nothing from torch or diffusers is imported at module level: argument parsing,
validation and the cache-config mapping are plain functions the tests import
without torch.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

TARGET_DIFFUSERS_VERSION = "0.42.1"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# --cache NAME -> (diffusers config class, the knob --cache-threshold sets,
# the knob --cache-interval sets). None: the cache has no such knob.
CACHES: dict[str, tuple[str, str | None, str | None]] = {
    "first_block_cache": ("FirstBlockCacheConfig", "threshold", None),
    "taylorseer": ("TaylorSeerCacheConfig", None, "cache_interval"),
    "magcache": ("MagCacheConfig", "threshold", "max_skip_steps"),
    "pyramid_attention_broadcast": ("PyramidAttentionBroadcastConfig", None, "spatial_attention_block_skip_range"),
    "faster_cache": ("FasterCacheConfig", None, "spatial_attention_block_skip_range"),
    "seacache": ("SeaCacheConfig", "threshold", None),
}

# --cache cache_dit: DBCache of the separate cache-dit package
# (``cache_dit.enable_cache(pipe, cache_config=DBCacheConfig(...),
# calibrator_config=...)``, cache_dit/caching/cache_interface.py:26-47 in the
# 1.5.3 wheel), not a diffusers hook. Checked against this version
# (requirements.txt pins it).
CACHE_DIT = "cache_dit"
CACHE_DIT_VERSION = "1.5.3"
# --cache-dit-calibrator NAME -> cache-dit's calibrator config class (its
# defaults: taylorseer_order 1, hidden and encoder states, residual cache;
# calibrators/__init__.py:104-128).
CACHE_DIT_CALIBRATORS = {"taylorseer": "TaylorSeerCalibratorConfig"}
# --cache-dit-scm POLICY: cache_dit.steps_mask(total_steps=steps, mask_policy=POLICY)
# (cache_interface.py:612-626), passed as DBCacheConfig(steps_computation_mask=...).
SCM_MASK_POLICIES = ("slow", "medium", "fast", "ultra")
# DBCacheConfig.steps_computation_policy (cache_config.py:84-88): "dynamic"
# (the default) still asks DBCache's threshold on a masked step, "static"
# always reuses the cache there.
SCM_COMPUTE_POLICIES = ("dynamic", "static")

# Flags of the other backends' scripts that compat may pass when a feature has
# no diffusers arguments: rejected with the reason instead of argparse's
# "unrecognized arguments".
FOREIGN_FLAGS: dict[str, str] = {
    "--cfg-parallel-size": "diffusers has no CFG-parallel API",
    "--cache-backend": "diffusers has no TeaCache; Cache-DiT is --cache cache_dit; use --cache "
    + "{" + ",".join([*CACHES, CACHE_DIT]) + "}",
    "--tensor-parallel-size": "this script spells tensor parallelism --tp-degree N",
}


NO_CUDA_PARALLEL = (
    "parallelism needs one CUDA device per rank: diffusers' enable_parallelism places rank r on "
    "accelerator r % torch.accelerator.device_count(), and there is no accelerator here"
)


class UsageError(Exception):
    """Flags that do not fit together, or a feature that cannot run here: exit 2."""


def _load_protocol() -> Any:
    """backends/protocol.py, imported by this file's own path: the script still
    runs from a checkout with nothing installed."""
    import importlib.util

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


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=(
            "Generate one image per prompt with a diffusers pipeline, loading it once "
            f"(targets diffusers {TARGET_DIFFUSERS_VERSION}). Writes prompt_NN.png and "
            "results.jsonl into --output."
        ),
    )
    p.add_argument("--model", required=True, help="hub id or local directory of a diffusers pipeline")
    p.add_argument("--prompt-file", required=True, help="UTF-8 text file, one prompt per line")
    p.add_argument("--output", required=True, help="output directory (created if missing)")
    p.add_argument("--num-inference-steps", type=positive_int, default=50)
    p.add_argument("--height", type=positive_int, default=1024)
    p.add_argument("--width", type=positive_int, default=1024)
    p.add_argument(
        "--cfg-scale",
        type=float,
        default=4.0,
        help="guidance scale: passed as true_cfg_scale and as guidance_scale where the pipeline takes them",
    )
    p.add_argument(
        "--guidance-scale",
        type=PROTOCOL.optional_float,
        default=None,
        help="guidance_scale when it should differ from --cfg-scale (e.g. a guidance-distilled model: "
        "FLUX.1-dev's 3.5 with --cfg-scale 1); empty: --cfg-scale's value",
    )
    p.add_argument("--seed", type=int, default=42, help="prompt i uses seed + i")
    p.add_argument(
        "--negative-prompt",
        default="",
        help='always passed; empty is sent as " " so that true CFG stays on (Qwen-Image)',
    )
    p.add_argument(
        "--warmup",
        type=non_negative_int,
        default=1,
        help="untimed generations of the first prompt before the batch (default 1)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch.set_num_threads(N); default 1 on CPU (timings stable under load), torch's own on CUDA",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: cuda if available")
    p.add_argument(
        "--dtype",
        choices=["auto", "float32", "bfloat16", "float16"],
        default="auto",
        help="default: bfloat16 on CUDA, float32 on CPU",
    )
    # Features.
    p.add_argument(
        "--cache",
        choices=[*CACHES, CACHE_DIT],
        default=None,
        help=f"one of diffusers' caches, or cache_dit (the cache-dit package's DBCache, cache-dit=={CACHE_DIT_VERSION})",
    )
    p.add_argument(
        "--cache-threshold",
        type=positive_float,
        default=None,
        help="first_block_cache / magcache / seacache: their `threshold` (default: diffusers'); "
        "cache_dit: residual_diff_threshold (default: cache-dit's 0.08)",
    )
    p.add_argument(
        "--cache-dit-calibrator",
        choices=list(CACHE_DIT_CALIBRATORS),
        default=None,
        help="cache_dit: cache-dit's calibrator (TaylorSeerCalibratorConfig with its defaults)",
    )
    p.add_argument(
        "--cache-dit-scm",
        choices=SCM_MASK_POLICIES,
        default=None,
        help="cache_dit: a steps computation mask, cache_dit.steps_mask(total_steps=steps, mask_policy=...)",
    )
    p.add_argument(
        "--cache-dit-scm-policy",
        choices=SCM_COMPUTE_POLICIES,
        default=None,
        help="cache_dit with --cache-dit-scm: steps_computation_policy (default: cache-dit's dynamic)",
    )
    p.add_argument(
        "--cache-interval",
        type=positive_int,
        default=None,
        help=(
            "taylorseer: cache_interval; magcache: max_skip_steps; pyramid_attention_broadcast, "
            "faster_cache: spatial_attention_block_skip_range (default: diffusers' or its documented example)"
        ),
    )
    p.add_argument(
        "--mag-ratios",
        default=None,
        help="magcache: comma-separated ratios, or 'flux' for diffusers' FLUX_MAG_RATIOS; default: calibrate",
    )
    p.add_argument(
        "--session",
        metavar="FILE",
        help="run several configurations on one loaded pipeline: the JSON session file compat writes "
        "(docs/sessions.md); each entry switches its cache on, runs its warm-up and prompts into its "
        "folder, and switches it off",
    )
    p.add_argument("--compile", action="store_true", help="denoiser.compile_repeated_blocks(fullgraph=True)")
    p.add_argument(
        "--group-offload",
        nargs="?",
        const="block_level",
        choices=["block_level", "leaf_level"],
        default=None,
        help="pipe.enable_group_offload(...) (default type block_level, one block per group; CUDA streams on GPU)",
    )
    p.add_argument("--ulysses-degree", type=positive_int, default=1)
    p.add_argument("--ring-degree", type=positive_int, default=1)
    p.add_argument("--tp-degree", type=positive_int, default=1)
    p.add_argument(
        "--attention-backend",
        default=None,
        help="denoiser.set_attention_backend(NAME); default for context parallel: _native_cudnn for ring, "
        "native for Ulysses",
    )
    p.add_argument(
        "--no-torchrun",
        action="store_true",
        help="with a parallel degree > 1 outside torchrun: fail (exit 2) instead of re-launching under torchrun",
    )
    p.add_argument(
        "--no-cp-anything",
        action="store_true",
        help="context parallel without ulysses_anything / ring_anything (then every sequence length, "
        "text included, must divide by the degree)",
    )
    return p


def sent_negative_prompt(negative_prompt: str) -> str:
    """The negative prompt handed to the pipeline: never empty, so that true CFG
    stays on (diffusers' Qwen-Image docstring: 'even an empty negative prompt
    like " "')."""
    return negative_prompt if negative_prompt.strip() else " "


def parallel_plan(args: argparse.Namespace) -> dict[str, Any] | None:
    """None, or {"kind": "context"|"tensor", "world_size": N, ...}."""
    cp = args.ulysses_degree * args.ring_degree
    if cp > 1 and args.tp_degree > 1:
        raise UsageError(
            "context parallelism (--ulysses-degree/--ring-degree) and tensor parallelism (--tp-degree) "
            "cannot be combined: diffusers' ParallelConfig accepts only one of them"
        )
    if cp > 1:
        plan: dict[str, Any] = {
            "kind": "context",
            "world_size": cp,
            "ulysses_degree": args.ulysses_degree,
            "ring_degree": args.ring_degree,
        }
        if not args.no_cp_anything and (args.ulysses_degree == 1 or args.ring_degree == 1):
            # diffusers allows the "anything" modes only with one of the two degrees at 1.
            plan["ulysses_anything"] = args.ulysses_degree > 1
            plan["ring_anything"] = args.ring_degree > 1
        else:
            plan["ulysses_anything"] = plan["ring_anything"] = False
        return plan
    if args.tp_degree > 1:
        return {"kind": "tensor", "world_size": args.tp_degree, "tp_degree": args.tp_degree}
    return None


def world_from_env(env: dict[str, str]) -> tuple[int, int, int]:
    """(world_size, rank, local_rank) as torchrun sets them; (1, 0, 0) outside it."""

    def num(name: str, default: int) -> int:
        try:
            return int(env.get(name, default))
        except ValueError:
            return default

    return num("WORLD_SIZE", 1), num("RANK", 0), num("LOCAL_RANK", 0)


def cache_spec(args: argparse.Namespace) -> tuple[str, dict[str, Any]] | None:
    """(diffusers config class name, plain keyword arguments) for --cache, or None.

    Values that need torch or the pipeline (the current-timestep callback, the
    MagCache ratios) are added at run time; see make_cache_config."""
    if args.cache is None or args.cache == CACHE_DIT:
        return None
    cls, threshold_key, interval_key = CACHES[args.cache]
    kwargs: dict[str, Any] = {}
    if args.cache == "pyramid_attention_broadcast":
        # diffusers' documented example (CacheMixin.enable_cache docstring).
        kwargs.update(spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(100, 800))
    elif args.cache == "faster_cache":
        # diffusers' documented example (apply_faster_cache docstring); is_guidance_distilled
        # is read from the model at run time (make_cache_config).
        kwargs.update(
            spatial_attention_block_skip_range=2,
            spatial_attention_timestep_skip_range=(-1, 681),
            low_frequency_weight_update_timestep_range=(99, 641),
            high_frequency_weight_update_timestep_range=(-1, 301),
            spatial_attention_block_identifiers=["transformer_blocks"],
            tensor_format="BFCHW",
        )
    elif args.cache == "magcache":
        kwargs["num_inference_steps"] = args.num_inference_steps
    if args.cache_threshold is not None:
        kwargs[threshold_key] = args.cache_threshold  # validated: threshold_key is not None
    if args.cache_interval is not None:
        kwargs[interval_key] = args.cache_interval
    return cls, kwargs


def cache_dit_spec(args: argparse.Namespace) -> dict[str, Any] | None:
    """What --cache cache_dit asks cache-dit for, as plain data (no torch):
    {"cache_config": (class, kwargs), "calibrator": (class, kwargs) or None,
    "scm": {"mask_policy": ..., "total_steps": ...} or None}.

    DBCacheConfig() keeps cache-dit's documented defaults (cache_config.py:20-108
    of 1.5.3: Fn_compute_blocks 8, Bn_compute_blocks 0, residual_diff_threshold
    0.08, max_warmup_steps 8, warmup_interval 1, no cached-step limits);
    enable_separate_cfg stays None so that cache-dit's own adapter decides it
    (True for Qwen-Image, block_adapters/adapters.py:239-270). The calibrator is
    how cache-dit composes TaylorSeer with DBCache: enable_cache's
    calibrator_config beside cache_config (cache_interface.py:26-47); it is
    used only on the steps DBCache caches. The mask is built at run time by
    cache_dit.steps_mask (make_cache_dit_configs)."""
    if args.cache != CACHE_DIT:
        return None
    kwargs: dict[str, Any] = {}
    if args.cache_threshold is not None:
        kwargs["residual_diff_threshold"] = args.cache_threshold
    scm = None
    if args.cache_dit_scm is not None:
        scm = {"mask_policy": args.cache_dit_scm, "total_steps": args.num_inference_steps}
        if args.cache_dit_scm_policy is not None:
            kwargs["steps_computation_policy"] = args.cache_dit_scm_policy
    calibrator = None
    if args.cache_dit_calibrator is not None:
        calibrator = (CACHE_DIT_CALIBRATORS[args.cache_dit_calibrator], {})
    return {"cache_config": ("DBCacheConfig", kwargs), "calibrator": calibrator, "scm": scm}


def parse_mag_ratios(text: str) -> list[float] | str:
    if text.strip().lower() == "flux":
        return "flux"
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--mag-ratios: expected comma-separated numbers or 'flux', got {text!r}") from None
    if not values:
        raise UsageError("--mag-ratios is empty")
    return values


def validate(args: argparse.Namespace, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Checks that need no torch. Returns the plan (parallel, world, cache);
    raises UsageError with a message naming the fix."""
    env = dict(os.environ if env is None else env)
    if args.cache != CACHE_DIT:
        for flag, value in (
            ("--cache-dit-calibrator", args.cache_dit_calibrator),
            ("--cache-dit-scm", args.cache_dit_scm),
            ("--cache-dit-scm-policy", args.cache_dit_scm_policy),
        ):
            if value is not None:
                raise UsageError(f"{flag} needs --cache cache_dit")
    if args.cache_dit_scm_policy is not None and args.cache_dit_scm is None:
        raise UsageError("--cache-dit-scm-policy needs --cache-dit-scm (the mask it applies to)")
    if args.cache is None:
        for flag, value in (
            ("--cache-threshold", args.cache_threshold),
            ("--cache-interval", args.cache_interval),
            ("--mag-ratios", args.mag_ratios),
        ):
            if value is not None:
                raise UsageError(f"{flag} needs --cache")
    elif args.cache == CACHE_DIT:
        if args.cache_interval is not None:
            raise UsageError("--cache-interval does not apply to --cache cache_dit (DBCache has no interval)")
        if args.mag_ratios is not None:
            raise UsageError("--mag-ratios needs --cache magcache")
    else:
        _, threshold_key, interval_key = CACHES[args.cache]
        if args.cache_threshold is not None and threshold_key is None:
            raise UsageError(
                f"--cache-threshold does not apply to --cache {args.cache} "
                "(it sets first_block_cache, magcache and seacache's threshold)"
            )
        if args.cache_interval is not None and interval_key is None:
            raise UsageError(
                f"--cache-interval does not apply to --cache {args.cache} "
                "(taylorseer, magcache, pyramid_attention_broadcast and faster_cache take it)"
            )
        if args.mag_ratios is not None and args.cache != "magcache":
            raise UsageError("--mag-ratios needs --cache magcache")
    mag_ratios = parse_mag_ratios(args.mag_ratios) if args.mag_ratios is not None else None

    plan = parallel_plan(args)
    world_size, rank, local_rank = world_from_env(env)
    if plan is not None:
        if "WORLD_SIZE" not in env:
            raise UsageError(
                f"{plan['kind']} parallelism of degree {plan['world_size']} needs one process per GPU: run under "
                f"torchrun --nproc_per_node {plan['world_size']} (python3 -m torch.distributed.run --standalone "
                f"--nproc_per_node {plan['world_size']} {Path(sys.argv[0]).name} ...), or without --no-torchrun"
            )
        if world_size != plan["world_size"]:
            raise UsageError(
                f"{plan['kind']} parallelism of degree {plan['world_size']} needs WORLD_SIZE={plan['world_size']}, "
                f"torchrun started {world_size} processes (--nproc_per_node must equal the product of the degrees)"
            )
    elif world_size > 1:
        raise UsageError(
            f"started as {world_size} processes (WORLD_SIZE={world_size}) but no --ulysses-degree, "
            "--ring-degree or --tp-degree asks for them: use --nproc_per_node 1"
        )
    return {
        "parallel": plan,
        "world_size": world_size,
        "rank": rank,
        "local_rank": local_rank,
        "cache": cache_spec(args),
        "cache_dit": cache_dit_spec(args),
        "mag_ratios": mag_ratios,
    }


error_line = PROTOCOL.error_text


def join_text_values(argv: list[str]) -> list[str]:
    """`--negative-prompt VALUE` -> `--negative-prompt=VALUE` (and the other
    free-text options) so a value starting with "-" is never taken for an option."""
    text_options = ("--negative-prompt", "--model", "--prompt-file", "--output")
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in text_options and i + 1 < len(argv):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def foreign_flag(argv: list[str]) -> str | None:
    for token in argv:
        flag = token.split("=", 1)[0]
        if flag in FOREIGN_FLAGS:
            return f"{flag} is not supported by the diffusers backend: {FOREIGN_FLAGS[flag]}"
    return None


# --------------------------------------------------------------------------
# Everything below imports torch / diffusers inside functions.


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if callable(value):
        return "<callable>"
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def config_summary(config: Any) -> dict[str, Any]:
    """The public fields of a diffusers dataclass config, JSON-ready."""
    fields = getattr(config, "__dataclass_fields__", None)
    names = list(fields) if fields else list(vars(config))
    return {n: _jsonable(getattr(config, n, None)) for n in names if not n.startswith("_") and n != "mesh"}


def denoiser_of(pipe: Any) -> Any:
    for name in ("transformer", "unet"):
        module = getattr(pipe, name, None)
        if module is not None:
            return module
    raise UsageError(
        f"{type(pipe).__name__} has no `transformer` or `unet`: caches, compile and parallelism cannot be applied"
    )


def is_guidance_distilled(pipe: Any) -> bool:
    """Whether the denoiser takes the guidance scale as an input (FLUX.1-dev) instead
    of running an unconditional branch. diffusers 0.42.1 itself decides this from the
    denoiser's config: pipelines/flux/pipeline_flux.py:847 (``if
    self.transformer.config.guidance_embeds``), pipelines/qwenimage/pipeline_qwenimage.py:618
    and the modular pipelines' ``is_guidance_distilled`` property
    (modular_pipelines/qwenimage/modular_pipeline.py:210-214). FasterCache must be told
    (hooks/faster_cache.py:123, read at :280, :295 and :431): with the default False its
    hooks treat a distilled model's batches as unconditional + conditional halves that
    are not there (issue 20: an IndexError on a tiny FLUX.1-dev)."""
    config = getattr(denoiser_of(pipe), "config", None)
    return bool(getattr(config, "guidance_embeds", False))


def make_cache_config(spec: tuple[str, dict[str, Any]], pipe: Any, mag_ratios: Any) -> Any:
    import diffusers

    cls_name, kwargs = spec
    cls = getattr(diffusers, cls_name, None)
    if cls is None:
        raise UsageError(f"the installed diffusers {diffusers.__version__} has no {cls_name}")
    kwargs = dict(kwargs)
    if cls_name in ("PyramidAttentionBroadcastConfig", "FasterCacheConfig"):
        kwargs["current_timestep_callback"] = lambda: pipe.current_timestep
    if cls_name == "FasterCacheConfig":
        kwargs["attention_weight_callback"] = lambda _: 0.3
        kwargs["is_guidance_distilled"] = is_guidance_distilled(pipe)
    if cls_name == "MagCacheConfig":
        if mag_ratios == "flux":
            from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS

            kwargs["mag_ratios"] = FLUX_MAG_RATIOS
        elif mag_ratios is not None:
            kwargs["mag_ratios"] = mag_ratios
        else:
            kwargs["calibrate"] = True
    return cls(**kwargs)


def import_cache_dit() -> Any:
    """The cache_dit module, or a UsageError naming the pinned install."""
    try:
        import cache_dit
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install
        raise UsageError(
            f"--cache cache_dit needs the cache-dit package: {error_line(exc)} "
            f"(install cache-dit=={CACHE_DIT_VERSION}, pinned in backends/diffusers/requirements.txt)"
        ) from None
    return cache_dit


def cache_dit_pipeline_support(cache_dit: Any, pipeline_class: str) -> str | None:
    """None when cache-dit has a block adapter for the pipeline class (its
    registry matches class-name prefixes, block_registers.py get_adapter), else why not."""
    _, names = cache_dit.supported_pipelines()
    if any(pipeline_class.startswith(n) for n in names):
        return None
    return f"cache-dit {cache_dit.__version__} has no block adapter for {pipeline_class}"


def scm_mask(cache_dit: Any, mask_policy: str, total_steps: int) -> list[int]:
    """cache_dit.steps_mask for the run's step count; its refusals (fewer than 8
    steps other than 4 or 6) are usage errors in its own words."""
    try:
        return list(cache_dit.steps_mask(total_steps=total_steps, mask_policy=mask_policy))
    except (AssertionError, ValueError) as exc:
        raise UsageError(
            f"--cache-dit-scm {mask_policy} with {total_steps} steps: cache-dit {cache_dit.__version__} "
            f"steps_mask refuses it ({error_line(exc)})"
        ) from None


def make_cache_dit_configs(cache_dit: Any, spec: dict[str, Any]) -> tuple[Any, Any]:
    """(DBCacheConfig, calibrator config or None) from cache_dit_spec's data."""
    cls_name, kwargs = spec["cache_config"]
    kwargs = dict(kwargs)
    if spec["scm"] is not None:
        kwargs["steps_computation_mask"] = scm_mask(cache_dit, spec["scm"]["mask_policy"], spec["scm"]["total_steps"])
    cache_config = getattr(cache_dit, cls_name)(**kwargs)
    calibrator = None
    if spec["calibrator"] is not None:
        cal_name, cal_kwargs = spec["calibrator"]
        calibrator = getattr(cache_dit, cal_name)(**cal_kwargs)
    return cache_config, calibrator


def enable_cache_dit(pipe: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """cache_dit.enable_cache on the pipeline (no parallelism_config: ulysses,
    ring and tp stay diffusers' own enable_parallelism, applied after this, as
    cache-dit asks: cache_interface.py 'enable parallelism/quantization after
    applying cache'). Returns the settings entry."""
    cache_dit = import_cache_dit()
    why_not = cache_dit_pipeline_support(cache_dit, type(pipe).__name__)
    if why_not is not None:
        raise UsageError(why_not)
    cache_config, calibrator = make_cache_dit_configs(cache_dit, spec)
    cache_dit.enable_cache(pipe, cache_config=cache_config, calibrator_config=calibrator)
    applied: dict[str, Any] = {
        "name": CACHE_DIT,
        "package": "cache-dit",
        "version": cache_dit.__version__,
        "config": type(cache_config).__name__,
        **config_summary(cache_config),
        "strify": cache_config.strify(),
    }
    if calibrator is not None:
        applied["calibrator"] = {"config": type(calibrator).__name__, **config_summary(calibrator)}
    return applied


def cache_dit_counts(pipe: Any) -> dict[str, int]:
    """cache-dit's own count of what the last generation skipped:
    cache_dit.summary(pipe) (summary.py:22-58) resets with every pipeline call
    (cache_adapter.py: the context is reset per call, the stats applied after it),
    so its accumulated counts are that call's. The last entry is the
    transformer-level one, what cache_dit.strify reads."""
    import cache_dit

    stats = cache_dit.summary(pipe, logging=False)[-1]
    return {
        "cache_dit_cached_steps": int(stats.accumulated_cached_steps),
        "cache_dit_cfg_cached_steps": int(stats.cfg_accumulated_cached_steps),
    }


_CALIBRATION_RE = re.compile(r"\[MagCache\] Calibration Complete[^\n]*\n\s*(\[[^\]]*\])")


def parse_calibration(stdout: str) -> list[float]:
    """The first ratio list diffusers printed (the conditional branch: the pipeline
    runs it before the unconditional one in every step)."""
    m = _CALIBRATION_RE.search(stdout)
    if m is None:
        raise RuntimeError("MagCache calibration printed no ratios")
    return [float(x) for x in json.loads(m.group(1))]


def call_kwargs(pipe: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments every generation passes, filtered by the pipeline's
    __call__ signature (prompt and generator are added per call)."""
    import inspect

    params = inspect.signature(pipe.__call__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    def accepts(name: str) -> bool:
        return name in params or takes_any

    kw: dict[str, Any] = {
        "height": args.height,
        "width": args.width,
        "num_inference_steps": args.num_inference_steps,
    }
    if accepts("negative_prompt"):
        kw["negative_prompt"] = sent_negative_prompt(args.negative_prompt)
    if "true_cfg_scale" in params:
        kw["true_cfg_scale"] = args.cfg_scale
    if "guidance_scale" in params:
        kw["guidance_scale"] = args.guidance_scale if args.guidance_scale is not None else args.cfg_scale
    if "output_type" in params:
        kw["output_type"] = "pil"
    return kw


def generate(pipe: Any, kw: dict[str, Any], prompt: str, seed: int) -> Any:
    import torch

    out = pipe(prompt=prompt, generator=torch.Generator("cpu").manual_seed(seed), **kw)
    images = getattr(out, "images", None)
    if images is None and isinstance(out, (list, tuple)) and out:
        images = out[0]
    if images is None or len(images) == 0:
        raise RuntimeError("the pipeline returned no image")
    image = images[0]
    if not hasattr(image, "save"):
        from diffusers.utils import numpy_to_pil

        image = numpy_to_pil(image)[0]
    return image


def _synchronize(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _barrier(world_size: int) -> None:
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()


def memory_events(device: str, world_size: int, rank: int) -> list[dict[str, Any]]:
    """Peak allocation per device (torch.cuda.max_memory_allocated); under
    torchrun every rank's own device, gathered to rank 0, labelled by rank."""
    if device != "cuda":
        return []
    import torch

    if world_size > 1:
        import torch.distributed as dist

        mine = int(torch.cuda.max_memory_allocated(torch.cuda.current_device()))
        gathered: list[Any] = [None] * world_size
        dist.all_gather_object(gathered, mine)
        return [{"event": "memory", "device": r, "peak_bytes": int(b)} for r, b in enumerate(gathered)]
    return [
        {"event": "memory", "device": d, "peak_bytes": int(torch.cuda.max_memory_allocated(d))}
        for d in range(torch.cuda.device_count())
    ]


class WorkCounter:
    """Counts the denoiser's repeated blocks and their attention modules as
    they really run: each instance's ``forward`` is wrapped *before* a cache
    is enabled, so diffusers' cache hooks wrap the counted forward and a
    skipped block is not counted. compat compares the counts with the parent
    config's (``{"event": "work"}``): a cache that computed exactly what the
    baseline computed never engaged, which timings on a busy machine cannot
    show. The blocks are not wrapped with ``--compile`` (``blocks=False``): a
    Python counter inside a ``fullgraph=True`` region would break the graph.

    ``engine``: a function returning the engine's own counts for the last
    generation (cache-dit's cached steps), added beside the block counters for
    each kept prompt, so "no effect" rests on the engine's word too.

    With true CFG a pipeline runs the denoiser twice a step, inside
    ``cache_context("cond")`` and ``cache_context("uncond")``: the counts are
    also kept per branch, and once the cache is on (:meth:`observe`) a call the
    cache answered without computing is checked against where that module last
    computed. diffusers switches a hook's state with the context only through a
    ``StateManager`` (``hooks/hooks.py`` ``_set_context`` in 0.42.1); a stateful
    hook without one (PyramidAttentionBroadcast, FasterCache) hands the
    unconditional branch the conditional branch's output of the same step. That
    changes guidance, not steps, and is counted as ``cross_branch``."""

    UNITS = ("transformer_block", "attention")

    def __init__(self, denoiser: Any, blocks: bool = True, engine: Any = None) -> None:
        self.counts: dict[str, int] = dict.fromkeys(self.UNITS, 0) if blocks else {}  # since the last reset
        self.kept = dict(self.counts)  # the prompts kept: each one's counts added once its image is saved
        self.kept_prompts = 0
        self.engine = engine
        self.branch: str | None = None  # the cache_context the pipeline is in
        self.by_branch: dict[str, dict[str, int]] = {}  # since the last reset
        self.kept_by_branch: dict[str, dict[str, int]] = {}
        self.cross = dict.fromkeys(self.counts, 0)  # since the last reset
        self.kept_cross = dict(self.cross)
        self._computed: dict[int, int] = {}  # per module: times it really ran
        self._last_branch: dict[int, str | None] = {}  # per module: the branch it last ran in
        self._modules: list[tuple[Any, str]] = []
        if not blocks:
            return
        names = set(getattr(denoiser, "_repeated_blocks", None) or [])
        for block in denoiser.modules():
            if type(block).__name__ not in names:
                continue
            self._wrap(block, "transformer_block")
            for sub in block.modules():
                if sub is not block and "Attention" in type(sub).__name__:
                    self._wrap(sub, "attention")
        context = getattr(denoiser, "cache_context", None)
        if callable(context):
            denoiser.cache_context = self._tracked(context)

    def _tracked(self, context: Any) -> Any:
        @contextlib.contextmanager
        def tracked(name: str, *a: Any, **k: Any) -> Any:
            outer, self.branch = self.branch, name
            try:
                with context(name, *a, **k):
                    yield
            finally:
                self.branch = outer

        return tracked

    def _wrap(self, module: Any, unit: str) -> None:
        import functools

        inner = module.forward
        key = id(module)
        self._computed[key] = 0
        self._modules.append((module, unit))

        # functools.wraps keeps the block's signature visible (inspect follows
        # __wrapped__): cache-dit matches a block's forward pattern by its
        # parameter names (block_adapters.py match_blocks_pattern) and refuses
        # a bare (*args, **kwargs).
        @functools.wraps(inner)
        def counted(*a: Any, **k: Any) -> Any:
            self.counts[unit] += 1
            self._computed[key] += 1
            self._last_branch[key] = self.branch
            if self.branch is not None:
                per = self.by_branch.setdefault(self.branch, dict.fromkeys(self.UNITS, 0))
                per[unit] += 1
            return inner(*a, **k)

        module.forward = counted

    def observe(self) -> None:
        """Once the cache hooks are on: wrap each counted module's hooked
        forward, so a call the cache answered (the counted forward did not run)
        is seen, and counted as ``cross_branch`` when the module's stateful hook
        keeps one state for every context and last computed in another branch."""
        import functools

        for module, unit in self._modules:
            if not _one_state_for_all_contexts(module):
                continue
            hooked = module.forward
            key = id(module)

            @functools.wraps(hooked)
            def seen(*a: Any, _hooked: Any = hooked, _key: int = key, _unit: str = unit, **k: Any) -> Any:
                before, last = self._computed[_key], self._last_branch.get(_key)
                out = _hooked(*a, **k)
                if self._computed[_key] == before and None not in (last, self.branch) and last != self.branch:
                    self.cross[_unit] += 1
                return out

            module.forward = seen

    def restart(self, engine: Any = None) -> None:
        """A new configuration on the same wrapped blocks (a session entry):
        forget every kept count, as a process of its own would start, and take
        the entry's engine count (cache-dit's, or None)."""
        self.kept = dict.fromkeys(self.counts, 0)
        self.kept_prompts = 0
        self.kept_by_branch = {}
        self.kept_cross = dict.fromkeys(self.counts, 0)
        self.engine = engine
        self.reset()

    def reset(self) -> None:
        """Forget what ran since the last reset (calibration, warm-up, a failed prompt)."""
        for unit in self.counts:
            self.counts[unit] = 0
            self.cross[unit] = 0
        self.by_branch.clear()

    def keep(self) -> None:
        """Add what ran since the last reset to the kept counts (a timed prompt whose image was saved)."""
        for unit, n in self.counts.items():
            self.kept[unit] += n
            self.kept_cross[unit] += self.cross[unit]
        for branch, per in self.by_branch.items():
            mine = self.kept_by_branch.setdefault(branch, dict.fromkeys(self.UNITS, 0))
            for unit, n in per.items():
                mine[unit] += n
        if self.engine is not None:
            try:
                engine_counts = self.engine()
            except Exception:  # noqa: BLE001 - the engine's own count is extra; its failure never ends the batch
                traceback.print_exc()
                engine_counts = {}
            for unit, n in engine_counts.items():
                self.kept[unit] = self.kept.get(unit, 0) + n
        self.kept_prompts += 1
        self.reset()

    def event(self) -> dict[str, Any] | None:
        """The work line, or None without a kept prompt: a config whose every prompt
        failed did no work worth comparing, whatever ran before it failed."""
        if not self.kept_prompts or not self.kept:
            return None
        event: dict[str, Any] = {"event": "work", "counts": dict(self.kept)}
        if self.kept_by_branch:
            event["branches"] = {b: dict(per) for b, per in sorted(self.kept_by_branch.items())}
            event["cross_branch"] = dict(self.kept_cross)
        return event


def _one_state_for_all_contexts(module: Any) -> bool:
    """Whether a stateful diffusers hook on ``module`` keeps one state whatever
    the cache context: it holds no ``StateManager``, the only thing diffusers'
    ``_set_context`` switches (``hooks/hooks.py`` in 0.42.1)."""
    registry = getattr(module, "_diffusers_hook", None)
    if registry is None:
        return False
    from diffusers.hooks.hooks import StateManager

    for hook in getattr(registry, "hooks", {}).values():
        if getattr(hook, "_is_stateful", False) and not any(
            isinstance(v, StateManager) for v in vars(hook).values()
        ):
            return True
    return False


def setup(
    args: argparse.Namespace, plan: dict[str, Any], results: Results, log
) -> tuple[Any, dict[str, Any], dict, WorkCounter]:
    """Load the pipeline once and apply the features. Returns (pipe, call kwargs,
    settings, work counter). Raises UsageError for what cannot run here, anything else for a
    failed setup."""
    import torch

    cuda = torch.cuda.is_available()
    device = args.device if args.device != "auto" else ("cuda" if cuda else "cpu")
    if device == "cuda" and not cuda:
        raise UsageError("--device cuda, but torch sees no CUDA device")
    par = plan["parallel"]
    world_size, rank, local_rank = plan["world_size"], plan["rank"], plan["local_rank"]
    if par is not None and device != "cuda":
        raise UsageError(f"{par['kind']} {NO_CUDA_PARALLEL}")

    threads = args.threads if args.threads is not None else (1 if device == "cpu" else None)
    if threads is not None:
        torch.set_num_threads(threads)
    dtype_name = args.dtype if args.dtype != "auto" else ("bfloat16" if device == "cuda" else "float32")
    dtype = getattr(torch, dtype_name)

    if world_size > 1:
        import torch.distributed as dist

        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl", device_id=torch.device("cuda", local_rank))
    target = torch.device("cuda", local_rank) if device == "cuda" else torch.device("cpu")

    import diffusers
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(args.model, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    denoiser = denoiser_of(pipe)

    applied: dict[str, Any] = {}
    if args.group_offload:
        onload = target
        pipe.enable_group_offload(
            onload_device=onload,
            offload_device=torch.device("cpu"),
            offload_type=args.group_offload,
            num_blocks_per_group=1 if args.group_offload == "block_level" else None,
            use_stream=device == "cuda",
        )
        applied["group_offload"] = {
            "offload_type": args.group_offload,
            "onload_device": str(onload),
            "offload_device": "cpu",
            "num_blocks_per_group": 1 if args.group_offload == "block_level" else None,
            "use_stream": device == "cuda",
        }
    else:
        pipe.to(target)

    # The counter wraps the blocks before any cache (cache-dit's or diffusers'),
    # so a skipped block is not counted. cache-dit goes on before diffusers'
    # parallelism, the order cache-dit asks for (enable_cache applies its own
    # parallelism after the cache hooks).
    # With --compile only the engine's own count is kept (no block wrappers):
    # without cache-dit that counter keeps nothing and writes no work line.
    cache_dit_spec_ = plan.get("cache_dit")
    engine_counts = (lambda: cache_dit_counts(pipe)) if cache_dit_spec_ is not None else None
    counter = WorkCounter(denoiser, blocks=not args.compile, engine=engine_counts)
    if cache_dit_spec_ is not None:
        applied["cache"] = enable_cache_dit(pipe, cache_dit_spec_)

    if par is not None:
        from diffusers import ContextParallelConfig, TensorParallelConfig

        if par["kind"] == "context":
            backend = args.attention_backend or ("_native_cudnn" if par["ring_degree"] > 1 else "native")
            denoiser.set_attention_backend(backend)
            config = ContextParallelConfig(
                ulysses_degree=par["ulysses_degree"],
                ring_degree=par["ring_degree"],
                ulysses_anything=par["ulysses_anything"],
                ring_anything=par["ring_anything"],
            )
            applied["attention_backend"] = backend
        else:
            if args.attention_backend:
                denoiser.set_attention_backend(args.attention_backend)
                applied["attention_backend"] = args.attention_backend
            config = TensorParallelConfig(tp_degree=par["tp_degree"])
        denoiser.enable_parallelism(config=config)
        applied["parallel"] = {"config": type(config).__name__, **config_summary(config)}
    elif args.attention_backend:
        denoiser.set_attention_backend(args.attention_backend)
        applied["attention_backend"] = args.attention_backend

    kw = call_kwargs(pipe, args)

    if plan["cache"] is not None:
        if not hasattr(denoiser, "enable_cache"):
            raise UsageError(f"{type(denoiser).__name__} has no enable_cache (diffusers' CacheMixin)")
        config = make_cache_config(plan["cache"], pipe, plan["mag_ratios"])
        denoiser.enable_cache(config)
        if getattr(config, "calibrate", False):
            t0 = time.perf_counter()
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                generate(pipe, kw, read_prompts(args.prompt_file)[0], args.seed)
            _synchronize(device)
            ratios = parse_calibration(buf.getvalue())
            seconds = time.perf_counter() - t0
            results.write({"event": "calibration", "seconds": round(seconds, 4), "mag_ratios": ratios})
            log(f"MagCache calibrated in {seconds:.2f} seconds: {ratios}")
            denoiser.disable_cache()
            config = make_cache_config(plan["cache"], pipe, ratios)
            denoiser.enable_cache(config)
        applied["cache"] = {"name": args.cache, "config": type(config).__name__, **config_summary(config)}

    if args.compile:
        denoiser.compile_repeated_blocks(fullgraph=True)
        applied["compile"] = {"call": "compile_repeated_blocks", "fullgraph": True}

    settings = {
        "event": "settings",
        "backend": "diffusers",
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "engine": PROTOCOL.engine_record("diffusers", diffusers),
        "pipeline": type(pipe).__name__,
        "denoiser": type(denoiser).__name__,
        "device": str(target),
        "dtype": dtype_name,
        "threads": torch.get_num_threads(),
        "world_size": world_size,
        "call_kwargs": _jsonable(kw),
        "features": applied,
    }
    return pipe, kw, settings, counter


def warmup_and_prompts(
    pipe: Any,
    kw: dict[str, Any],
    prompts: list[str],
    args: argparse.Namespace,
    results: Results,
    log,
    device: str,
    world_size: int,
    writer: bool,
    out_dir: Path,
    counter: WorkCounter | None,
) -> tuple[int, str | None]:
    """The untimed warm-up, then one timed image per prompt into out_dir, each
    recorded in results. Returns (images produced, first error)."""
    if args.warmup > 0:
        t0 = time.perf_counter()
        try:
            for _ in range(args.warmup):
                generate(pipe, kw, prompts[0], args.seed)
            _synchronize(device)
            results.write({"event": "warmup", "seconds": round(time.perf_counter() - t0, 4)})
            log(f"Warm-up ({args.warmup}) in {time.perf_counter() - t0:.2f} seconds")
        except Exception as exc:  # noqa: BLE001 - the batch still runs
            traceback.print_exc()
            results.write({"event": "warmup", "seconds": None, "ok": False, "error": error_line(exc)})
            log(f"Warm-up failed: {error_line(exc)}")

    ok_count = 0
    first_error = None
    for i, prompt in enumerate(prompts):
        name = f"prompt_{i:02d}.png"
        if counter is not None:
            counter.reset()  # this prompt only: not calibration, warm-up or a failed prompt
        _barrier(world_size)
        t0 = time.perf_counter()
        try:
            image = generate(pipe, kw, prompt, args.seed + i)
            _synchronize(device)
            seconds = time.perf_counter() - t0
            if writer:
                save_image(image, out_dir / name)  # whole, on disk, before its ok line
        except Exception as exc:  # noqa: BLE001 - one prompt's failure never ends the batch
            traceback.print_exc()
            first_error = first_error or error_line(exc)
            results.write({"prompt": i, "image": None, "seconds": None, "ok": False, "error": error_line(exc)})
            log(f"  Prompt {i + 1}: failed ({error_line(exc)})")
            continue
        ok_count += 1
        if counter is not None:
            counter.keep()
        results.write({"prompt": i, "image": name, "seconds": round(seconds, 4), "ok": True})
        log(f"  Prompt {i + 1}: {seconds:.4f} seconds")
    return ok_count, first_error


def _end_distributed(world_size: int) -> None:
    """Leave the process group torchrun's ranks joined, if any; never raises
    (the batch's own exit code is what counts)."""
    if world_size <= 1:
        return
    try:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    except Exception:  # noqa: BLE001
        pass


def run(args: argparse.Namespace) -> int:
    try:
        plan = validate(args)
    except UsageError as exc:
        if os.environ.get("RANK", "0") == "0":  # under torchrun: said once, not once per rank
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        prompts = read_prompts(args.prompt_file)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read prompt file {args.prompt_file}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if not prompts:
        print(f"error: prompt file {args.prompt_file} has no prompts", file=sys.stderr)
        return EXIT_USAGE

    writer = plan["rank"] == 0
    out_dir = Path(args.output)
    if writer:
        out_dir.mkdir(parents=True, exist_ok=True)
    results = Results(out_dir / "results.jsonl" if writer else None)

    def log(msg: str) -> None:
        if writer:
            print(msg, flush=True)

    try:
        log(f"diffusers batch (targets diffusers {TARGET_DIFFUSERS_VERSION})")
        log(
            f"  model={args.model} prompts={len(prompts)} steps={args.num_inference_steps} "
            f"size={args.width}x{args.height} cfg_scale={args.cfg_scale} seed={args.seed} warmup={args.warmup}"
        )
        t0 = time.perf_counter()
        try:
            try:
                import torch  # noqa: F401
                import diffusers  # noqa: F401
            except ImportError as exc:
                print(f"error: {error_line(exc)} (install backends/diffusers/requirements.txt)", file=sys.stderr)
                results.write({"event": "load", "seconds": None, "ok": False, "error": error_line(exc)})
                return EXIT_FAILED
            pipe, kw, settings, counter = setup(args, plan, results, log)
            if counter is not None:
                counter.observe()  # after every hook is on
        except UsageError as exc:
            if writer:
                print(f"error: {exc}", file=sys.stderr, flush=True)
            results.write({"event": "load", "seconds": None, "ok": False, "error": f"usage: {exc}"})
            return EXIT_USAGE
        except Exception as exc:  # noqa: BLE001 - any load/setup failure is a setup failure
            traceback.print_exc()
            print(f"error: setup failed: {error_line(exc)}", file=sys.stderr, flush=True)
            results.write({"event": "load", "seconds": None, "ok": False, "error": error_line(exc)})
            return EXIT_FAILED
        load_seconds = time.perf_counter() - t0
        results.write(settings)
        log("settings: " + json.dumps(settings, default=str))
        results.write({"event": "load", "seconds": round(load_seconds, 4)})
        log(f"Model loaded in {load_seconds:.2f} seconds")
        device = "cuda" if settings["device"].startswith("cuda") else "cpu"
        world_size = plan["world_size"]

        ok_count, first_error = warmup_and_prompts(
            pipe, kw, prompts, args, results, log, device, world_size, writer, out_dir, counter
        )

        work = counter.event() if counter is not None else None
        if work is not None:
            results.write(work)  # rank 0's; Results writes nothing on the others
        try:
            for event in memory_events(device, world_size, plan["rank"]):
                results.write(event)
        except Exception:  # noqa: BLE001
            traceback.print_exc()

        # The last line is what a runner shows for a failed backend: name the cause.
        tail = f"; first error: {first_error}" if ok_count == 0 and first_error else ""
        log(f"Done: {ok_count}/{len(prompts)} prompts produced an image{tail}")
        return EXIT_OK if ok_count > 0 else EXIT_FAILED
    finally:
        results.close()
        _end_distributed(plan["world_size"])


# ------------------------------------------------------------------ sessions --
# docs/sessions.md: one load, then per entry its cache on (diffusers' hooks or
# cache-dit), its warm-up and prompts into its folder, its work line, its cache
# off (switch_off).

SESSION_FILE_VERSION = 1
# What an entry may set: the switchable features' flags. Everything else is
# the process's (its command line), and an entry that differs there is refused.
SESSION_ENTRY_KEYS = (
    "cache", "cache_threshold", "cache_interval", "mag_ratios",
    "cache_dit_calibrator", "cache_dit_scm", "cache_dit_scm_policy",
)
SESSION_OWN_KEYS = ("output", "prompt_file", "warmup", "session")


def read_session(path: str) -> list[dict[str, Any]]:
    """The session file's entries, checked; UsageError naming the file and entry."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read session file {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != SESSION_FILE_VERSION:
        raise UsageError(f"session file {path}: expected an object with version {SESSION_FILE_VERSION}")
    entries = data.get("entries")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"session file {path}: 'entries' must be a non-empty list")
    fields = {"name": str, "output": str, "args": list, "warmup": int, "prompt_file": str, "check": bool}
    for i, e in enumerate(entries):
        for key, kind in fields.items():
            if not isinstance(e, dict) or not isinstance(e.get(key), kind):
                raise UsageError(f"session file {path}: entry {i} needs '{key}' ({kind.__name__})")
        if not all(isinstance(a, str) for a in e["args"]):
            raise UsageError(f"session file {path}: entry {i} ('{e['name']}'): args must be strings")
        if e["warmup"] < 0:
            raise UsageError(f"session file {path}: entry {i} ('{e['name']}'): warmup must be >= 0")
    return entries


def entry_namespace(args: argparse.Namespace, entry: dict[str, Any]) -> argparse.Namespace:
    """The process's arguments with the entry's folder, prompts, warm-up and
    switchable flags. An entry flag that is not a switchable one is refused:
    it would need its own process."""
    argv = ["--model", args.model, "--prompt-file", entry["prompt_file"], "--output", entry["output"], *entry["args"]]
    try:
        with contextlib.redirect_stderr(io.StringIO()) as err:
            parsed = build_parser().parse_args(join_text_values(argv))
    except SystemExit:
        raise UsageError(
            f"session entry '{entry['name']}': bad arguments {entry['args']}: {err.getvalue().strip()}"
        ) from None
    defaults = build_parser().parse_args(["--model", args.model, "--prompt-file", "-", "--output", "-"])
    ns = argparse.Namespace(**vars(args))
    for key, value in vars(parsed).items():
        if key in SESSION_ENTRY_KEYS:
            setattr(ns, key, value)
        elif key not in SESSION_OWN_KEYS and key != "model" and value != getattr(defaults, key):
            raise UsageError(
                f"session entry '{entry['name']}': --{key.replace('_', '-')} is not switchable on a loaded "
                "pipeline; it belongs on the process's command line (its own session)"
            )
    ns.output, ns.prompt_file, ns.warmup = entry["output"], entry["prompt_file"], entry["warmup"]
    ns.session = None
    return ns


def switch_off(pipe: Any, denoiser: Any, plan: dict[str, Any]) -> None:
    """Removes what the entry switched on, so that the next entry starts from
    the pipeline as loaded; the one place a session undoes a feature (the
    contamination check exists for when this fails).

    diffusers: ``denoiser.disable_cache()`` removes the cache's hooks
    (models/cache_utils.py:118-160 of 0.42.1), each ``HookRegistry.remove_hook``
    putting back the forward it wrapped (hooks/hooks.py:250-264), which also
    drops the WorkCounter's observer over it.

    cache-dit: ``cache_dit.disable_cache(pipe)`` (cache_dit/caching/
    cache_interface.py:540-553 of the 1.5.3 wheel, one argument: the pipeline,
    a BlockAdapter or a transformer) calls ``CachedAdapter.maybe_release_hooks``
    (caching/cache_adapters/cache_adapter.py:535-647): it puts back the
    pipeline class's ``__call__`` (the per-call cache-context wrapper, :568-582),
    the transformer's ``forward`` (the one that swaps in the cached blocks,
    :547-566, clearing the context manager's contexts), and deletes the
    forward-pattern / context-kwargs attributes it set on the pipeline,
    transformer and blocks (:592-617) and its cached-step stats (:620-627,
    cache_blocks/pattern_utils.py:52), so the next cache-dit entry counts from
    zero. Both calls are harmless on a pipeline without that cache (diffusers
    warns; cache-dit checks each attribute before removing it)."""
    if plan["cache"] is not None:
        denoiser.disable_cache()
    if plan["cache_dit"] is not None:
        import cache_dit

        cache_dit.disable_cache(pipe)


def switch_on(pipe: Any, denoiser: Any, plan: dict[str, Any], ns: argparse.Namespace) -> dict[str, Any] | None:
    """Enables the entry's cache on the loaded pipeline, as setup() does for a
    process of its own; returns its settings entry (None: no cache)."""
    if plan["cache_dit"] is not None:
        return enable_cache_dit(pipe, plan["cache_dit"])
    if plan["cache"] is not None:
        if not hasattr(denoiser, "enable_cache"):
            raise UsageError(f"{type(denoiser).__name__} has no enable_cache (diffusers' CacheMixin)")
        config = make_cache_config(plan["cache"], pipe, plan["mag_ratios"])
        if getattr(config, "calibrate", False):
            raise UsageError("magcache calibration is not run in a session: give --mag-ratios")
        denoiser.enable_cache(config)
        return {"name": ns.cache, "config": type(config).__name__, **config_summary(config)}
    return None


def session_entry(
    pipe: Any, denoiser: Any, kw: dict[str, Any], settings: dict[str, Any], counter: WorkCounter, n: int,
    load_seconds: float, ns: argparse.Namespace, p: dict[str, Any], prompts: list[str], results: Results,
    log, device: str, world_size: int, writer: bool, out_dir: Path,
) -> tuple[bool, bool]:
    """One entry between its switch-on and switch-off: its settings (the load
    only in the first entry), warm-up, prompts and work lines. Returns
    (switched on, some prompt produced an image)."""
    try:
        applied = switch_on(pipe, denoiser, p, ns)
        counter.observe()  # after the entry's hooks are on, as run() does
    except Exception as exc:  # noqa: BLE001 - this entry fails; the caller stops the session
        traceback.print_exc()
        usage = "usage: " if isinstance(exc, UsageError) else ""
        results.write({"event": "load", "seconds": None, "ok": False, "error": usage + error_line(exc)})
        return False, False
    features = dict(settings["features"])
    if applied is not None:
        features["cache"] = applied
    results.write({**settings, "features": features, "call_kwargs": _jsonable(kw)})
    if n == 0:
        results.write({"event": "load", "seconds": round(load_seconds, 4)})
    ok_count, _first = warmup_and_prompts(pipe, kw, prompts, ns, results, log, device, world_size, writer,
                                          out_dir, counter)
    work = counter.event()
    if work is not None:
        results.write(work)
    return True, ok_count > 0


def switched_off(pipe: Any, denoiser: Any, plan: dict[str, Any], name: str) -> bool:
    """switch_off, saying so when it raises: then the later entries would not
    start from the pipeline as loaded, and the session stops."""
    try:
        switch_off(pipe, denoiser, plan)
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        print(f"error: session entry '{name}': switching its cache off failed ({error_line(exc)}); "
              "the remaining entries are not run", file=sys.stderr, flush=True)
        return False
    return True


def run_session(args: argparse.Namespace) -> int:
    """One load, then each entry of the session file in order."""
    try:
        if args.cache is not None:
            raise UsageError("--session takes each configuration's cache from its entry; drop --cache")
        plan = validate(args)
        entries = read_session(args.session)
        spaces = [entry_namespace(args, e) for e in entries]
        plans = [validate(ns) for ns in spaces]
        for e, p in zip(entries, plans):
            # A process of its own puts cache-dit on before diffusers'
            # parallelism and compile (setup); a session applied those at load.
            if p["cache_dit"] is not None and (plan["parallel"] is not None or args.compile):
                raise UsageError(
                    f"session entry '{e['name']}': cache_dit cannot be switched on after "
                    f"{'parallelism' if plan['parallel'] is not None else '--compile'} (cache-dit goes on "
                    "first in a process of its own): run it in its own process"
                )
        prompt_lists = []
        for e in entries:
            try:
                prompt_lists.append(read_prompts(e["prompt_file"]))
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"session entry '{e['name']}': cannot read {e['prompt_file']}: {exc}") from exc
            if not prompt_lists[-1]:
                raise UsageError(f"session entry '{e['name']}': prompt file {e['prompt_file']} has no prompts")
    except UsageError as exc:
        if os.environ.get("RANK", "0") == "0":
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    writer = plan["rank"] == 0

    def log(msg: str) -> None:
        if writer:
            print(msg, flush=True)

    first_dir = Path(entries[0]["output"])
    if writer:
        first_dir.mkdir(parents=True, exist_ok=True)
    results = Results(first_dir / "results.jsonl" if writer else None)
    all_ok = True
    try:
        log(f"diffusers session of {len(entries)} entries (targets diffusers {TARGET_DIFFUSERS_VERSION})")
        t0 = time.perf_counter()
        try:
            # The counter wraps the blocks once, before any entry's cache.
            pipe, kw, settings, counter = setup(args, plan, results, log)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            results.write({"event": "load", "seconds": None, "ok": False, "error": f"usage: {exc}"})
            return EXIT_USAGE
        except Exception as exc:  # noqa: BLE001 - any load/setup failure is a setup failure
            traceback.print_exc()
            print(f"error: setup failed: {error_line(exc)}", file=sys.stderr, flush=True)
            results.write({"event": "load", "seconds": None, "ok": False, "error": error_line(exc)})
            return EXIT_FAILED
        load_seconds = time.perf_counter() - t0
        log(f"Model loaded in {load_seconds:.2f} seconds")
        device = "cuda" if settings["device"].startswith("cuda") else "cpu"
        denoiser = denoiser_of(pipe)
        for n, (entry, ns, p, prompts) in enumerate(zip(entries, spaces, plans, prompt_lists)):
            out_dir = Path(entry["output"])
            if n > 0:
                results.close()
                if writer:
                    out_dir.mkdir(parents=True, exist_ok=True)
                results = Results(out_dir / "results.jsonl" if writer else None)
            log(f"Session entry {n + 1}/{len(entries)}: {entry['name']}{' (check)' if entry['check'] else ''}")
            # This entry's counts only, as its own process would count them.
            counter.restart(engine=(lambda: cache_dit_counts(pipe)) if p["cache_dit"] is not None else None)
            switched = False
            try:
                switched, ok = session_entry(pipe, denoiser, kw, settings, counter, n, load_seconds, ns, p,
                                             prompts, results, log, device, plan["world_size"], writer, out_dir)
            finally:
                # Also after a failed switch-on (what was half switched on), or an interrupt.
                clean = switched_off(pipe, denoiser, p, entry["name"])
            results.write({"event": "done"})
            all_ok = all_ok and ok
            if not switched:
                # A switch-on that raised part-way may have attached hooks
                # that switch_off cannot see: diffusers sets _cache_config
                # only once every hook is on, and disable_cache() does nothing
                # without it (models/cache_utils.py:116, 142-144 of 0.42.1). The later
                # entries would not start from the pipeline as loaded.
                print(f"error: session entry '{entry['name']}': switching its cache on failed; "
                      "the remaining entries are not run", file=sys.stderr, flush=True)
                return EXIT_FAILED
            if not clean:
                return EXIT_FAILED
        return EXIT_OK if all_ok else EXIT_FAILED
    finally:
        results.close()
        _end_distributed(plan["world_size"])


def parse_args(argv: list[str]) -> argparse.Namespace:
    """argparse on the joined argv; exits 2 (argparse's own exit) on bad usage,
    with the reason for another backend's flag."""
    joined = join_text_values(argv)
    problem = foreign_flag(joined)
    if problem is not None:
        build_parser().error(problem)
    return build_parser().parse_args(joined)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def torchrun_argv(args: argparse.Namespace, raw: list[str], env: dict[str, str]) -> list[str] | None:
    """The command that re-launches this script under torchrun, one process per
    device, when a parallel degree > 1 asks for it and we are not under torchrun
    yet; None otherwise (also when the flags are unusable: validate() says why)."""
    if args.no_torchrun or "WORLD_SIZE" in env:
        return None
    try:
        plan = parallel_plan(args)
    except UsageError:
        return None
    if plan is None:
        return None
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc_per_node", str(plan["world_size"]), str(Path(__file__).resolve()), *raw,
    ]


# ---------------------------------------------------------------------- probe




class _ProbeParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def denoiser_class(model: str) -> tuple[Any, str | None]:
    """The pipeline's denoiser class from its model_index.json (a local folder,
    or the Hugging Face cache / hub: a small JSON file, no weights), and why
    not when it cannot be had."""
    import diffusers
    from diffusers import DiffusionPipeline

    try:
        index = DiffusionPipeline.load_config(model)
    except Exception as exc:  # noqa: BLE001 - offline, unknown id, no model_index.json
        return None, f"model_index.json of {model} is not available here ({error_line(exc)})"
    for key in ("transformer", "unet"):
        entry = index.get(key)
        if isinstance(entry, (list, tuple)) and len(entry) == 2 and entry[1]:
            cls = getattr(diffusers, str(entry[1]), None)
            if cls is None:
                return None, f"diffusers {diffusers.__version__} has no {entry[1]} (the {key} of {model})"
            return cls, None
    return None, f"{model}'s pipeline has no transformer or unet"


def pipeline_class_name(model: str) -> str | None:
    """The pipeline class named in the model's model_index.json, None when unreadable."""
    from diffusers import DiffusionPipeline

    try:
        name = DiffusionPipeline.load_config(model).get("_class_name")
    except Exception:  # noqa: BLE001 - denoiser_class says why in the notes
        return None
    return str(name) if name else None


def probe_cache_dit(args: argparse.Namespace, pipeline: str | None) -> str | None:
    """Why --cache cache_dit cannot run here (the package missing, the pipeline
    family without a cache-dit block adapter, a mask it refuses), or None."""
    try:
        cache_dit = import_cache_dit()
        if pipeline is not None:
            why_not = cache_dit_pipeline_support(cache_dit, pipeline)
            if why_not is not None:
                return why_not
        if args.cache_dit_scm is not None:
            scm_mask(cache_dit, args.cache_dit_scm, args.num_inference_steps)
    except UsageError as exc:
        return str(exc)
    return None


def probe_feature(
    base: list[str], fragment: list[str], denoiser: Any, cuda: bool, pipeline: str | None = None
) -> dict[str, Any]:
    """One feature: this script's flags and checks, then what diffusers' own
    classes say about the model's denoiser: CacheMixin (enable_cache), the
    cache's config class, _cp_plan / _tp_plan (enable_parallelism),
    _repeated_blocks (compile_repeated_blocks)."""
    import diffusers
    from diffusers.models.cache_utils import CacheMixin

    version = diffusers.__version__

    def no(reason: str) -> dict[str, Any]:
        return {"supported": False, "reason": f"diffusers {version}: {reason}"}

    try:
        joined = join_text_values(base + list(fragment))
        problem = foreign_flag(joined)
        if problem is not None:
            return no(problem)
        parser = build_parser()
        parser.__class__ = _ProbeParser
        args = parser.parse_args(joined)
        plan = parallel_plan(args)
        validate(args, env={"WORLD_SIZE": str(plan["world_size"])} if plan else {})
    except UsageError as exc:
        return no(str(exc))
    name = getattr(denoiser, "__name__", "the denoiser")
    if args.cache == CACHE_DIT:
        why_not = probe_cache_dit(args, pipeline)
        if why_not is not None:
            return no(why_not)
    elif args.cache is not None:
        config_cls = CACHES[args.cache][0]
        if getattr(diffusers, config_cls, None) is None:
            return no(f"no {config_cls}")
        if denoiser is not None and not issubclass(denoiser, CacheMixin):
            return no(f"{name} is not a CacheMixin: no enable_cache")
    if plan is not None:
        if not cuda or args.device == "cpu":
            return no(f"{plan['kind']} {NO_CUDA_PARALLEL}")
        attr = "_tp_plan" if args.tp_degree > 1 else "_cp_plan"
        if denoiser is not None and getattr(denoiser, attr, None) is None:
            return no(f"{name} has no {attr}: enable_parallelism cannot split it")
    if args.compile and denoiser is not None and not getattr(denoiser, "_repeated_blocks", None):
        return no(f"{name} declares no _repeated_blocks for compile_repeated_blocks")
    if args.group_offload and (not cuda or args.device == "cpu"):
        return no("group offload with onload and offload both on the CPU moves nothing (no CUDA device here)")
    return {"supported": True}


def probe_main(request_path: str, output_path: str) -> int:
    """Answer a probe request (backends/protocol.py) for the installed diffusers."""
    try:
        request = PROTOCOL.read_probe_request(request_path)
        settings = request["settings"]
        base = ["--model", request["model"], "--prompt-file", "-", "--output", "."]
        for key, flag in (("steps", "--num-inference-steps"), ("height", "--height"), ("width", "--width"),
                          ("cfg_scale", "--cfg-scale")):
            if key in settings:
                value = settings[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise PROTOCOL.BadProbeRequest(f"settings.{key} must be a number, got {value!r}")
                base += [flag, str(value)]
    except PROTOCOL.BadProbeRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return PROTOCOL.PROBE_BAD_REQUEST
    try:
        import diffusers
        import torch
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install
        return PROTOCOL.not_importable("diffusers", exc)
    identity = PROTOCOL.engine_identity("diffusers", diffusers)
    identity["version"] = identity.get("version") or diffusers.__version__
    denoiser, why_not = denoiser_class(request["model"])
    notes = [f"torch {torch.__version__}, CUDA {'available' if torch.cuda.is_available() else 'not available'}"]
    if why_not:
        notes.append(why_not + "; per-model checks skipped")
    pipeline = pipeline_class_name(request["model"]) if denoiser is not None else None
    features = {name: probe_feature(base, fragment, denoiser, bool(torch.cuda.is_available()), pipeline)
                for name, fragment in request["features"].items()}
    answer = PROTOCOL.probe_answer("diffusers", identity, request["model"], features, notes)
    return PROTOCOL.write_probe_answer(output_path, answer)


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    probed = PROTOCOL.probe_if_asked(raw, probe_main)
    if probed is not None:
        return probed
    args = parse_args(raw)
    relaunch = torchrun_argv(args, raw, dict(os.environ))
    if relaunch is not None:
        if args.device == "cpu" or not _cuda_available():
            # Said here, once, with exit 2 -- not by every rank under torchrun (which exits 1).
            kind = parallel_plan(args)["kind"]  # not None: torchrun_argv checked
            print(f"error: {kind} {NO_CUDA_PARALLEL}", file=sys.stderr)
            return EXIT_USAGE
        # Same process (exec): compat's timeout and interrupt reach torchrun and its workers.
        print("launching: " + " ".join(relaunch), flush=True)
        sys.stderr.flush()
        os.execv(relaunch[0], relaunch)
    return run_session(args) if args.session else run(args)


if __name__ == "__main__":
    sys.exit(main())
