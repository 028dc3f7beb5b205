"""STAND-IN xfuser.core.distributed: environment set-up and teardown only.

init_distributed_environment() does what xfuser/core/distributed/parallel_state.py:230-280
does that matters here: set the device to LOCAL_RANK, then
torch.distributed.init_process_group(backend, "env://").
"""

import os

import torch
import torch.distributed


def init_distributed_environment(world_size=-1, rank=-1, distributed_init_method="env://", local_rank=-1, backend=None):
    if local_rank == -1:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local_rank)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(
            backend=backend or "nccl", init_method=distributed_init_method, world_size=world_size, rank=rank
        )


class _RuntimeState:
    def destroy_distributed_env(self) -> None:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


_RUNTIME = _RuntimeState()


def get_runtime_state() -> _RuntimeState:
    return _RUNTIME


def initialize_runtime_state(pipe, engine_config) -> None:
    pass
