"""STAND-IN for vllm_omni.inputs.data: OmniDiffusionSamplingParams.

A plain dataclass with exactly the fields of the real one -- the released
vllm-omni 0.30.0 (wheel vllm_omni-0.30.0-py3-none-any.whl),
vllm_omni/inputs/data.py:204-419 (line of each field in its comment; generated
from the wheel, and test_released_engines.py compares them with it) -- with
the real defaults. Annotations are
kept as text (no torch here). Like the real dataclass, an unknown keyword raises
``TypeError: ...__init__() got an unexpected keyword argument ...``, and
``__post_init__`` checks ``quality`` as data.py:357-359 does.

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
    max_sequence_length: 'int | None' = None  # data.py:214
    prompt_template: 'dict[str, Any] | None' = None  # data.py:215
    do_classifier_free_guidance: 'bool' = False  # data.py:216
    output_type: 'str | None' = None  # data.py:217
    quality: 'str | None' = None  # data.py:221
    num_outputs_per_prompt: 'int' = 1  # data.py:224
    seed: 'int | None' = None  # data.py:225
    generator: 'torch.Generator | list[torch.Generator] | None' = None  # data.py:226
    generator_device: 'str | None' = None  # data.py:227
    layers: 'int' = 4  # data.py:230
    cfg_normalize: 'bool' = False  # data.py:233
    use_en_prompt: 'bool' = False  # data.py:236
    resolution: 'int' = 640  # data.py:239
    is_prompt_processed: 'bool' = False  # data.py:242
    latents: 'torch.Tensor | None' = None  # data.py:245
    audio_latents: 'torch.Tensor | None' = None  # data.py:246
    raw_latent_shape: 'torch.Tensor | None' = None  # data.py:247
    noise_pred: 'torch.Tensor | None' = None  # data.py:248
    image_latent: 'torch.Tensor | None' = None  # data.py:249
    height_latents: 'list[int] | int | None' = None  # data.py:252
    width_latents: 'list[int] | int | None' = None  # data.py:253
    num_frames: 'int' = 1  # data.py:254
    num_frames_round_down: 'bool' = False  # data.py:255
    height: 'int | None' = None  # data.py:258
    width: 'int | None' = None  # data.py:259
    fps: 'float | None' = None  # data.py:260
    frame_rate: 'float | None' = None  # data.py:261
    height_not_provided: 'bool' = False  # data.py:262
    width_not_provided: 'bool' = False  # data.py:263
    enable_frame_interpolation: 'bool' = False  # data.py:264
    frame_interpolation_exp: 'int' = 1  # data.py:265
    frame_interpolation_scale: 'float' = 1.0  # data.py:266
    frame_interpolation_model_path: 'str | None' = None  # data.py:267
    timesteps: 'torch.Tensor | None' = None  # data.py:270
    timestep: 'torch.Tensor | float | int | None' = None  # data.py:271
    step_index: 'int | None' = None  # data.py:272
    boundary_ratio: 'float | None' = None  # data.py:273
    num_inference_steps: 'int | None' = None  # data.py:277
    guidance_scale: 'float | None' = None  # data.py:278
    guidance_scale_provided: 'bool' = False  # data.py:279
    guidance_scale_2: 'float | None' = None  # data.py:280
    guidance_scale_2_provided: 'bool' = False  # data.py:281
    guidance_rescale: 'float' = 0.0  # data.py:282
    strength: 'float | None' = None  # data.py:283
    decode_timestep: 'float | list[float] | None' = None  # data.py:284
    decode_noise_scale: 'float | list[float] | None' = None  # data.py:285
    eta: 'float' = 0.0  # data.py:286
    sigmas: 'list[float] | None' = None  # data.py:287
    true_cfg_scale: 'float | None' = None  # data.py:289
    n_tokens: 'int | None' = None  # data.py:291
    extra_step_kwargs: 'dict[str, Any]' = field(default_factory=dict)  # data.py:292
    past_key_values: 'Any | None' = None  # data.py:295
    kv_metadata: 'dict[str, Any] | None' = None  # data.py:296
    need_kv_receive: 'bool' = True  # data.py:297
    cfg_text_past_key_values: 'Any | None' = None  # data.py:300
    cfg_img_past_key_values: 'Any | None' = None  # data.py:301
    cfg_text_kv_metadata: 'dict[str, Any] | None' = None  # data.py:302
    cfg_img_kv_metadata: 'dict[str, Any] | None' = None  # data.py:303
    cfg_kv_request_ids: 'dict[str, str] | None' = None  # data.py:304
    cfg_active_branch: 'str | None' = None  # data.py:305
    cfg_branch_roles: 'list[str] | None' = None  # data.py:306
    cfg_branch_past_key_values: 'dict[str, Any] | None' = None  # data.py:307
    cfg_branch_kv_metadata: 'dict[str, dict[str, Any]] | None' = None  # data.py:308
    modules: 'dict[str, Any]' = field(default_factory=dict)  # data.py:311
    return_trajectory_latents: 'bool' = False  # data.py:313
    return_trajectory_decoded: 'bool' = False  # data.py:314
    trajectory_timesteps: 'list[torch.Tensor] | None' = None  # data.py:315
    trajectory_latents: 'torch.Tensor | None' = None  # data.py:316
    extra_args: 'dict[str, Any]' = field(default_factory=dict)  # data.py:319
    save_output: 'bool' = True  # data.py:322
    return_frames: 'bool' = False  # data.py:323
    lora_request: 'LoRARequest | None' = None  # data.py:326
    lora_scale: 'float' = 1.0  # data.py:327
    STA_param: 'list | None' = None  # data.py:330
    is_cfg_negative: 'bool' = False  # data.py:331
    mask_search_final_result_pos: 'list[list] | None' = None  # data.py:332
    mask_search_final_result_neg: 'list[list] | None' = None  # data.py:333
    VSA_sparsity: 'float' = 0.0  # data.py:336
    profile: 'bool' = False  # data.py:343
    num_profiled_timesteps: 'int' = 8  # data.py:344
    debug: 'bool' = False  # data.py:347
    output: 'torch.Tensor | None' = None  # data.py:350
    emit_request_lifecycle: 'bool' = False  # data.py:355

    def __post_init__(self) -> None:
        # vllm_omni/inputs/data.py:357-359
        if self.quality is not None and self.quality not in DIFFUSION_QUALITY_LEVELS:
            raise ValueError(f"quality must be one of {list(DIFFUSION_QUALITY_LEVELS)}, got {self.quality!r}")

    @property
    def batch_size(self):
        # vllm_omni/inputs/data.py:361-366
        return self.num_outputs_per_prompt


OmniSamplingParams = OmniDiffusionSamplingParams  # data.py:411 also admits vllm.SamplingParams
