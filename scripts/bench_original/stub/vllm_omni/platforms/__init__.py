"""vllm_omni/platforms/__init__.py at 7bd8f25f: `current_omni_platform`
(:79-90), resolved lazily to the CUDA platform on a GPU node (:21-41), whose
`device_type` is vLLM's "cuda". The simulated node has CUDA GPUs."""


class CudaOmniPlatform:
    device_type = "cuda"


_current_omni_platform = None


def __getattr__(name):
    if name == "current_omni_platform":
        global _current_omni_platform
        if _current_omni_platform is None:
            _current_omni_platform = CudaOmniPlatform()
        return _current_omni_platform
    raise AttributeError(f"No attribute named '{name}' exists in {__name__}.")
