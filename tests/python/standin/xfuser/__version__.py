__version__ = "0.4.5+standin"  # the real one: "0.4.5" (xfuser/__version__.py:1)
