"""STAND-IN xfuser.config.args: the runner's argument parser and xFuserArgs.

Rebuilt from the released wheel xfuser-0.7.0-py3-none-any.whl (xfuser 0.7.0,
PyPI); file:line below are of that wheel. tests/python/test_released_engines.py
compares this parser with the wheel's real one, action by action, so the two
cannot drift apart unnoticed.

* FlexibleArgumentParser (args.py:38-70): `--a-b` is read as `--a_b` (and
  `--no-a-b` for a BooleanOptionalAction's `--no-a_b`).
* xFuserArgs.add_runner_args (args.py:803-1354): every flag of the runner's
  parser with the real name, type, default, choices and action (93 of them).
  `--cache_method {teacache,fbcache,dbcache}` (args.py:1337-1343; `--cache_config`, 1344-1353) is the step
  cache; `--use_teacache` / `--use_fbcache` (args.py:1327-1336) are its
  deprecated aliases, resolved in __post_init__ (args.py:324-338).
  `--gemm_quantization` (args.py:145-155) is the GEMM precision; the real type
  parses it into a GemmQuantizationSpec (config/gemm.py:202-205), here a
  lower-cased string; `--use_fp8_gemms` (args.py:1029-1033) is its deprecated
  spelling (args.py:360-413).
* xFuserArgs.from_runner_args (args.py:1365-1369): keeps the dict's keys that
  are dataclass fields; __post_init__ resolves the aliases above.
* xFuserArgs.create_config (args.py:1438-1530): initialises torch.distributed
  if needed and checks, as ParallelConfig.__post_init__ does
  (config/config.py:256-267), that the product of the parallel degrees equals
  the world size.
"""

import argparse
import dataclasses
import sys
import warnings
from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

import torch
import torch.distributed

VERSION = "0.7.0"
WHEEL = "xfuser-0.7.0-py3-none-any.whl"


class FlexibleArgumentParser(argparse.ArgumentParser):
    """ArgumentParser that allows both underscore and dash in names."""

    def _normalize_name(self, name: str) -> str:
        underscored = "--" + name[2:].replace("-", "_")
        if underscored in self._option_string_actions:
            return underscored
        if name.startswith("--no-"):
            negated = "--no-" + name[len("--no-"):].replace("-", "_")
            if negated in self._option_string_actions:
                return negated
        return underscored

    def parse_args(self, args=None, namespace=None):
        if args is None:
            args = sys.argv[1:]
        out = []
        for arg in args:
            if arg.startswith("--"):
                if "=" in arg:
                    key, value = arg.split("=", 1)
                    out.append(f"{self._normalize_name(key)}={value}")
                else:
                    out.append(self._normalize_name(arg))
            else:
                out.append(arg)
        return super().parse_args(out, namespace)


def nullable_str(val: str):
    if not val or val == "None":
        return None
    return val


_GEMM_FORMATS = ("none", "fp8", "fp4", "fp6", "int8", "low=fp4,high=fp8", "low=fp4,high=fp6")


def parse_gemm_quantization(value: str) -> str:
    """config/gemm.py:202-205 (GemmQuantizationSpec.parse): one of the formats."""
    text = value.strip().lower()
    if text not in _GEMM_FORMATS:
        raise ValueError(f"unknown GEMM quantization {value!r}")
    return text


parse_gemm_quantization.__name__ = "parse_gemm_quantization"

_BOOL = argparse.BooleanOptionalAction

# (flag, add_argument keywords) in the order of args.py:803-1354 (generated from
# the 0.7.0 wheel's parser; the help texts are left out).
RUNNER_FLAGS = [
    ("--model", dict(type=str, default=None, required=True)),
    ("--use_parallel_vae", dict(action="store_true")),
    ("--use_torch_compile", dict(action="store_true")),
    ("--attention_backend", dict(type=str, default=None)),
    ("--cross_attention_backend", dict(type=str, default=None)),
    ("--use_cfg_parallel", dict(action="store_true")),
    ("--data_parallel_degree", dict(type=int, default=1)),
    ("--ulysses_degree", dict(type=int, default=1)),
    ("--ring_degree", dict(type=int, default=1)),
    ("--pipefusion_parallel_degree", dict(type=int, default=1)),
    ("--tensor_parallel_degree", dict(type=int, default=1)),
    ("--text_encoder_tp_degree", dict(type=int, default=1)),
    ("--fully_shard_degree", dict(type=int, default=1)),
    ("--no_reshard_after_forward", dict(action="store_false", dest='reshard_after_forward')),
    ("--memory_efficient_sharding", dict(action="store_true")),
    ("--memory_efficient_replicated_load", dict(action="store_true")),
    ("--height", dict(type=int, default=None)),
    ("--width", dict(type=int, default=None)),
    ("--num_frames", dict(type=int, default=None)),
    ("--prompt", dict(type=str, nargs='*', default=None)),
    ("--negative_prompt", dict(type=str, nargs='*', default=None)),
    ("--num_inference_steps", dict(type=int, default=None)),
    ("--max_sequence_length", dict(type=int, default=None)),
    ("--seed", dict(type=int, default=42)),
    ("--guidance_scale", dict(type=float, default=None)),
    ("--guidance_scale_2", dict(type=float, default=None)),
    ("--flow_shift", dict(type=float, default=None)),
    ("--enable_sequential_cpu_offload", dict(action="store_true")),
    ("--enable_model_cpu_offload", dict(action="store_true")),
    ("--enable_group_cpu_offload", dict(action="store_true")),
    ("--group_offload_low_cpu_mem", dict(action="store_true")),
    ("--enable_tiling", dict(action="store_true")),
    ("--enable_slicing", dict(action="store_true")),
    ("--vae_tile_size_height", dict(type=int, default=None)),
    ("--vae_tile_size_width", dict(type=int, default=None)),
    ("--vae_tile_overlap_height", dict(type=int, default=None)),
    ("--vae_tile_overlap_width", dict(type=int, default=None)),
    ("--gemm_quantization", dict(type=parse_gemm_quantization, default=None)),
    ("--gemm_config", dict(type=nullable_str, default=None)),
    ("--use_int8_gemms", dict(action="store_true")),
    ("--use_fp8_gemms", dict(action="store_true")),
    ("--use_fp8_text_encoder", dict(action="store_true")),
    ("--use_fp4_gemms", dict(action="store_true")),
    ("--fp8_precision_override_prefix_patterns", dict(type=nullable_str, default=None)),
    ("--fp8_precision_override_suffix_patterns", dict(type=nullable_str, default=None)),
    ("--use_fp8_comms", dict(action="store_true")),
    ("--fp8_comms_scale", dict(type=float, default=None)),
    ("--fp8_comms_safety_factor", dict(type=float, default=0.85)),
    ("--num_iterations", dict(type=int, default=1)),
    ("--determinism_check", dict(type=int, default=0)),
    ("--determinism_check_report_ranks", dict(type=str, default='last')),
    ("--profile", dict(action="store_true")),
    ("--profile_wait", dict(type=int, default=2)),
    ("--profile_warmup", dict(type=int, default=2)),
    ("--profile_active", dict(type=int, default=1)),
    ("--profile_capture_phase", dict(action="store_true")),
    ("--profile_with_stack", dict(action="store_true")),
    ("--warmup_calls", dict(type=int, default=0)),
    ("--output_directory", dict(type=str, default='.')),
    ("--input_images", dict(nargs='+', default=[])),
    ("--resize_input_images", dict(action="store_true")),
    ("--task", dict(default=None)),
    ("--batch_size", dict(type=int, default=None)),
    ("--dataset_path", dict(default=None)),
    ("--use_hybrid_attn_schedule", dict(action="store_true")),
    ("--hybrid_attn_low_precision_backend", dict(type=nullable_str, default=None)),
    ("--hybrid_attn_high_precision_backend", dict(type=nullable_str, default=None)),
    ("--num_hybrid_attn_high_precision_steps", dict(type=int, default=None)),
    ("--hybrid_attn_schedule", dict(type=str, default=None)),
    ("--use_hybrid_gemm_schedule", dict(action="store_true")),
    ("--num_hybrid_gemm_high_precision_steps", dict(type=int, default=None)),
    ("--use_vae_channels_last_format", dict(action="store_true")),
    ("--use_ssta_sparse_text_to_image", dict(action="store_true")),
    ("--spargeattn_simthreshold", dict(type=float, default=0.3)),
    ("--spargeattn_cdfthreshold", dict(type=float, default=0.92)),
    ("--spargeattn_reorder_sequence", dict(action=_BOOL, default=True)),
    ("--use_spargeattn_static_block_mask", dict(action=_BOOL, default=True)),
    ("--use_spargeattn_head_balance", dict(action="store_true")),
    ("--vsa_block_size", dict(type=int, default=128)),
    ("--vsa_top_k", dict(type=int, default=1)),
    ("--vsa_top_k_ratio", dict(type=float, default=0.0)),
    ("--vsa_drop_rates", dict(type=float, nargs='+', default=None)),
    ("--vsa_prob_threshold", dict(type=float, default=0.9)),
    ("--vsa_reorder_sequence", dict(action=_BOOL, default=True)),
    ("--use_vsa_static_block_mask", dict(action=_BOOL, default=True)),
    ("--use_vsa_first_frame_mask", dict(action=_BOOL, default=True)),
    ("--vsa_collect_density", dict(action="store_true")),
    ("--distilled_transformer_path", dict(type=nullable_str, default=None)),
    ("--distilled_transformer_2_path", dict(type=nullable_str, default=None)),
    ("--use_teacache", dict(action="store_true")),
    ("--use_fbcache", dict(action="store_true")),
    ("--cache_method", dict(type=str, default=None, choices=['teacache', 'fbcache', 'dbcache'])),
    ("--cache_config", dict(type=str, default=None)),
]


@dataclass
class xFuserArgs:
    """The dataclass fields of args.py:164-310, same names, types and defaults."""

    model: str = ''
    download_dir: Optional[str] = None
    trust_remote_code: bool = False
    warmup_steps: int = 1
    use_parallel_vae: bool = False
    use_torch_compile: bool = False
    use_onediff: bool = False
    data_parallel_degree: int = 1
    use_cfg_parallel: bool = False
    shard_dit: Optional[bool] = False
    ulysses_degree: Optional[int] = 1
    ring_degree: Optional[int] = 1
    tensor_parallel_degree: int = 1
    text_encoder_tp_degree: int = 1
    split_scheme: Optional[str] = 'row'
    use_ray: bool = False
    ray_world_size: int = 1
    vae_parallel_size: int = 0
    dit_parallel_size: int = 0
    pipefusion_parallel_degree: int = 1
    num_pipeline_patch: Optional[int] = None
    attn_layer_num_for_pp: Optional[List[int]] = None
    height: int = 1024
    width: int = 1024
    num_frames: int = 49
    num_inference_steps: int = 20
    max_sequence_length: int = 256
    img_file_path: Optional[str] = None
    prompt: Union[str, List[str]] = ''
    negative_prompt: Union[str, List[str]] = ''
    no_use_resolution_binning: bool = False
    seed: int = 42
    output_type: str = 'pil'
    guidance_scale: float = 3.5
    guidance_scale_2: Optional[float] = None
    flow_shift: Optional[float] = None
    enable_model_cpu_offload: bool = False
    enable_sequential_cpu_offload: bool = False
    enable_group_cpu_offload: bool = False
    group_offload_low_cpu_mem: bool = False
    enable_tiling: bool = False
    enable_slicing: bool = False
    vae_tile_size_height: Optional[int] = None
    vae_tile_size_width: Optional[int] = None
    vae_tile_overlap_height: Optional[int] = None
    vae_tile_overlap_width: Optional[int] = None
    use_fast_attn: bool = False
    n_calib: int = 8
    threshold: float = 0.5
    window_size: int = 64
    coco_path: Optional[str] = None
    use_cache: bool = False
    use_teacache: bool = False
    use_fbcache: bool = False
    cache_method: Optional[str] = None
    cache_config: Optional[str] = None
    use_fp8_t5_encoder: bool = False
    shard_t5_encoder: bool = False
    attention_backend: Optional[str] = None
    cross_attention_backend: Optional[str] = None
    gemm_quantization: Union[str, None] = None
    gemm_config: Optional[str] = None
    use_int8_gemms: bool = False
    use_fp8_gemms: bool = False
    use_fp8_text_encoder: bool = False
    use_fp4_gemms: bool = False
    use_fp6_gemms: bool = False
    fp8_precision_override_prefix_patterns: Optional[str] = None
    fp8_precision_override_suffix_patterns: Optional[str] = None
    use_fp8_comms: bool = False
    fp8_comms_scale: Optional[float] = None
    fp8_comms_safety_factor: float = 0.85
    gemm_high_precision_targets: str = 'model'
    gemm_high_precision_module_patterns: Optional[str] = None
    gemm_high_precision_prefix_patterns: Optional[str] = None
    gemm_high_precision_suffix_patterns: Optional[str] = None
    num_iterations: int = 1
    determinism_check: int = 0
    determinism_check_report_ranks: str | frozenset[int] = 'all'
    profile: bool = False
    profile_capture_phase: bool = False
    profile_with_stack: bool = False
    profile_wait: int = 2
    profile_warmup: int = 2
    profile_active: int = 1
    warmup_calls: int = 0
    output_directory: str = '.'
    input_images: Optional[List[str]] = None
    resize_input_images: bool = False
    task: Optional[str] = None
    batch_size: Optional[int] = None
    dataset_path: Optional[str] = None
    use_fsdp: bool = False
    fully_shard_degree: int = 1
    reshard_after_forward: bool = True
    memory_efficient_sharding: bool = False
    memory_efficient_replicated_load: bool = False
    use_vae_channels_last_format: bool = False
    use_hybrid_attn_schedule: bool = False
    hybrid_attn_low_precision_backend: Optional[str] = None
    hybrid_attn_high_precision_backend: Optional[str] = None
    num_hybrid_attn_high_precision_steps: Optional[int] = None
    hybrid_attn_schedule: Optional[str] = None
    use_hybrid_gemm_schedule: bool = False
    num_hybrid_gemm_high_precision_steps: Optional[int] = None
    hybrid_gemm_schedule: Optional[str] = None
    use_ssta_sparse_text_to_image: Optional[bool] = False
    spargeattn_reorder_sequence: bool = True
    use_spargeattn_static_block_mask: bool = True
    spargeattn_simthreshold: float = 0.3
    spargeattn_cdfthreshold: float = 0.92
    use_spargeattn_head_balance: bool = False
    vsa_block_size: int = 128
    vsa_top_k: int = 1
    vsa_top_k_ratio: float = 0.0
    vsa_drop_rates: Optional[List[float]] = None
    vsa_prob_threshold: float = 0.9
    vsa_reorder_sequence: bool = True
    use_vsa_static_block_mask: bool = True
    use_vsa_first_frame_mask: bool = True
    vsa_collect_density: bool = False
    distilled_transformer_path: Optional[str] = None
    distilled_transformer_2_path: Optional[str] = None

    def __post_init__(self):
        # args.py:324-338: the deprecated cache flags become --cache_method.
        if self.cache_method is None:
            if self.use_fbcache:
                warnings.warn("--use_fbcache is deprecated, use --cache_method fbcache", FutureWarning, stacklevel=2)
                self.cache_method = "fbcache"
            elif self.use_teacache:
                warnings.warn("--use_teacache is deprecated, use --cache_method teacache", FutureWarning, stacklevel=2)
                self.cache_method = "teacache"
        # args.py:360-413: --gemm_quantization fp8 sets use_fp8_gemms (and the others alike).
        spec = self.gemm_quantization
        if spec is not None:
            self.use_fp8_gemms = spec == "fp8"
            self.use_fp4_gemms = spec.startswith("low=fp4") or spec == "fp4"
            self.use_int8_gemms = spec == "int8"

    @staticmethod
    def add_runner_args(parser: FlexibleArgumentParser):
        for flag, kwargs in RUNNER_FLAGS:
            parser.add_argument(flag, **kwargs)
        return parser

    @classmethod
    def from_runner_args(cls, args: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in args.items() if k in names})

    def create_config(self) -> Tuple[dict, dict]:
        if not self.use_ray and not torch.distributed.is_initialized():
            from xfuser.core.distributed import init_distributed_environment

            init_distributed_environment()
        world_size = torch.distributed.get_world_size()
        cfg_degree = 2 if self.use_cfg_parallel else 1
        sp_degree = (self.ulysses_degree or 1) * (self.ring_degree or 1)
        parallel_world_size = (
            self.data_parallel_degree * cfg_degree * sp_degree
            * self.tensor_parallel_degree * self.pipefusion_parallel_degree
        )
        assert parallel_world_size == world_size, (
            f"parallel_world_size {parallel_world_size} must be equal to dit_parallel_size {world_size}"
        )
        engine_config = {"world_size": world_size, "cfg_degree": cfg_degree, "sp_degree": sp_degree}
        input_config = {"height": self.height, "width": self.width, "seed": self.seed}
        return engine_config, input_config
