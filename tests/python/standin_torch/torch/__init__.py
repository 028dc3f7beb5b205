"""STAND-IN for `torch`, for compat's xDiT adapter tests only (it is not PyTorch).

Only what backends/xdit/batch_text_to_image.py and the stand-in `xfuser`
(tests/python/standin/xfuser) touch: a few `torch.cuda` calls and the
`torch.distributed` calls the adapter makes to keep its ranks in step
(init_process_group, get_rank, get_world_size, new_group,
all_gather_object, destroy_process_group). The collectives work across real
processes through files in $STANDIN_TORCH_STORE, so the tests can start one
process per rank the way torchrun does (RANK, WORLD_SIZE, LOCAL_RANK).

It lives outside tests/python/standin/ on purpose: the vLLM-Omni adapter's
tests put that directory on PYTHONPATH and must keep seeing "no torch".

Knobs (environment variables):
  STANDIN_TORCH_STORE     directory shared by the ranks of one run (required when WORLD_SIZE > 1)
  STANDIN_TORCH_TIMEOUT   seconds a collective waits for the other ranks (default 20);
                          past it, it raises -- a rank that skipped a collective shows up
                          as this error instead of a hang
  STANDIN_TORCH_PEAK      peak bytes reported for device d: (d + 1) * this (default 1000000)
"""

__version__ = "0.0.0+standin"
IS_STANDIN = True

from . import compiler, cuda, distributed  # noqa: E402,F401
