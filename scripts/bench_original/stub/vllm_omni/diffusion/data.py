"""vllm_omni/diffusion/data.py at 7bd8f25f: the two names the batch script
imports from it (B:12), `DiffusionParallelConfig` and `logger`."""
import logging
import sys
from dataclasses import dataclass


def _init_logger(name):
    """vLLM's logger (vllm.logger.init_logger): to stdout, lines like
    `WARNING 03-23 16:30:05 [batch_text_to_image.py:413] message`, the format
    compat's reader of this log expects (src/results/batch_log.rs)."""
    log = logging.getLogger(name)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(
            logging.Formatter("%(levelname)s %(asctime)s [%(filename)s:%(lineno)d] %(message)s", "%m-%d %H:%M:%S")
        )
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


logger = _init_logger(__name__)  # data.py:29


@dataclass
class DiffusionParallelConfig:
    """data.py:32-157: the fields (with their defaults), the world size
    computed in __post_init__ (:96-157) and the validator's checks (:72-94).
    The real class is a pydantic-validated config; here a field of the wrong
    type is a TypeError rather than a coercion."""

    pipeline_parallel_size: int = 1
    data_parallel_size: int = 1
    tensor_parallel_size: int = 1
    enable_expert_parallel: bool = False
    sequence_parallel_size: int | None = None
    ulysses_degree: int = 1
    ring_degree: int = 1
    cfg_parallel_size: int = 1
    vae_patch_parallel_size: int = 1
    use_hsdp: bool = False
    hsdp_shard_size: int = -1
    hsdp_replicate_size: int = 1

    def __post_init__(self) -> None:
        for name, kind in (
            ("pipeline_parallel_size", int),
            ("data_parallel_size", int),
            ("tensor_parallel_size", int),
            ("ulysses_degree", int),
            ("ring_degree", int),
            ("cfg_parallel_size", int),
            ("vae_patch_parallel_size", int),
            ("hsdp_shard_size", int),
            ("hsdp_replicate_size", int),
            ("enable_expert_parallel", bool),
            ("use_hsdp", bool),
        ):
            value = getattr(self, name)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise TypeError(f"DiffusionParallelConfig.{name} must be {kind.__name__}, got {value!r}")
        if self.sequence_parallel_size is None:
            self.sequence_parallel_size = self.ulysses_degree * self.ring_degree
        other = (
            self.pipeline_parallel_size
            * self.data_parallel_size
            * self.tensor_parallel_size
            * self.ulysses_degree
            * self.ring_degree
            * self.cfg_parallel_size
        )
        if self.use_hsdp:
            if self.tensor_parallel_size > 1 or self.data_parallel_size > 1:
                raise ValueError(
                    "HSDP (use_hsdp=True) cannot be used with TP or DP "
                    f"(tensor_parallel_size={self.tensor_parallel_size}, "
                    f"data_parallel_size={self.data_parallel_size})."
                )
            if self.hsdp_shard_size == -1:
                if other == 1:
                    raise ValueError("Cannot auto-calculate hsdp_shard_size when other parallelism is all 1.")
                if other % self.hsdp_replicate_size != 0:
                    raise ValueError(
                        f"Invalid HSDP configuration: replicate_size ({self.hsdp_replicate_size}) "
                        f"must evenly divide world_size ({other}) when shard_size is -1."
                    )
                self.hsdp_shard_size = other // self.hsdp_replicate_size
                self.world_size = other
            else:
                hsdp = self.hsdp_replicate_size * self.hsdp_shard_size
                if other != 1 and hsdp != other:
                    raise ValueError(f"HSDP dimensions ({hsdp}) must equal world_size from other parallelism ({other})")
                self.world_size = hsdp if other == 1 else other
        else:
            self.world_size = other
        # The validator (mode="after"), data.py:72-94.
        assert self.pipeline_parallel_size > 0, "Pipeline parallel size must be > 0"
        assert self.data_parallel_size > 0, "Data parallel size must be > 0"
        assert self.tensor_parallel_size > 0, "Tensor parallel size must be > 0"
        assert self.sequence_parallel_size > 0, "Sequence parallel size must be > 0"
        assert self.ulysses_degree > 0, "Ulysses degree must be > 0"
        assert self.ring_degree > 0, "Ring degree must be > 0"
        assert self.cfg_parallel_size in [1, 2, 3], (
            f"CFG parallel size must be 1, 2, or 3, but got {self.cfg_parallel_size}"
        )
        assert self.vae_patch_parallel_size > 0, "VAE patch parallel size must be > 0"
        assert self.sequence_parallel_size == self.ulysses_degree * self.ring_degree, (
            "Sequence parallel size must be equal to the product of ulysses degree and ring degree"
        )
        if self.use_hsdp:
            assert self.hsdp_replicate_size > 0, "HSDP replicate size must be > 0"
            assert self.hsdp_shard_size > 0, "HSDP shard size must be > 0"
