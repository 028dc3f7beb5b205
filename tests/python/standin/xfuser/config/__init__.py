"""STAND-IN xfuser.config (the real one re-exports these from .args)."""

from .args import FlexibleArgumentParser, xFuserArgs

__all__ = ["FlexibleArgumentParser", "xFuserArgs"]
