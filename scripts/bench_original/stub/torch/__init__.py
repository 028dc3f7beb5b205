"""A stand-in for the four torch calls the original batch script makes
(B:250-254): torch.manual_seed, torch.cuda.is_available,
torch.cuda.manual_seed_all and torch.Generator(device=...).manual_seed. The
simulated node has CUDA GPUs when CUDA_VISIBLE_DEVICES names at least one
(compat sets it for every configuration); a CUDA generator without one is a
RuntimeError, as in torch. Anything else is an AttributeError."""
from . import cuda


class Generator:
    def __init__(self, device="cpu"):
        kind = str(device).split(":")[0]
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {device}")
        if kind == "cuda" and not cuda.is_available():
            raise RuntimeError("Found no NVIDIA driver on your system.")
        self.device = kind
        self._seed = 67280421310721  # torch's default seed

    def manual_seed(self, seed):
        if not isinstance(seed, int):
            raise TypeError(f"manual_seed(): argument 'seed' must be int, not {type(seed).__name__}")
        self._seed = seed
        return self

    def initial_seed(self):
        return self._seed


def manual_seed(seed):
    return Generator().manual_seed(seed)
