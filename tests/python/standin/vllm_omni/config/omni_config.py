"""STAND-IN for vllm_omni.config.omni_config: the ingress check of a diffusion
stage's keyword arguments (vllm-omni 0.30.0, config/omni_config.py:1370-1414,
normalize_and_validate_diffusion_engine_ingress_kwargs): legacy names moved
onto their canonical fields (diffusion/data.py:86-95), then every key without
an owner is a ValueError("Unknown diffusion config field(s) for stage N: ...")
(diffusion/data.py:188-199). The owners here are the keys the stand-in engine
reads (engine/async_omni_engine.py's ACCEPTED_KEYS, version-gated as there)."""

from __future__ import annotations

from typing import Any, Mapping

from vllm_omni.engine.async_omni_engine import check_keys

# diffusion/data.py:86-95 of the 0.30.0 wheel (legacy -> canonical)
ALIASES = {
    "static_lora_scale": "lora_scale",
    "diffusion_quantization_config": "quantization_config",
    "max_batch_size": "max_num_seqs",
    "kv_cache_skip_steps": "diffusion_kv_cache_skip_steps",
    "kv_cache_skip_layers": "diffusion_kv_cache_skip_layers",
}


def normalize_and_validate_diffusion_engine_ingress_kwargs(kwargs: Mapping[str, Any], *, stage_id: int | str) -> dict[str, Any]:
    normalized = dict(kwargs)
    for legacy, canonical in ALIASES.items():
        if legacy in normalized:
            normalized[canonical] = normalized.pop(legacy)
    check_keys(normalized)
    return normalized
