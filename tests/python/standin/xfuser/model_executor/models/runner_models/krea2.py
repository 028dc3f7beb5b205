"""STAND-IN runner_models.krea2 (xDiT 175e0bf, krea2.py)."""

from .base_model import DefaultInputValues, ModelCapabilities, ModelSettings, register_model, xFuserModel

_KREA2_CAPABILITIES = ModelCapabilities(  # krea2.py:76-89
    ulysses_degree=True, ring_degree=False, pipefusion_parallel_degree=False, data_parallel_degree=True,
    use_cfg_parallel=False, use_parallel_vae=False, use_fp8_gemms=True, use_fp4_gemms=True,
    use_hybrid_attn_schedule=True, fully_shard_degree=True, enable_tiling=True, enable_slicing=True,
)


@register_model("krea/krea-2-raw")  # krea2.py:188-190
@register_model("krea/Krea-2-Raw")
@register_model("Krea-2-Raw")
class xFuserKrea2RawModel(xFuserModel):
    capabilities = _KREA2_CAPABILITIES
    default_input_values = DefaultInputValues(
        height=2048, width=2048, num_inference_steps=52, guidance_scale=3.5, max_sequence_length=512
    )
    settings = ModelSettings(model_name="krea/krea-2-raw", output_name="krea_2_raw", model_output_type="image")


@register_model("krea/krea-2-turbo")  # krea2.py:222-224
@register_model("krea/Krea-2-Turbo")
@register_model("Krea-2-Turbo")
class xFuserKrea2TurboModel(xFuserModel):
    capabilities = _KREA2_CAPABILITIES
    default_input_values = DefaultInputValues(height=2048, width=2048, max_sequence_length=512)
    settings = ModelSettings(model_name="krea/krea-2-turbo", output_name="krea_2_turbo", model_output_type="image")
