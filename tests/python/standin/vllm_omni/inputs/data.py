"""STAND-IN for vllm_omni.inputs.data: OmniDiffusionSamplingParams.

A plain dataclass with exactly the fields of the real one -- vLLM-Omni ``main``
at bd4f9acfd30456cb8fa98af53d32f7adc34e03a0, vllm_omni/inputs/data.py:197-344
(line of each field in its comment) -- with the real defaults. Annotations are
kept as text (no torch here). Like the real dataclass, an unknown keyword raises
``TypeError: ...__init__() got an unexpected keyword argument ...``, and
``__post_init__`` checks ``quality`` as data.py:346-348 does.

The 0.18.0 release (a5bf33f2) has 71 of these fields; every field compat's
backend sets (height, width, num_inference_steps, true_cfg_scale,
guidance_scale, seed, generator, num_outputs_per_prompt) is among them.
"""

from dataclasses import dataclass, field
from typing import Any

# vllm_omni/inputs/data.py:14
DIFFUSION_QUALITY_LEVELS: tuple[str, ...] = ("lossless", "high")


@dataclass
class OmniDiffusionSamplingParams:
    max_sequence_length: 'int | None' = None  # data.py:208
    prompt_template: 'dict[str, Any] | None' = None  # data.py:209
    do_classifier_free_guidance: 'bool' = False  # data.py:210
    output_type: 'str | None' = None  # data.py:211
    quality: 'str | None' = None  # data.py:215
    num_outputs_per_prompt: 'int' = 1  # data.py:218
    seed: 'int | None' = None  # data.py:219
    generator: 'torch.Generator | list[torch.Generator] | None' = None  # data.py:220
    generator_device: 'str | None' = None  # data.py:221
    layers: 'int' = 4  # data.py:224
    cfg_normalize: 'bool' = False  # data.py:227
    use_en_prompt: 'bool' = False  # data.py:230
    resolution: 'int' = 640  # data.py:233
    is_prompt_processed: 'bool' = False  # data.py:236
    latents: 'torch.Tensor | None' = None  # data.py:239
    audio_latents: 'torch.Tensor | None' = None  # data.py:240
    raw_latent_shape: 'torch.Tensor | None' = None  # data.py:241
    noise_pred: 'torch.Tensor | None' = None  # data.py:242
    image_latent: 'torch.Tensor | None' = None  # data.py:243
    height_latents: 'list[int] | int | None' = None  # data.py:246
    width_latents: 'list[int] | int | None' = None  # data.py:247
    num_frames: 'int' = 1  # data.py:248
    num_frames_round_down: 'bool' = False  # data.py:249
    height: 'int | None' = None  # data.py:252
    width: 'int | None' = None  # data.py:253
    fps: 'int | None' = None  # data.py:254
    frame_rate: 'float | None' = None  # data.py:255
    height_not_provided: 'bool' = False  # data.py:256
    width_not_provided: 'bool' = False  # data.py:257
    enable_frame_interpolation: 'bool' = False  # data.py:258
    frame_interpolation_exp: 'int' = 1  # data.py:259
    frame_interpolation_scale: 'float' = 1.0  # data.py:260
    frame_interpolation_model_path: 'str | None' = None  # data.py:261
    timesteps: 'torch.Tensor | None' = None  # data.py:264
    timestep: 'torch.Tensor | float | int | None' = None  # data.py:265
    step_index: 'int | None' = None  # data.py:266
    boundary_ratio: 'float | None' = None  # data.py:267
    num_inference_steps: 'int | None' = None  # data.py:271
    guidance_scale: 'float | None' = None  # data.py:272
    guidance_scale_provided: 'bool' = False  # data.py:273
    guidance_scale_2: 'float | None' = None  # data.py:274
    guidance_scale_2_provided: 'bool' = False  # data.py:275
    guidance_rescale: 'float' = 0.0  # data.py:276
    strength: 'float | None' = None  # data.py:277
    decode_timestep: 'float | list[float] | None' = None  # data.py:278
    decode_noise_scale: 'float | list[float] | None' = None  # data.py:279
    eta: 'float' = 0.0  # data.py:280
    sigmas: 'list[float] | None' = None  # data.py:281
    true_cfg_scale: 'float | None' = None  # data.py:283
    n_tokens: 'int | None' = None  # data.py:285
    extra_step_kwargs: 'dict[str, Any]' = field(default_factory=dict)  # data.py:286
    past_key_values: 'Any | None' = None  # data.py:289
    kv_metadata: 'dict[str, Any] | None' = None  # data.py:290
    need_kv_receive: 'bool' = True  # data.py:291
    cfg_text_past_key_values: 'Any | None' = None  # data.py:294
    cfg_img_past_key_values: 'Any | None' = None  # data.py:295
    cfg_text_kv_metadata: 'dict[str, Any] | None' = None  # data.py:296
    cfg_img_kv_metadata: 'dict[str, Any] | None' = None  # data.py:297
    cfg_kv_request_ids: 'dict[str, str] | None' = None  # data.py:298
    cfg_active_branch: 'str | None' = None  # data.py:299
    cfg_branch_roles: 'list[str] | None' = None  # data.py:300
    cfg_branch_past_key_values: 'dict[str, Any] | None' = None  # data.py:301
    cfg_branch_kv_metadata: 'dict[str, dict[str, Any]] | None' = None  # data.py:302
    modules: 'dict[str, Any]' = field(default_factory=dict)  # data.py:305
    return_trajectory_latents: 'bool' = False  # data.py:307
    return_trajectory_decoded: 'bool' = False  # data.py:308
    trajectory_timesteps: 'list[torch.Tensor] | None' = None  # data.py:309
    trajectory_latents: 'torch.Tensor | None' = None  # data.py:310
    extra_args: 'dict[str, Any]' = field(default_factory=dict)  # data.py:313
    save_output: 'bool' = True  # data.py:316
    return_frames: 'bool' = False  # data.py:317
    lora_request: 'LoRARequest | None' = None  # data.py:320
    lora_scale: 'float' = 1.0  # data.py:321
    STA_param: 'list | None' = None  # data.py:324
    is_cfg_negative: 'bool' = False  # data.py:325
    mask_search_final_result_pos: 'list[list] | None' = None  # data.py:326
    mask_search_final_result_neg: 'list[list] | None' = None  # data.py:327
    VSA_sparsity: 'float' = 0.0  # data.py:330
    profile: 'bool' = False  # data.py:337
    num_profiled_timesteps: 'int' = 8  # data.py:338
    debug: 'bool' = False  # data.py:341
    output: 'torch.Tensor | None' = None  # data.py:344

    def __post_init__(self) -> None:
        # vllm_omni/inputs/data.py:346-348
        if self.quality is not None and self.quality not in DIFFUSION_QUALITY_LEVELS:
            raise ValueError(f"quality must be one of {list(DIFFUSION_QUALITY_LEVELS)}, got {self.quality!r}")

    @property
    def batch_size(self):
        # vllm_omni/inputs/data.py:350-354
        return self.num_outputs_per_prompt


OmniSamplingParams = OmniDiffusionSamplingParams  # data.py:411 also admits vllm.SamplingParams
