"""STAND-IN runner_models.flux: the real keys, capabilities, defaults (xDiT 175e0bf, flux.py).

Of these, only FLUX.2-dev applies --use_fbcache (flux.py:302-324); the
FLUX.2-klein models declare use_fbcache=True (flux.py:406) but never apply it
(their _post_load_and_state_initialization, flux.py:434-437, does not).
"""

from .base_model import DefaultInputValues, ModelCapabilities, ModelSettings, register_model, xFuserModel


@register_model("black-forest-labs/FLUX.1-dev")  # flux.py:54-55
@register_model("FLUX.1-dev")
class xFuserFluxModel(xFuserModel):
    capabilities = ModelCapabilities(  # flux.py:58-67
        ulysses_degree=True, ring_degree=True, pipefusion_parallel_degree=True, use_fp8_gemms=True,
        use_parallel_vae=True, enable_tiling=True, enable_slicing=True, fully_shard_degree=True,
    )
    default_input_values = DefaultInputValues(
        height=1024, width=1024, num_inference_steps=50, guidance_scale=3.5, max_sequence_length=512
    )
    settings = ModelSettings(model_name="black-forest-labs/FLUX.1-dev", output_name="flux_1_dev", model_output_type="image")


@register_model("black-forest-labs/FLUX.1-Kontext-dev")  # flux.py:145-146
@register_model("FLUX.1-Kontext-dev")
class xFuserFluxKontextModel(xFuserModel):
    capabilities = ModelCapabilities(  # flux.py:149-157
        ulysses_degree=True, ring_degree=True, use_fp8_gemms=True, enable_tiling=True, enable_slicing=True,
        use_parallel_vae=True, fully_shard_degree=True,
    )
    default_input_values = DefaultInputValues(
        height=1024, width=1024, num_inference_steps=50, guidance_scale=2.5, max_sequence_length=256
    )
    settings = ModelSettings(
        model_name="black-forest-labs/FLUX.1-Kontext-dev", output_name="flux_1_kontext_dev", model_output_type="image"
    )

    def _validate_args(self, input_args: dict) -> None:  # flux.py:240-247
        super()._validate_args(input_args)
        if len(input_args.get("input_images", [])) != 1:
            raise ValueError("Exactly one input image is required for Flux.1-Kontext-dev model.")


@register_model("black-forest-labs/FLUX.2-dev")  # flux.py:250-251
@register_model("FLUX.2-dev")
class xFuserFlux2Model(xFuserModel):
    capabilities = ModelCapabilities(  # flux.py:254-265
        ulysses_degree=True, ring_degree=True, use_fp8_gemms=True, use_fp4_gemms=True, fully_shard_degree=True,
        enable_tiling=True, enable_slicing=True, use_parallel_vae=True, use_fbcache=True,
        pipefusion_parallel_degree=True,
    )
    default_input_values = DefaultInputValues(
        height=1024, width=1024, num_inference_steps=28, guidance_scale=4.0, max_sequence_length=256
    )
    settings = ModelSettings(model_name="black-forest-labs/FLUX.2-dev", output_name="flux_2_dev", model_output_type="image")


@register_model("black-forest-labs/FLUX.2-klein-9B")  # flux.py:394-395
@register_model("FLUX.2-klein-9B")
class xFuserFlux2Klein9BModel(xFuserModel):
    capabilities = ModelCapabilities(  # flux.py:398-408
        ulysses_degree=True, ring_degree=True, use_fp8_gemms=True, enable_tiling=True, enable_slicing=True,
        use_parallel_vae=True, fully_shard_degree=True, use_fbcache=True, pipefusion_parallel_degree=True,
    )
    default_input_values = DefaultInputValues(height=2048, width=2048, num_inference_steps=9, guidance_scale=1.0)
    settings = ModelSettings(
        model_name="black-forest-labs/FLUX.2-klein-9B", output_name="flux_2_klein_9b", model_output_type="image"
    )


@register_model("black-forest-labs/FLUX.2-klein-4B")  # flux.py:506-507
@register_model("FLUX.2-klein-4B")
class xFuserFlux2Klein4BModel(xFuserFlux2Klein9BModel):
    settings = ModelSettings(
        model_name="black-forest-labs/FLUX.2-klein-4B", output_name="flux_2_klein_4b", model_output_type="image"
    )
