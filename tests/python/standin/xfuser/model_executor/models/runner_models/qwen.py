"""STAND-IN runner_models.qwen: the real keys, capabilities, defaults (xDiT 175e0bf, qwen.py)."""

from .base_model import DefaultInputValues, ModelCapabilities, ModelSettings, register_model, xFuserModel


@register_model("Qwen/Qwen-Image-Edit-2511")  # qwen.py:15-20
@register_model("Qwen/Qwen-Image-Edit-2509")
@register_model("Qwen/Qwen-Image-Edit")
@register_model("Qwen-Image-Edit-2511")
@register_model("Qwen-Image-Edit-2509")
@register_model("Qwen-Image-Edit")
class xFuserQwenImageEditModel(xFuserModel):
    capabilities = ModelCapabilities(  # qwen.py:23-30
        ulysses_degree=True, ring_degree=True, fully_shard_degree=True, use_fp8_gemms=True,
        enable_tiling=True, enable_slicing=True,
    )
    default_input_values = DefaultInputValues(num_inference_steps=50, guidance_scale=4.0, negative_prompt=" ")
    settings = ModelSettings(model_name="Qwen/Qwen-Image-Edit", output_name="qwen_image_edit", model_output_type="image")

    def _validate_args(self, input_args: dict) -> None:  # qwen.py:89-94
        super()._validate_args(input_args)
        if len(input_args.get("input_images", [])) != 1:
            raise ValueError("Exactly one input image is required for Qwen Image Edit model.")


@register_model("Qwen/Qwen-Image-2512")  # qwen.py:96-99
@register_model("Qwen/Qwen-Image")
@register_model("Qwen-Image-2512")
@register_model("Qwen-Image")
class xFuserQwenImageModel(xFuserModel):
    # qwen.py:102-107: no use_cfg_parallel, no tensor_parallel_degree, no use_fbcache
    capabilities = ModelCapabilities(ulysses_degree=True, ring_degree=True, fully_shard_degree=True, use_fp8_gemms=True)
    default_input_values = DefaultInputValues(height=928, width=1664, num_inference_steps=50, guidance_scale=0.0)
    settings = ModelSettings(model_name="Qwen/Qwen-Image", output_name="qwen_image", model_output_type="image")

    def _customize_settings(self, config) -> None:  # qwen.py:129-133
        if "2512" in config.model:
            self.settings.model_name = "Qwen/Qwen-Image-2512"
            self.settings.output_name = "qwen_image_2512"
