"""vllm_omni/inputs/data.py at 7bd8f25f: `OmniDiffusionSamplingParams`
(:174-333), a dataclass, so an unknown keyword is a TypeError as there. Only
the fields the batch script sets (B:367-375) exist here: one it does not set
is refused too, which is stricter than the real class."""
from dataclasses import dataclass

from torch import Generator


@dataclass
class OmniDiffusionSamplingParams:
    num_outputs_per_prompt: int = 1
    generator: Generator | list[Generator] | None = None
    height: int | None = None
    width: int | None = None
    num_inference_steps: int | None = None
    guidance_scale: float = 0.0
    true_cfg_scale: float | None = None

    @property
    def batch_size(self):  # data.py:308-312
        return self.num_outputs_per_prompt
