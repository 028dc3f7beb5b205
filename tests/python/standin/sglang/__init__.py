"""STAND-IN sglang (not SGLang): the names, signatures, flags and dataclass
fields of the released sglang 0.5.23 that compat's adapter
(backends/sglang/batch_text_to_image.py) touches, built from tables generated
from the wheel (multimodal_gen/released.py, tests/python/gen_sglang_standin.py).
No GPU, no weights: each generate() returns a small image derived from its
request, and every call is recorded (SGLANG_STANDIN_RECORD) for the tests."""

from sglang._version import __version__  # noqa: F401  (real: sglang/version.py reads sglang/_version.py)
