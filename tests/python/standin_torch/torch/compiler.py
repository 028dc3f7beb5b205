"""STAND-IN torch.compiler: reset() only (xFuserModelRunner.cleanup calls it)."""


def reset() -> None:
    pass
