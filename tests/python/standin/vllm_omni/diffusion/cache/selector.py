"""STAND-IN for vllm_omni.diffusion.cache.selector (vllm-omni 0.30.0,
diffusion/cache/selector.py:15-56): get_cache_backend picks a backend by name
and raises ValueError for any other. The backends here only keep their config."""

from typing import Any


class _Backend:
    def __init__(self, name: str, config: Any) -> None:
        self.name = name
        self.config = config
        self.enabled = False


def get_cache_backend(cache_backend: str | None, cache_config: Any):
    if cache_backend is None or cache_backend == "none":
        return None
    if cache_backend in ("cache_dit", "tea_cache", "mag_cache", "sea_cache", "step_cache", "stepcache",
                         "step_cache_dit"):
        return _Backend(cache_backend, cache_config)
    raise ValueError(
        f"Unsupported cache backend: {cache_backend}. "
        "Supported: 'cache_dit', 'tea_cache', 'mag_cache', 'sea_cache', 'step_cache'"
    )
