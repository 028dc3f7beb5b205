"""STAND-IN runner_models.z_image (xDiT 175e0bf, z_image.py)."""

from .base_model import DefaultInputValues, ModelCapabilities, ModelSettings, register_model, xFuserModel


@register_model("Tongyi-MAI/Z-Image")  # z_image.py:45-46
@register_model("Z-Image")
class xFuserZImageModel(xFuserModel):
    capabilities = ModelCapabilities(  # z_image.py:55-62
        use_cfg_parallel=True, enable_tiling=True, enable_slicing=True, fully_shard_degree=True,
        use_fp8_gemms=True, use_int8_gemms=True,
    )
    default_input_values = DefaultInputValues(height=1024, width=1024, num_inference_steps=50, guidance_scale=4.0)
    settings = ModelSettings(model_name="Tongyi-MAI/Z-Image", output_name="z_image", model_output_type="image")


@register_model("Tongyi-MAI/Z-Image-Turbo")  # z_image.py:125-126
@register_model("Z-Image-Turbo")
class xFuserZImageTurboModel(xFuserModel):
    capabilities = ModelCapabilities(use_fp8_gemms=True, use_int8_gemms=True, fully_shard_degree=True)  # z_image.py:129-133
    default_input_values = DefaultInputValues(height=1024, width=1024, num_inference_steps=9, guidance_scale=0.0)
    settings = ModelSettings(model_name="Tongyi-MAI/Z-Image-Turbo", output_name="z_image_turbo", model_output_type="image")
