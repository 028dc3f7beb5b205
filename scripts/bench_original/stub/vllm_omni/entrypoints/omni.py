"""vllm_omni/entrypoints/omni.py at 7bd8f25f: `Omni` (:24), its constructor
(OmniBase.__init__, entrypoints/omni_base.py:72-131) and `generate`
(:61-77), for the default single-stage diffusion pipeline the batch script
gets for a text-to-image model (engine/async_omni_engine.py:768-855).

Simulated: the model load is a sleep, each prompt a sleep of its parallel
degree and cache backend (vllm_omni/_sim.py), and the images are one colour
per prompt text. Strict: a keyword the real engine does not read is a
TypeError here (the real one ignores it, async_omni_engine.py:768-855 reads
by name), and a parallel degree larger than the GPUs compat gave the
process is a RuntimeError (the real engine starts one worker per device of
0..world_size-1, async_omni_engine.py:814-815).
"""
import time
import uuid
from collections.abc import Sequence

from vllm_omni import _sim
from vllm_omni.diffusion.data import DiffusionParallelConfig, logger
from vllm_omni.inputs.data import OmniDiffusionSamplingParams
from vllm_omni.outputs import OmniRequestOutput, new_image

# OmniBase.__init__ pops these (omni_base.py:77-82) ...
_BASE_KWARGS = {"engine_args", "stage_init_timeout", "init_timeout", "log_stats", "async_chunk", "output_modalities"}
# ... and the engine reads these by name (async_omni_engine.py:768-900).
_ENGINE_KWARGS = {
    "cache_backend", "cache_config", "cfg_parallel_size", "custom_pipeline_args", "diffusion_load_format",
    "dtype", "enable_cache_dit_summary", "enable_cpu_offload", "enable_diffusion_pipeline_profiler",
    "enable_layerwise_offload", "enable_multithread_weight_load", "enable_sleep_mode", "enforce_eager",
    "hsdp_replicate_size", "hsdp_shard_size", "lora_path", "lora_scale", "model_class_name",
    "num_weight_load_threads", "parallel_config", "quantization", "quantization_config", "ring_degree",
    "sequence_parallel_size", "stage_configs", "stage_configs_path", "static_lora_scale",
    "tensor_parallel_size", "ulysses_degree", "use_hsdp", "vae_patch_parallel_size", "vae_use_slicing",
    "vae_use_tiling", "worker_extension_cls",
}
# The cache backends the script offers (B:69-79), plus "no cache".
_CACHE_BACKENDS = (None, "", "none", "cache_dit", "tea_cache")
_PROMPT_KEYS = {"prompt", "negative_prompt"}


class Omni:
    """Synchronous entrypoint for offline generation."""

    def __init__(self, model: str, **kwargs):
        if "log_requests" in kwargs:  # omni_base.py:84-85
            raise TypeError("`log_requests` has been removed in Omni/AsyncOmni. Use `log_stats`.")
        unknown = sorted(set(kwargs) - _BASE_KWARGS - _ENGINE_KWARGS)
        if unknown:
            raise TypeError(f"Omni() got unexpected keyword argument(s): {', '.join(unknown)}")
        if not isinstance(model, str) or not model:
            raise TypeError(f"Omni(model=...) must be a model name or path, got {model!r}")
        self.model = model
        self.cache_backend = kwargs.get("cache_backend", "none")
        if self.cache_backend not in _CACHE_BACKENDS:
            raise ValueError(f"cache_backend {self.cache_backend!r} is not simulated (known: cache_dit, tea_cache)")
        cache_config = kwargs.get("cache_config")
        if cache_config is not None and not isinstance(cache_config, (dict, str)):
            raise TypeError(f"cache_config must be a dict or JSON text, got {type(cache_config).__name__}")
        self.parallel_config = self._parallel_config(kwargs)
        world = self.parallel_config.world_size
        visible = _sim.visible_devices()
        if visible is not None and len(visible) < world:
            raise RuntimeError(
                f"the parallel config needs {world} GPUs (devices 0..{world - 1}) but "
                f"CUDA_VISIBLE_DEVICES={','.join(visible)} makes {len(visible)} visible"
            )
        logger.info("[Omni] Initializing with model %s", model)
        start = time.time()
        time.sleep(_sim.load_seconds())
        logger.info("[Omni] AsyncOmniEngine initialized in %.2f seconds", time.time() - start)
        self.num_stages = 1
        self.default_sampling_params_list = [OmniDiffusionSamplingParams()]
        self._prompt_seconds = _sim.prompt_seconds(world, self.cache_backend)

    @staticmethod
    def _parallel_config(kwargs):
        """async_omni_engine.py:788-812: the given config, or one from the
        flat degrees."""
        pc = kwargs.get("parallel_config")
        if isinstance(pc, dict):
            pc = DiffusionParallelConfig(**pc)
        if pc is None:
            pc = DiffusionParallelConfig(
                tensor_parallel_size=kwargs.get("tensor_parallel_size") or 1,
                sequence_parallel_size=kwargs.get("sequence_parallel_size"),
                ulysses_degree=kwargs.get("ulysses_degree") or 1,
                ring_degree=kwargs.get("ring_degree") or 1,
                cfg_parallel_size=kwargs.get("cfg_parallel_size") or 1,
                vae_patch_parallel_size=kwargs.get("vae_patch_parallel_size") or 1,
                use_hsdp=kwargs.get("use_hsdp", False),
                hsdp_shard_size=kwargs.get("hsdp_shard_size", -1),
                hsdp_replicate_size=kwargs.get("hsdp_replicate_size", 1),
            )
        if not isinstance(pc, DiffusionParallelConfig):
            raise TypeError(f"parallel_config must be a DiffusionParallelConfig or dict, got {type(pc).__name__}")
        return pc

    def resolve_sampling_params_list(self, sampling_params_list):
        """omni_base.py:142-157."""
        if sampling_params_list is None:
            normalized = self.default_sampling_params_list
        elif isinstance(sampling_params_list, Sequence) and not isinstance(sampling_params_list, (str, bytes)):
            normalized = list(sampling_params_list)
        else:
            normalized = [sampling_params_list]
        if len(normalized) != self.num_stages:
            raise ValueError(f"Expected {self.num_stages} sampling params, got {len(normalized)}")
        for sp in normalized:
            if not isinstance(sp, OmniDiffusionSamplingParams):
                raise TypeError(f"a diffusion stage takes OmniDiffusionSamplingParams, got {type(sp).__name__}")
        return normalized

    def generate(self, prompts, sampling_params_list=None, *, py_generator=False, use_tqdm=True):
        params = self.resolve_sampling_params_list(sampling_params_list)[0]
        if isinstance(prompts, (str, dict)) or not isinstance(prompts, Sequence):
            prompts = [prompts]
        for p in prompts:
            self._check_prompt(p)
        outputs = (self._one(p, params) for p in prompts)
        return outputs if py_generator else list(outputs)

    @staticmethod
    def _check_prompt(p):
        if isinstance(p, str):
            return
        if not isinstance(p, dict) or not isinstance(p.get("prompt"), str):
            raise TypeError(f"a prompt is a str or a dict with a str 'prompt', got {p!r}")
        unknown = sorted(set(p) - _PROMPT_KEYS)
        if unknown:
            raise TypeError(f"prompt keys not simulated: {', '.join(unknown)}")
        neg = p.get("negative_prompt")
        if neg is not None and not isinstance(neg, str):
            raise TypeError(f"negative_prompt must be a str, got {type(neg).__name__}")

    def _one(self, prompt, params):
        text = prompt if isinstance(prompt, str) else prompt["prompt"]
        time.sleep(self._prompt_seconds)
        width, height = params.width or 1024, params.height or 1024
        images = [new_image(width, height, _sim.colour(text, k)) for k in range(params.num_outputs_per_prompt)]
        # The stage's own result is the outer output's request_output
        # (omni_base.py:275-281), which is where the script finds the images.
        inner = OmniRequestOutput.from_diffusion(request_id=f"0_{uuid.uuid4()}", images=images, prompt=prompt)
        return OmniRequestOutput(stage_id=0, final_output_type="image", request_output=inner, images=images)
