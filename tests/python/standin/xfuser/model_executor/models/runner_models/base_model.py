"""STAND-IN runner_models.base_model: the registry, capabilities and model base class.

Rebuilt from the released wheel xfuser-0.7.0-py3-none-any.whl (xfuser 0.7.0);
file:line are of xfuser/model_executor/models/runner_models/base_model.py there:

* MODEL_REGISTRY / register_model (base_model.py:71-83);
* ModelCapabilities (base_model.py:127-158): the same 28 fields and defaults;
  step caching is `supports_step_caching` plus the model's
  ModelSettings.step_cache_config (base_model.py:192), a dict keyed by
  --cache_method ("teacache", "fbcache", "dbcache");
* DiffusionOutput: `.images`, `.pipe_args`;
* xFuserModel.__init__ -> _validate_config (base_model.py:286-291, 509-535):
  every capability field the config asks for and the model lacks raises
  ValueError("Model <name> does not support <key>."), a boolean as a boolean
  (base_model.py:514-519; xfuser 0.5.0 read True as the int 1 and let it pass);
  --cache_method on a model without step caching raises "does not support step
  caching.", a method its step_cache_config lacks "does not support
  --cache_method X. Supported: ..." (base_model.py:521-531);
* initialize (base_model.py:348-391), including the torch.compile warm-up and
  the step cache applied last (base_model.py:390-391);
* run (base_model.py:787-849): the config's warmup_calls, then num_iterations
  timed pipeline calls; the first timing dropped when there are several;
* preprocess_args (base_model.py:919-940): DefaultInputValues fill the keys
  that are None.

The models themselves (keys, capabilities, defaults, step_cache_config) are
generated from the same wheel: released_models.py, built into classes by
models.py. The pipeline is fake (see xfuser/__init__.py for the knobs).
"""

import copy
import os
import time
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch

from xfuser import record
from xfuser.core.distributed import init_distributed_environment, initialize_runtime_state
from xfuser.core.utils.runner_utils import is_last_process

MODEL_REGISTRY = {}


def register_model(name: str):
    def decorator(cls):
        MODEL_REGISTRY[name] = cls
        return cls

    return decorator


@dataclass(frozen=True)
class ModelCapabilities:
    # base_model.py:127-158, field for field
    ulysses_degree: bool = True
    ring_degree: bool = True
    pipefusion_parallel_degree: bool = False
    data_parallel_degree: bool = True
    tensor_parallel_degree: bool = False
    text_encoder_tp_degree: bool = False
    use_cfg_parallel: bool = False
    use_parallel_vae: bool = False
    use_parallel_vae_encoder: bool = False
    fully_shard_degree: bool = False
    enable_slicing: bool = False
    enable_tiling: bool = False
    use_vae_channels_last_format: bool = True
    use_int8_gemms: bool = False
    use_fp8_gemms: bool = False
    use_fp8_text_encoder: bool = False
    use_fp4_gemms: bool = False
    use_fp6_gemms: bool = False
    supports_step_caching: bool = False
    use_fp8_comms: bool = False
    use_hybrid_attn_schedule: bool = False
    use_hybrid_gemm_schedule: bool = False
    cross_attention_backend: bool = False
    supports_sparse_attention_backends: bool = False
    supports_sparge_attention_backends: bool = False
    supports_distilled_weights: bool = False
    profile_capture_phase: bool = False


@dataclass(frozen=True)
class DefaultInputValues:
    height: Optional[int] = None
    width: Optional[int] = None
    num_frames: Optional[int] = None
    negative_prompt: Optional[str] = None
    num_inference_steps: Optional[int] = None
    guidance_scale: Optional[float] = None
    guidance_scale_2: Optional[float] = None
    flow_shift: Optional[float] = None
    max_sequence_length: Optional[int] = None
    num_hybrid_attn_high_precision_steps: Optional[int] = None
    num_hybrid_gemm_high_precision_steps: Optional[int] = None
    ssta_tile_thw: Optional[Tuple[int, int, int]] = None


@dataclass
class ModelSettings:
    model_name: Optional[str] = None
    output_name: Optional[str] = None
    model_output_type: Optional[str] = None
    fbcache_thresh: float = 0.12
    step_cache_config: Optional[dict] = None  # base_model.py:192: --cache_method -> settings (None: in-tree)
    valid_tasks: List[str] = field(default_factory=list)


class TinyImage:
    """Stand-in PIL image: `.save(path)` writes a tiny one-colour PNG (records who saved)."""

    def __init__(self, width: int, height: int, rgb: tuple) -> None:
        self.size = (width, height)
        self.width, self.height = width, height
        self.rgb = rgb

    def save(self, path, *args, **kwargs) -> None:
        import struct
        import zlib

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        raw = (b"\x00" + bytes(self.rgb) * self.width) * self.height
        ihdr = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
        if os.environ.get("XFUSER_STANDIN_SAVE_NOTHING"):  # a save that silently writes nothing
            open(path, "wb").close()
        else:
            with open(path, "wb") as f:
                f.write(data)
        record("save", path=os.path.basename(str(path)), rgb=list(self.rgb))


def seed_colour(seed: int) -> tuple:
    return (seed * 37 % 256, seed * 91 % 256, seed * 13 % 256)


class DiffusionOutput:
    def __init__(self, images=None, videos=None, pipe_args=None) -> None:
        self.images = images
        self.videos = videos
        self.pipe_args = pipe_args if isinstance(pipe_args, list) else [pipe_args or {}]


class _FakePipe:
    """What _load_model returns: a callable that makes one image per prompt."""

    calls = 0

    def __call__(self, **kwargs):
        _FakePipe.calls += 1
        first_sleep = float(os.environ.get("XFUSER_STANDIN_FIRST_SLEEP", "0") or 0)
        if _FakePipe.calls == 1 and first_sleep:
            time.sleep(first_sleep)
        prompts = kwargs["prompt"] if isinstance(kwargs["prompt"], list) else [kwargs["prompt"]]
        fail_on = os.environ.get("XFUSER_STANDIN_FAIL_ON")
        fail_rank = os.environ.get("XFUSER_STANDIN_FAIL_RANK")
        rank = int(os.environ.get("RANK", "0"))
        if fail_on and any(fail_on in p for p in prompts) and (not fail_rank or int(fail_rank) == rank):
            raise RuntimeError("CUDA out of memory.\nTried to allocate 2.00 GiB (stand-in)")
        seed = kwargs["generator_seed"]
        w = min(kwargs.get("width") or 8, 8)
        h = min(kwargs.get("height") or 8, 8)
        return [TinyImage(w, h, seed_colour(seed)) for _ in prompts]


class xFuserModel:
    capabilities: ModelCapabilities = ModelCapabilities()
    default_input_values: DefaultInputValues = DefaultInputValues()
    settings: ModelSettings = ModelSettings()

    def __init__(self, config) -> None:
        self.settings = copy.deepcopy(self.settings)
        self._customize_settings(config)
        self._validate_config(config)
        self.config = config
        self.pipe = None

    def _customize_settings(self, config) -> None:
        pass

    def _validate_config(self, config) -> None:
        # base_model.py:509-531: booleans are read as booleans (fixed in 0.6.0).
        for key in ModelCapabilities.__annotations__.keys():
            value = getattr(config, key, None)
            if isinstance(value, int) and not isinstance(value, bool):
                rejected = not getattr(self.capabilities, key) and value > 1
            else:
                rejected = bool(value) and not getattr(self.capabilities, key)
            if rejected:
                raise ValueError(f"Model {self.settings.model_name} does not support {key}.")
        if config.cache_method:
            if not self.capabilities.supports_step_caching:
                raise ValueError(f"Model {self.settings.model_name} does not support step caching.")
            supported_methods = self.settings.step_cache_config or {}
            if config.cache_method not in supported_methods:
                raise ValueError(
                    f"Model {self.settings.model_name} does not support --cache_method {config.cache_method}. "
                    f"Supported: {', '.join(supported_methods)}"
                )
        task = getattr(config, "task", None)
        if task and self.settings.valid_tasks and task not in self.settings.valid_tasks:
            raise ValueError(f"Model {self.settings.model_name} does not support task '{task}'.")
        if task and not self.settings.valid_tasks:
            raise ValueError(f"Model {self.settings.model_name} does not support multiple tasks, but task '{task}' was specified.")
        if not task and self.settings.valid_tasks:
            raise ValueError(f"Model {self.settings.model_name} requires a task to be specified.")
        if config.dataset_path and not config.batch_size:
            raise ValueError("Dataset path specified without batch size. Please specify batch size for dataset inference.")

    # ---------------------------------------------------------------- loading

    def initialize(self, input_args: dict) -> None:
        if not torch.distributed.is_initialized():
            init_distributed_environment()
        self.engine_config, _ = self.config.create_config()
        record("load", model=self.settings.model_name, model_key=self.config.model,
               config={k: getattr(self.config, k) for k in (
                   "ulysses_degree", "ring_degree", "use_cfg_parallel", "tensor_parallel_degree",
                   "pipefusion_parallel_degree", "use_torch_compile", "cache_method", "use_fbcache",
                   "use_fp8_gemms", "enable_model_cpu_offload", "enable_group_cpu_offload", "warmup_calls",
                   "num_iterations", "batch_size", "dataset_path", "output_directory")})
        if os.environ.get("XFUSER_STANDIN_FAIL_INIT"):
            raise RuntimeError("stand-in: model load failed")
        load_sleep = float(os.environ.get("XFUSER_STANDIN_LOAD_SLEEP", "0") or 0)
        if load_sleep:
            time.sleep(load_sleep)
        self.pipe = _FakePipe()
        initialize_runtime_state(self.pipe, self.engine_config)
        if self.config.use_torch_compile:
            compile_args = copy.deepcopy(input_args)
            compile_args["num_inference_steps"] = 2
            record("compile_warmup", prompt=compile_args.get("prompt"))
            self._run_timed_pipe(compile_args)
        if self.config.cache_method:  # base_model.py:390-391
            record("step_cache", method=self.config.cache_method)

    # ---------------------------------------------------------------- running

    def run(self, input_args: dict):
        self._validate_args(input_args)
        timings = []
        output = None
        if self.config.warmup_calls:
            for _ in range(self.config.warmup_calls):
                record("runner_internal_warmup")
                self._run_timed_pipe(input_args)
        for _ in range(self.config.num_iterations):
            output, timing = self._run_timed_pipe(input_args)
            timings.append(timing)
        if len(timings) > 1:
            timings.pop(0)
        return output, timings

    def _run_timed_pipe(self, input_args: dict):
        torch.cuda.synchronize()
        start = time.perf_counter()
        out = self._run_pipe(input_args)
        torch.cuda.synchronize()
        return out, time.perf_counter() - start

    def _run_pipe(self, input_args: dict) -> DiffusionOutput:
        record(
            "run_pipe",
            model=self.settings.model_name,
            prompt=input_args["prompt"],
            seed=input_args["seed"],
            negative_prompt=input_args.get("negative_prompt"),
            height=input_args["height"],
            width=input_args["width"],
            num_inference_steps=input_args["num_inference_steps"],
            guidance_scale=input_args["guidance_scale"],
        )
        images = self.pipe(
            prompt=input_args["prompt"],
            height=input_args["height"],
            width=input_args["width"],
            generator_seed=input_args["seed"],
        )
        if self.config.pipefusion_parallel_degree > 1 and not is_last_process():
            images = []  # non-last pipeline stages return no image (flux.py:141)
        return DiffusionOutput(images=images, pipe_args=input_args)

    def preprocess_args(self, input_args: dict) -> dict:
        args = copy.deepcopy(input_args)
        for key in DefaultInputValues.__annotations__:
            if args.get(key, None) is None:
                default = getattr(self.default_input_values, key)
                if default is not None:
                    args[key] = default
        negative_prompt = args.get("negative_prompt")
        if negative_prompt and isinstance(negative_prompt, list) and len(negative_prompt) == 1:
            args["negative_prompt"] = negative_prompt[0]
        self._validate_args(args)
        args["input_images"] = []
        return args

    def _validate_args(self, input_args: dict) -> None:
        if input_args["prompt"] is None and input_args["dataset_path"] is None:
            raise ValueError("Either 'prompt' or 'dataset_path' must be provided in input arguments.")

    def cleanup(self) -> None:
        record("cleanup")
