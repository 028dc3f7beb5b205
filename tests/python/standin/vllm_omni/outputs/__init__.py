"""STAND-IN for vllm_omni.outputs: OmniRequestOutput as current releases return it.

Fields and the ``multimodal_output`` property follow vLLM-Omni ``main``
bd4f9acfd30456cb8fa98af53d32f7adc34e03a0, vllm_omni/outputs/__init__.py:107-335,
where OmniRequestOutput *is* a vLLM RequestOutput (since #5146, 2026-08-12): the
stage's completion outputs sit in ``.outputs`` (vLLM CompletionOutput objects,
each of which may carry a ``multimodal_output`` dict), the diffusion images in
``.images``, and ``multimodal_output`` returns the first completion's payload,
else ``_multimodal_output`` (lines 323-335). ``peak_memory_mb`` (line 175) is
the rank-0 worker's torch ``max_memory_reserved`` for the request.

Releases 0.18-0.26 wrapped the stage output in ``.request_output`` instead of
inheriting (vllm_omni/outputs.py at a5bf33f2: ``request_output``, ``images``,
``_multimodal_output``, ``peak_memory_mb``); ``LegacyOmniRequestOutput`` below
has that shape.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CompletionOutput:
    """Stand-in for vllm.outputs.CompletionOutput (only what image lookup touches);
    vLLM-Omni attaches ``multimodal_output`` to it."""

    index: int = 0
    text: str = ""
    token_ids: list = field(default_factory=list)
    multimodal_output: Any = None


@dataclass
class OmniRequestOutput:
    # --- Inherited RequestOutput attributes (outputs/__init__.py:141-154) ---
    request_id: str = ""
    prompt: Any = None
    prompt_token_ids: list | None = None
    prompt_logprobs: Any = None
    outputs: list = field(default_factory=list)
    finished: bool = True
    metrics: Any = field(default_factory=dict)
    lora_request: Any = None
    encoder_prompt: str | None = None
    encoder_prompt_token_ids: list | None = None
    num_cached_tokens: int | None = None
    num_cache_creation_tokens: int | None = None
    kv_transfer_params: dict | None = None
    ec_transfer_params: dict | None = None
    # --- Pipeline stage fields (157-159) ---
    stage_id: int | None = None
    replica_id: int | None = None
    final_output_type: str = "text"
    # --- Diffusion model fields (162-169) ---
    images: list = field(default_factory=list)
    latents: Any = None
    trajectory_latents: Any = None
    trajectory_timesteps: Any = None
    trajectory_log_probs: Any = None
    trajectory_decoded: list | None = None
    _multimodal_output: dict = field(default_factory=dict)
    _custom_output: dict = field(default_factory=dict)
    # profiling data (172), memory (175), errors (178-180)
    stage_durations: dict = field(default_factory=dict)
    peak_memory_mb: float = 0.0
    error: str | None = None
    error_status_code: int | None = None
    error_type: str | None = None

    @property
    def multimodal_output(self) -> Any:
        # outputs/__init__.py:323-335
        for output in self.outputs:
            if mm := getattr(output, "multimodal_output", None):
                return mm
        return self._multimodal_output

    @property
    def num_images(self) -> int:
        return len(self.images)


@dataclass
class LegacyOmniRequestOutput:
    """0.18-era shape (vllm_omni/outputs.py at a5bf33f2, lines 49-69, 112-127)."""

    request_id: str = ""
    finished: bool = True
    stage_id: int | None = None
    final_output_type: str = "text"
    request_output: Any = None
    images: list = field(default_factory=list)
    prompt: Any = None
    latents: Any = None
    metrics: dict = field(default_factory=dict)
    _multimodal_output: dict = field(default_factory=dict)
    _custom_output: dict = field(default_factory=dict)
    stage_durations: dict = field(default_factory=dict)
    peak_memory_mb: float = 0.0

    @property
    def multimodal_output(self) -> Any:
        if self.request_output is None:
            return self._multimodal_output
        for output in getattr(self.request_output, "outputs", []):
            if mm := getattr(output, "multimodal_output", None):
                return mm
        if mm := getattr(self.request_output, "multimodal_output", None):
            return mm
        return self._multimodal_output
