"""STAND-IN torch.cuda: one fake device per local rank, nothing allocated."""

import os

_device = None


def is_available() -> bool:
    return True


def device_count() -> int:
    return int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))


def set_device(device) -> None:
    global _device
    _device = int(device)


def current_device() -> int:
    return _device if _device is not None else int(os.environ.get("LOCAL_RANK", "0"))


def synchronize(device=None) -> None:
    pass


def empty_cache() -> None:
    pass


def max_memory_allocated(device=None) -> int:
    d = current_device() if device is None else int(device)
    return (d + 1) * int(os.environ.get("STANDIN_TORCH_PEAK", "1000000"))
