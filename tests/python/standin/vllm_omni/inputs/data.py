"""STAND-IN for vllm_omni.inputs.data: OmniDiffusionSamplingParams only."""


class OmniDiffusionSamplingParams:
    """Stand-in: stores whatever keyword arguments it is given."""

    def __init__(self, **kwargs) -> None:
        self.__dict__.update(kwargs)

    def to_dict(self) -> dict:
        out = {}
        for k, v in vars(self).items():
            out[k] = v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)
        return out
