"""STAND-IN model classes, built from released_models.py (generated from the
xfuser 0.7.0 wheel): each registered class with its real registry keys,
ModelCapabilities, DefaultInputValues, output type and step_cache_config
methods. Only what the tests need of a model's own code is written by hand:
Qwen-Image's model name for the 2512 key (qwen.py:187-191 of the wheel)."""

from .base_model import DefaultInputValues, ModelCapabilities, ModelSettings, register_model, xFuserModel
from .released_models import MODELS


def _customize_qwen(self, config) -> None:  # qwen.py:187-191
    if "2512" in config.model:
        self.settings.model_name = "Qwen/Qwen-Image-2512"
        self.settings.output_name = "qwen_image_2512"


_CUSTOMIZE = {"xFuserQwenImageModel": _customize_qwen}

for _row in MODELS:
    _caps = {k: v for k, v in _row["capabilities"].items() if isinstance(v, bool)}
    _defaults = {k: v for k, v in _row["defaults"].items() if not isinstance(v, str) or k == "negative_prompt"}
    _attrs = {
        "capabilities": ModelCapabilities(**_caps),
        "default_input_values": DefaultInputValues(**_defaults),
        "settings": ModelSettings(
            model_name=_row["model_name"] or _row["keys"][0],
            output_name=_row["class"],
            model_output_type=_row["output_type"],
            step_cache_config={m: None for m in _row["step_cache_config"]} or None,
        ),
        # Where the release declares it (the adapter's reasons cite it).
        "released_source": f"{_row['file']}:{_row['line']}",
    }
    if _row["class"] in _CUSTOMIZE:
        _attrs["_customize_settings"] = _CUSTOMIZE[_row["class"]]
    _cls = type(_row["class"], (xFuserModel,), _attrs)
    _cls.__module__ = "xfuser.model_executor.models.runner_models." + _row["file"][:-3]
    for _key in _row["keys"]:
        register_model(_key)(_cls)
    globals()[_row["class"]] = _cls
