"""STAND-IN for vllm_omni.diffusion.cache.magcache.strategy (vllm-omni 0.30.0,
diffusion/cache/magcache/strategy.py:414-445): the registry of transformers whose
MagCache ratios ship with the release. Only the registry's keys are kept (the
real strategies hold torch tensors of ratios); test_released_engines.py checks
they are the wheel's."""

from typing import Any


class MagCacheStrategyRegistry:
    _registry: dict[str, Any] = {}

    @classmethod
    def register(cls, name: str, strategy: Any) -> None:
        cls._registry[name] = strategy

    @classmethod
    def get(cls, transformer_type: str) -> Any:
        return cls._registry[transformer_type]


# strategy.py:443 and 445
MagCacheStrategyRegistry.register("FluxTransformer2DModel", object())
MagCacheStrategyRegistry.register("Flux2Transformer2DModel", object())
