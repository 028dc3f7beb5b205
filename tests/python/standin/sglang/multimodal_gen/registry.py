"""STAND-IN of sglang/multimodal_gen/registry.py (0.5.23): get_model_info for
the Qwen-Image ids the release registers (configs/pipeline_configs/
qwen_image.py:873-902) and two stand-in models; None for anything else, as
the release answers for a model it cannot place."""

from dataclasses import dataclass
from typing import Any

from sglang.multimodal_gen.configs.sample import sampling_params as sp


@dataclass
class ModelInfo:
    pipeline_cls: Any
    sampling_param_cls: Any
    pipeline_config_cls: Any


_MODELS = {
    "Qwen/Qwen-Image": sp.QwenImageSamplingParams,
    "Qwen/Qwen-Image-2512": sp.QwenImage2512SamplingParams,
    "stand-in/qwen-like": sp.QwenImageSamplingParams,
    "stand-in/teacache-model": sp.StandInTeaCacheSamplingParams,
}


def get_model_info(model_path, backend=None, model_id=None):
    cls = _MODELS.get(model_path)
    return None if cls is None else ModelInfo(pipeline_cls=None, sampling_param_cls=cls, pipeline_config_cls=None)
