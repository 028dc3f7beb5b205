"""STAND-IN xfuser.config (the real one re-exports these from .args, config/__init__.py:1)."""

from .args import FlexibleArgumentParser, xFuserArgs

__all__ = ["FlexibleArgumentParser", "xFuserArgs"]
