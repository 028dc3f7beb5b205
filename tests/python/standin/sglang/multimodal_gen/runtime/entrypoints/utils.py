"""STAND-IN of GenerationResult (runtime/entrypoints/utils.py:192-213, 0.5.23):
the release's fields, in its order (released.GENERATION_RESULT_FIELDS)."""

from sglang.multimodal_gen import released


class GenerationResult:
    def __init__(self, **kwargs):
        for key in kwargs:
            if key not in released.GENERATION_RESULT_FIELDS:
                raise TypeError(f"GenerationResult.__init__() got an unexpected keyword argument '{key}'")
        for key in released.GENERATION_RESULT_FIELDS:
            setattr(self, key, kwargs.get(key, {"metrics": {}, "generation_time": 0.0,
                                                "peak_memory_mb": 0.0, "prompt_index": 0}.get(key)))
