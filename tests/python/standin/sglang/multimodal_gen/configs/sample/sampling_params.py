"""STAND-IN of sglang/multimodal_gen/configs/sample/sampling_params.py (0.5.23):
SamplingParams takes exactly the release's dataclass fields (a model's
defaults class is instantiated with the request's keywords,
sampling_params.py:1102: an unknown keyword is a TypeError) and its CLI flags
are the release's (SamplingParams.add_cli_args, rebuilt from released.py)."""

from sglang.multimodal_gen import released
from sglang.multimodal_gen.runtime.utils.argparse import add_released_actions

FIELDS = set(released.SAMPLING_FIELDS)


class SamplingParams:
    # The base class's defaults the stand-in uses (sampling_params.py:380-463).
    DEFAULTS = {"negative_prompt": None, "guidance_scale": 1.0, "num_inference_steps": None, "seed": 42,
                "height": None, "width": None, "enable_teacache": False, "enable_cache_dit": None,
                "teacache_params": None, "save_output": True, "return_file_paths_only": True,
                "num_outputs_per_prompt": 1, "prompt": None}

    def __init__(self, **kwargs):
        for key in kwargs:
            if key not in FIELDS:
                raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword argument '{key}'")
        values = {}
        for cls in reversed(type(self).__mro__):
            values.update(getattr(cls, "DEFAULTS", {}) if "DEFAULTS" in vars(cls) else {})
        values.update(kwargs)
        for key, value in values.items():
            setattr(self, key, value)

    @staticmethod
    def add_cli_args(parser):
        return add_released_actions(parser, released.SAMPLING_CLI)


class QwenImageSamplingParams(SamplingParams):
    DEFAULTS = dict(released.QWEN_IMAGE_DEFAULTS["QwenImageSamplingParams"])


class QwenImage2512SamplingParams(QwenImageSamplingParams):
    DEFAULTS = dict(released.QWEN_IMAGE_DEFAULTS["QwenImage2512SamplingParams"])


class TeaCacheParams:
    """Stand-in's: only that a model has them (hunyuan.py:39, wan.py:72)."""

    teacache_thresh = 0.1


class StandInTeaCacheSamplingParams(SamplingParams):
    """A stand-in model whose defaults carry teacache_params (like Wan or
    HunyuanVideo's), so TeaCache is not refused there."""

    DEFAULTS = {"negative_prompt": "", "guidance_scale": 5.0, "teacache_params": TeaCacheParams()}
