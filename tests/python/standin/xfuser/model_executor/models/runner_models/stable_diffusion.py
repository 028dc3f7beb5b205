"""STAND-IN runner_models.stable_diffusion (xDiT 175e0bf, stable_diffusion.py)."""

from .base_model import DefaultInputValues, ModelCapabilities, ModelSettings, register_model, xFuserModel


@register_model("stabilityai/stable-diffusion-3.5-large")  # stable_diffusion.py:13-15
@register_model("stable-diffusion-3.5-large")
@register_model("SD3.5")
class xFuserStableDiffusionModel(xFuserModel):
    capabilities = ModelCapabilities(  # stable_diffusion.py:18-27: declares CFG parallelism
        ulysses_degree=True, ring_degree=True, pipefusion_parallel_degree=True, use_cfg_parallel=True,
        enable_tiling=True, enable_slicing=True, fully_shard_degree=True, use_fp8_gemms=True,
    )
    default_input_values = DefaultInputValues(height=1024, width=1024, num_inference_steps=28, guidance_scale=3.5)
    settings = ModelSettings(
        model_name="stabilityai/stable-diffusion-3.5-large", output_name="sd3.5_large", model_output_type="image"
    )
