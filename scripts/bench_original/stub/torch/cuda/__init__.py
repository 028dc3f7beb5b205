"""torch.cuda: is_available and manual_seed_all (see torch/__init__.py)."""
import os


def is_available():
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return visible is not None and any(d.strip() for d in visible.split(","))


def manual_seed_all(seed):
    if not isinstance(seed, int):
        raise TypeError(f"manual_seed_all(): argument 'seed' must be int, not {type(seed).__name__}")
