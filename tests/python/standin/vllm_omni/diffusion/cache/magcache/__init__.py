"""STAND-IN for vllm_omni.diffusion.cache.magcache (vllm-omni 0.30.0)."""
