import os

# The real one: xfuser/__version__.py of xfuser-0.7.0-py3-none-any.whl ("0.7.0").
# XFUSER_STANDIN_VERSION pretends to be another release (the adapter's version check).
__version__ = version = os.environ.get("XFUSER_STANDIN_VERSION", "0.7.0")
