"""STAND-IN sglang.multimodal_gen: exports DiffGenerator like the real
__init__ (a LazyImport of runtime.entrypoints.diffusion_generator)."""

from sglang.multimodal_gen.runtime.entrypoints.diffusion_generator import DiffGenerator  # noqa: F401

__all__ = ["DiffGenerator"]
