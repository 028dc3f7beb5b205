"""STAND-IN for vllm_omni.diffusion.data: DiffusionParallelConfig only."""


class DiffusionParallelConfig:
    """Stand-in: keeps the degrees it is given, as the real dataclass does."""

    def __init__(
        self,
        pipeline_parallel_size: int = 1,
        data_parallel_size: int = 1,
        tensor_parallel_size: int = 1,
        sequence_parallel_size=None,
        ulysses_degree: int = 1,
        ring_degree: int = 1,
        cfg_parallel_size: int = 1,
    ) -> None:
        self.pipeline_parallel_size = pipeline_parallel_size
        self.data_parallel_size = data_parallel_size
        self.tensor_parallel_size = tensor_parallel_size
        self.ulysses_degree = ulysses_degree
        self.ring_degree = ring_degree
        self.cfg_parallel_size = cfg_parallel_size
        self.sequence_parallel_size = (
            sequence_parallel_size if sequence_parallel_size is not None else ulysses_degree * ring_degree
        )

    def to_dict(self) -> dict:
        return dict(vars(self))
