"""STAND-IN for vllm_omni.diffusion.data: DiffusionParallelConfig.

The real class (the released vllm-omni 0.30.0, wheel
vllm_omni-0.30.0-py3-none-any.whl, vllm_omni/diffusion/data.py:253-524) is a ``@config @dataclass`` (vLLM's config
decorator, a pydantic dataclass: an unknown keyword is a pydantic
``ValidationError``, "Unexpected keyword argument"); this stand-in is a plain
dataclass with the same 18 fields, defaults and order (generated from the wheel), so an unknown keyword is
a ``TypeError`` here. ``__post_init__`` derives ``sequence_parallel_size`` and
``world_size`` as data.py:280-345 does (HSDP left out), and
``_validate_parallel_config`` repeats the real assertions (data.py:242-278).

It is still present upstream, but compat's backend does not use it: the
degrees go to ``Omni(...)`` as keywords (see batch_text_to_image.py).
"""

from dataclasses import dataclass, fields
from typing import Any


@dataclass
class DiffusionParallelConfig:
    pipeline_parallel_size: int = 1  # data.py:256
    data_parallel_size: int | None = None  # data.py:259
    tensor_parallel_size: int = 1  # data.py:262
    enable_expert_parallel: bool = False  # data.py:265
    sequence_parallel_size: int | None = None  # data.py:268
    ulysses_degree: int = 1  # data.py:273
    ring_degree: int = 1  # data.py:276
    allgather_degree: int = 1  # data.py:279
    ulysses_mode: str = 'strict'  # data.py:282
    ulysses_a2a_permute: bool = False  # data.py:296
    cfg_parallel_size: int = 1  # data.py:299
    vae_patch_parallel_size: int = 1  # data.py:302
    text_encoder_tp_size: int = 1  # data.py:305
    vae_parallel_mode: str = 'tile'  # data.py:315
    use_hsdp: bool = False  # data.py:330
    mask_sp_padding: bool = False  # data.py:333
    hsdp_shard_size: int = -1  # data.py:341
    hsdp_replicate_size: int = 1  # data.py:344

    def __post_init__(self) -> None:
        # data.py:280-345 (without HSDP)
        if self.sequence_parallel_size is None:
            self.sequence_parallel_size = (
                self.allgather_degree if self.allgather_degree > 1 else self.ulysses_degree * self.ring_degree
            )
        data_parallel_size = self.data_parallel_size or 1
        self.world_size = (
            self.pipeline_parallel_size
            * data_parallel_size
            * self.tensor_parallel_size
            * self.sequence_parallel_size
            * self.cfg_parallel_size
        )
        self._validate_parallel_config()

    def _validate_parallel_config(self) -> None:
        # data.py:242-278 (the real one is a pydantic model_validator)
        assert self.pipeline_parallel_size > 0, "Pipeline parallel size must be > 0"
        assert self.tensor_parallel_size > 0, "Tensor parallel size must be > 0"
        assert self.sequence_parallel_size > 0, "Sequence parallel size must be > 0"
        assert self.ulysses_degree > 0, "Ulysses degree must be > 0"
        assert self.ring_degree > 0, "Ring degree must be > 0"
        assert self.cfg_parallel_size > 0, "CFG parallel size must be > 0"
        assert self.vae_patch_parallel_size > 0, "VAE patch parallel size must be > 0"
        expected_sp_size = (
            self.allgather_degree if self.allgather_degree > 1 else self.ulysses_degree * self.ring_degree
        )
        assert self.sequence_parallel_size == expected_sp_size, (
            f"Sequence parallel size must be {expected_sp_size}, but got {self.sequence_parallel_size}"
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DiffusionParallelConfig":
        # data.py:383-395
        if not isinstance(data, dict):
            raise TypeError(f"Expected parallel config dict, got {type(data)!r}")
        return cls(**data)


PARALLEL_FIELDS = frozenset(f.name for f in fields(DiffusionParallelConfig))
