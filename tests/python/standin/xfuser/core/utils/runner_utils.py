"""STAND-IN xfuser.core.utils.runner_utils: log() and is_last_process().

is_last_process() behaves as xfuser/core/utils/runner_utils.py:32-40: the
process whose RANK is WORLD_SIZE - 1, read from the environment (torchrun's).
"""

import logging
import os

logger = logging.getLogger(__name__)


def is_last_process() -> bool:
    return int(os.environ.get("RANK")) == int(os.environ.get("WORLD_SIZE")) - 1


def log(message: str, debug=False, log_from_all_processes: bool = False) -> None:
    if log_from_all_processes or is_last_process():
        (logger.debug if debug else logger.info)(message)
