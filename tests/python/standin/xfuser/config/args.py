"""STAND-IN xfuser.config.args: the runner's argument parser and xFuserArgs.

Mirrors xfuser/config/args.py at xDiT commit 175e0bf:

* FlexibleArgumentParser (args.py:30-62): an ArgumentParser that accepts
  `--a-b` for `--a_b` (and `--no-a-b` for a BooleanOptionalAction's
  `--no-a_b`); a name it cannot map is still rewritten with underscores, so
  argparse reports it in that spelling.
* xFuserArgs.add_runner_args (args.py:457-819): every flag of the runner's
  parser, with the real name, type, default and action. None of them has
  `choices`. `--use_teacache` is NOT among them: it belongs to the example
  scripts' parser (add_cli_args, args.py:225-229), not to the runner's.
* xFuserArgs.from_runner_args (args.py:830-834): keeps the dict's keys that
  are dataclass fields.
* xFuserArgs.create_config (args.py:837-976): initialises torch.distributed if
  needed and checks, as ParallelConfig.__post_init__ does
  (xfuser/config/config.py:240-251, DataParallelConfig config.py:104-107 for
  cfg_degree), that the product of the parallel degrees equals the world size.
"""

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

import torch
import torch.distributed


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


_BOOL = argparse.BooleanOptionalAction

# (flag, add_argument keywords) in the order of args.py:457-819.
RUNNER_FLAGS = [
    ("--model", dict(type=str, required=True)),
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
    ("--fully_shard_degree", dict(type=int, default=1)),
    ("--no_reshard_after_forward", dict(dest="reshard_after_forward", action="store_false")),
    ("--memory_efficient_sharding", dict(action="store_true", default=False)),
    ("--height", dict(type=int)),
    ("--width", dict(type=int)),
    ("--num_frames", dict(type=int)),
    ("--prompt", dict(type=str, nargs="*")),
    ("--negative_prompt", dict(type=str, nargs="*")),
    ("--num_inference_steps", dict(type=int)),
    ("--max_sequence_length", dict(type=int)),
    ("--seed", dict(type=int, default=42)),
    ("--guidance_scale", dict(type=float)),
    ("--guidance_scale_2", dict(type=float)),
    ("--flow_shift", dict(type=float)),
    ("--enable_sequential_cpu_offload", dict(action="store_true")),
    ("--enable_model_cpu_offload", dict(action="store_true")),
    ("--enable_tiling", dict(action="store_true")),
    ("--enable_slicing", dict(action="store_true")),
    ("--use_int8_gemms", dict(action="store_true")),
    ("--use_fp8_gemms", dict(action="store_true")),
    ("--use_fp4_gemms", dict(action="store_true")),
    ("--fp8_precision_override_prefix_patterns", dict(type=nullable_str, default=None)),
    ("--fp8_precision_override_suffix_patterns", dict(type=nullable_str, default=None)),
    ("--num_iterations", dict(type=int, default=1)),
    ("--profile", dict(default=False, action="store_true")),
    ("--profile_wait", dict(type=int, default=2)),
    ("--profile_warmup", dict(type=int, default=2)),
    ("--profile_active", dict(type=int, default=1)),
    ("--warmup_calls", dict(default=0, type=int)),
    ("--output_directory", dict(type=str, default=".")),
    ("--input_images", dict(default=[], nargs="+")),
    ("--resize_input_images", dict(default=False, action="store_true")),
    ("--task", dict(default=None)),
    ("--batch_size", dict(default=None, type=int)),
    ("--dataset_path", dict(default=None)),
    ("--use_hybrid_attn_schedule", dict(action="store_true", default=False)),
    ("--hybrid_attn_low_precision_backend", dict(type=nullable_str, default=None)),
    ("--hybrid_attn_high_precision_backend", dict(type=nullable_str, default=None)),
    ("--num_hybrid_attn_high_precision_steps", dict(type=int, default=None)),
    ("--hybrid_attn_schedule", dict(type=str, default=None)),
    ("--use_hybrid_gemm_schedule", dict(action="store_true", default=False)),
    ("--num_hybrid_gemm_high_precision_steps", dict(type=int, default=None)),
    ("--use_vae_channels_last_format", dict(action="store_true", default=False)),
    ("--use_ssta_sparse_text_to_image", dict(action="store_true", default=False)),
    ("--spargeattn_simthreshold", dict(type=float, default=0.3)),
    ("--spargeattn_cdfthreshold", dict(type=float, default=0.92)),
    ("--spargeattn_reorder_sequence", dict(action=_BOOL, default=True)),
    ("--use_spargeattn_static_block_mask", dict(action=_BOOL, default=True)),
    ("--use_spargeattn_head_balance", dict(action="store_true")),
    ("--distilled_transformer_path", dict(type=nullable_str, default=None)),
    ("--distilled_transformer_2_path", dict(type=nullable_str, default=None)),
    ("--use_fbcache", dict(action="store_true")),
]


@dataclass
class xFuserArgs:
    """The dataclass fields the runner path reads (args.py:71-181), same defaults."""

    model: str = ""
    use_parallel_vae: bool = False
    use_torch_compile: bool = False
    data_parallel_degree: int = 1
    use_cfg_parallel: bool = False
    ulysses_degree: Optional[int] = 1
    ring_degree: Optional[int] = 1
    tensor_parallel_degree: int = 1
    use_ray: bool = False
    dit_parallel_size: int = 0
    vae_parallel_size: int = 0
    pipefusion_parallel_degree: int = 1
    height: int = 1024
    width: int = 1024
    num_frames: int = 49
    num_inference_steps: int = 20
    max_sequence_length: int = 256
    prompt: Union[str, List[str]] = ""
    negative_prompt: Union[str, List[str]] = ""
    seed: int = 42
    guidance_scale: float = 3.5
    guidance_scale_2: Optional[float] = None
    flow_shift: Optional[float] = None
    enable_model_cpu_offload: bool = False
    enable_sequential_cpu_offload: bool = False
    enable_tiling: bool = False
    enable_slicing: bool = False
    use_teacache: bool = False
    use_fbcache: bool = False
    attention_backend: Optional[str] = None
    cross_attention_backend: Optional[str] = None
    use_int8_gemms: bool = False
    use_fp8_gemms: bool = False
    use_fp4_gemms: bool = False
    fp8_precision_override_prefix_patterns: Optional[str] = None
    fp8_precision_override_suffix_patterns: Optional[str] = None
    num_iterations: int = 1
    profile: bool = False
    profile_wait: int = 2
    profile_warmup: int = 2
    profile_active: int = 1
    warmup_calls: int = 0
    output_directory: str = "."
    input_images: Optional[List[str]] = None
    resize_input_images: bool = False
    task: Optional[str] = None
    batch_size: Optional[int] = None
    dataset_path: Optional[str] = None
    fully_shard_degree: int = 1
    reshard_after_forward: bool = True
    memory_efficient_sharding: bool = False
    use_vae_channels_last_format: bool = False
    use_hybrid_attn_schedule: bool = False
    hybrid_attn_low_precision_backend: Optional[str] = None
    hybrid_attn_high_precision_backend: Optional[str] = None
    num_hybrid_attn_high_precision_steps: Optional[int] = None
    hybrid_attn_schedule: Optional[str] = None
    use_hybrid_gemm_schedule: bool = False
    num_hybrid_gemm_high_precision_steps: Optional[int] = None
    use_ssta_sparse_text_to_image: Optional[bool] = False
    spargeattn_reorder_sequence: bool = True
    use_spargeattn_static_block_mask: bool = True
    spargeattn_simthreshold: float = 0.3
    spargeattn_cdfthreshold: float = 0.92
    use_spargeattn_head_balance: bool = False
    distilled_transformer_path: Optional[str] = None
    distilled_transformer_2_path: Optional[str] = None

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
