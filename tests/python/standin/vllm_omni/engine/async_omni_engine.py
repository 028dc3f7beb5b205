"""STAND-IN for vllm_omni.engine.async_omni_engine: what Omni(**kwargs) does with
its keyword arguments, for a single-stage diffusion model such as Qwen-Image.

Source: vLLM-Omni ``main`` bd4f9acfd30456cb8fa98af53d32f7adc34e03a0 (file:line).

``Omni(model, **kwargs)`` (entrypoints/omni_base.py:161-209) pops a few keys and
hands the rest to ``AsyncOmniEngine(model=..., **kwargs)``
(engine/async_omni_engine.py:108-120). A model without an entry in the pipeline
registry (config/pipeline_registry.py: "Single-stage diffusion models continue
to use the _create_default_diffusion_stage_cfg fallback") gets its stage config
from ``_create_default_diffusion_stage_cfg`` (async_omni_engine.py:932-1128),
which reads a fixed set of keys. ``ACCEPTED_KEYS`` is every key read on that
path (collected from the real source with an AST scan of those functions).

The real code **silently ignores** any other keyword on this path: a typo such
as ``enable_cpu_offloading=True`` just does nothing. The stand-in is stricter on
purpose and raises what the newest upstream code raises for a field with no
owner -- ``ValueError("Unknown diffusion config field(s) for stage 0: 'x'")``
(``validate_omni_diffusion_kwargs`` in vllm_omni/diffusion/data.py, a version
newer than bd4f9acf found in the source index; RFC #5160 / PR #5172) -- so a
test catches a keyword the engine would drop. The two hard errors the real code
already has are kept as they are: ``log_requests`` -> TypeError
(omni_base.py:184-185) and ``stage_configs_path``/``stage_configs`` -> ValueError
(async_omni_engine.py:1166-1168).

``STAGE_PATH`` ("default" or "registry", env VLLM_OMNI_STANDIN_STAGE_PATH)
picks which real path is emulated for the parallel settings:

* default (Qwen-Image): ``parallel_config`` (object or dict) is used when given,
  else a DiffusionParallelConfig is built from the plain keywords
  (async_omni_engine.py:964-1005);
* registry (a model resolved through the pipeline registry or a deploy YAML):
  ``parallel_config`` is an ``OrchestratorArgs`` field (engine/arg_utils.py:515),
  so ``build_stage_runtime_overrides`` drops it (config/stage_config.py:63-76),
  while the plain keywords are deploy-schema fields (stage_config.py:334-346)
  that ``_apply_diffusion_parallel_runtime_overrides`` nests into the stage's
  parallel_config (stage_config.py:92-124). This is vllm-omni issue #6312 /
  PR #5804: the object form silently runs on one GPU.
"""

from __future__ import annotations

import os
from typing import Any

from vllm_omni.diffusion.data import PARALLEL_FIELDS, DiffusionParallelConfig

# omni_base.py:172-196 (popped or read by OmniBase.__init__)
OMNI_BASE_KEYS = frozenset(
    {
        "stage_init_timeout",
        "init_timeout",
        "log_stats",
        "enable_ar_profiler",
        "async_chunk",
        "output_modalities",
        "diffusion_batch_size",
        "tts_batch_max_items",
        "engine_args",  # accepted with a warning (omni_base.py:164-169)
    }
)
# async_omni_engine.py:108-165 (named parameters and kwargs read in __init__)
ENGINE_INIT_KEYS = frozenset(
    {
        "single_stage_mode",
        "transfer_emitter",
        "tokenizer",
        "trust_remote_code",
        "enable_orch_monitor",
        "stage_id",
        "omni_master_address",
        "omni_master_port",
        "omni_dp_size_local",
        "omni_lb_policy",
        "omni_heartbeat_timeout",
        "deploy_config",
    }
)
# async_omni_engine.py:1159-1284 (_resolve_stage_configs)
RESOLVE_KEYS = frozenset(
    {
        "deploy_config",
        "strategy_config",
        "stage_overrides",
        "enable_sleep_mode",
        "additional_config",
        "lora_path",
        "lora_scale",
        "static_lora_scale",
        "lora_backend",
        "diffusion_attention_config",
        "diffusion_attention_backend",
        "diffusion_quantization_config",
        "quantization_config",
        "enable_diffusion_pipeline_profiler",
        "enable_ar_profiler",
        "quantization",
        "diffusion_kv_cache_dtype",
        "diffusion_kv_cache_skip_steps",
        "diffusion_kv_cache_skip_layers",
    }
)
# async_omni_engine.py:932-1128 (_create_default_diffusion_stage_cfg)
DEFAULT_STAGE_KEYS = frozenset(
    {
        "additional_config", "allgather_degree", "auxiliary_text_encoder", "boundary_ratio",
        "cache_backend", "cache_config", "cfg_parallel_size", "custom_pipeline_args",
        "data_parallel_size", "default_llama_model_id", "default_sampling_params",
        "diffusers_call_kwargs", "diffusers_load_kwargs", "diffusion_attention_backend",
        "diffusion_attention_config", "diffusion_compile_dynamic", "diffusion_compile_granularity",
        "diffusion_kv_cache_dtype", "diffusion_kv_cache_skip_layers", "diffusion_kv_cache_skip_steps",
        "diffusion_load_format", "diffusion_streaming_output", "distributed_executor_backend",
        "dlo_resident_layers", "dlo_use_allgather", "dtype", "enable_ar_profiler",
        "enable_cache_dit_summary", "enable_cpu_offload", "enable_diffusion_pipeline_profiler",
        "enable_distributed_layerwise_offload", "enable_expert_parallel", "enable_layerwise_offload",
        "enable_multithread_weight_load", "enable_prompt_embed_cache", "enable_sleep_mode",
        "enforce_eager", "engine_backend", "fa_deterministic", "flow_shift", "force_cutlass_fp8",
        "hsdp_replicate_size", "hsdp_shard_size", "lora_backend", "lora_path", "lora_scale",
        "max_num_seqs", "model_class_name", "model_config", "num_gpus", "num_weight_load_threads",
        "parallel_config", "pipeline_parallel_size", "profiler_config", "prompt_embed_cache_size",
        "quantization", "quantization_config", "request_batch_max_wait_ms", "ring_degree",
        "sequence_parallel_size", "step_execution", "task_type", "tensor_parallel_size",
        "text_encoder_tp_size", "trust_remote_code", "ulysses_degree", "ulysses_mode", "use_hsdp",
        "vae_parallel_mode", "vae_patch_parallel_size", "vae_use_slicing", "vae_use_tiling",
        "worker_extension_cls",
    }
)
ACCEPTED_KEYS = OMNI_BASE_KEYS | ENGINE_INIT_KEYS | RESOLVE_KEYS | DEFAULT_STAGE_KEYS

# Keywords that are only read since a given release (the stand-in's
# __version__, env VLLM_OMNI_STANDIN_VERSION): fa_deterministic since #5887
# (2026-08-07, async_omni_engine.py:1058), i.e. 0.27.
KEY_SINCE = {"fa_deterministic": (0, 27)}

# Engine args the tests look at (async_omni_engine.py:1027-1085).
REPORTED_ENGINE_ARGS = (
    "cache_backend",
    "cache_config",
    "enable_cpu_offload",
    "enable_layerwise_offload",
    "enforce_eager",
    "fa_deterministic",
    "quantization",
)


def _version_tuple() -> tuple[int, int]:
    import vllm_omni

    parts = str(vllm_omni.__version__).split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (999, 0)


def stage_path() -> str:
    return os.environ.get("VLLM_OMNI_STANDIN_STAGE_PATH", "default")


def check_keys(kwargs: dict[str, Any]) -> None:
    if "log_requests" in kwargs:
        # omni_base.py:184-185
        raise TypeError("`log_requests` has been removed in Omni/AsyncOmni. Use `log_stats`.")
    for legacy_arg in ("stage_configs_path", "stage_configs"):
        if legacy_arg in kwargs:
            # async_omni_engine.py:1166-1168
            raise ValueError(f"`{legacy_arg}` is no longer supported; use `deploy_config` instead.")
    version = _version_tuple()
    accepted = {k for k in ACCEPTED_KEYS if version >= KEY_SINCE.get(k, (0, 0))}
    unknown = set(kwargs) - accepted
    if unknown:
        names = ", ".join(repr(name) for name in sorted(unknown))
        raise ValueError(f"Unknown diffusion config field(s) for stage 0: {names}")


def effective_parallel_config(kwargs: dict[str, Any]) -> DiffusionParallelConfig:
    """The DiffusionParallelConfig the diffusion workers would get."""
    if stage_path() == "registry":
        # stage_config.py:63-76 drops parallel_config (arg_utils.py:515);
        # stage_config.py:92-124 nests the keyword fields.
        overrides = {k: v for k, v in kwargs.items() if k in PARALLEL_FIELDS and v is not None}
        if any(k in overrides for k in ("ulysses_degree", "ring_degree", "allgather_degree")):
            overrides.pop("sequence_parallel_size", None)
        return DiffusionParallelConfig(**overrides)
    # async_omni_engine.py:964-1005
    parallel_config = kwargs.get("parallel_config")
    if isinstance(parallel_config, dict):
        parallel_config = DiffusionParallelConfig.from_dict(parallel_config)
    if parallel_config is None:
        ulysses_degree = kwargs.get("ulysses_degree") or 1
        ring_degree = kwargs.get("ring_degree") or 1
        allgather_degree = kwargs.get("allgather_degree") or 1
        sequence_parallel_size = kwargs.get("sequence_parallel_size")
        if sequence_parallel_size is None:
            sequence_parallel_size = allgather_degree if allgather_degree > 1 else ulysses_degree * ring_degree
        parallel_config = DiffusionParallelConfig(
            pipeline_parallel_size=kwargs.get("pipeline_parallel_size") or 1,
            data_parallel_size=kwargs.get("data_parallel_size"),
            tensor_parallel_size=kwargs.get("tensor_parallel_size") or 1,
            enable_expert_parallel=kwargs.get("enable_expert_parallel") or False,
            sequence_parallel_size=sequence_parallel_size,
            ulysses_degree=ulysses_degree,
            ring_degree=ring_degree,
            allgather_degree=allgather_degree,
            ulysses_mode=kwargs.get("ulysses_mode") or "strict",
            cfg_parallel_size=kwargs.get("cfg_parallel_size") or 1,
            vae_patch_parallel_size=kwargs.get("vae_patch_parallel_size") or 1,
            vae_parallel_mode=kwargs.get("vae_parallel_mode") or "tile",
            text_encoder_tp_size=kwargs.get("text_encoder_tp_size") or 1,
            use_hsdp=kwargs.get("use_hsdp", False),
            hsdp_shard_size=kwargs.get("hsdp_shard_size", -1),
            hsdp_replicate_size=kwargs.get("hsdp_replicate_size", 1),
        )
    return parallel_config


def default_engine_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The engine args the tests look at, with the real defaults
    (async_omni_engine.py:1041-1076)."""
    return {
        "cache_backend": kwargs.get("cache_backend", "none"),
        "cache_config": kwargs.get("cache_config"),
        "enable_cpu_offload": kwargs.get("enable_cpu_offload", False),
        "enable_layerwise_offload": kwargs.get("enable_layerwise_offload", False),
        "enforce_eager": False if kwargs.get("enforce_eager") is None else kwargs.get("enforce_eager"),
        "fa_deterministic": bool(kwargs.get("fa_deterministic", False)),
        "quantization": kwargs.get("quantization", None),
    }
