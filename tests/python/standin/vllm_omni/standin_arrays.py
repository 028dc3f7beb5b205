"""STAND-IN helper (no real vllm_omni module): a NumPy-like array without NumPy.

The tests run on a plain python3 with neither NumPy nor torch. Pipelines hand
back images as NumPy arrays or torch tensors (vllm_omni/diffusion/utils/
image_output.py:85-117 converts tensors; the text-to-image example converts
arrays with diffusers' numpy_to_pil), and ``bool(array)`` of more than one
element raises exactly this ValueError in NumPy -- so ``if images:`` on an
array blows up. ``FakeArray`` reproduces that, plus ``ndim``, ``shape``,
``dtype``, indexing along the first axis, ``len`` and ``tolist()``.
"""


class FakeDType:
    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = "f" if name.startswith("float") else "u"

    def __repr__(self) -> str:
        return f"dtype('{self.name}')"


class FakeArray:
    def __init__(self, data: list, dtype: str = "float32") -> None:
        self._data = data
        shape = []
        level = data
        while isinstance(level, list):
            shape.append(len(level))
            level = level[0] if level else None
        self.shape = tuple(shape)
        self.ndim = len(shape)
        self.size = 1
        for n in shape:
            self.size *= n
        self.dtype = FakeDType(dtype)

    def __bool__(self) -> bool:
        if self.size == 1:
            return bool(self.tolist())
        raise ValueError(
            "The truth value of an array with more than one element is ambiguous. Use a.any() or a.all()"
        )

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __getitem__(self, i: int) -> "FakeArray":
        return FakeArray(self._data[i], self.dtype.name)

    def tolist(self) -> list:
        return self._data


def solid_hwc(height: int, width: int, rgb01: tuple) -> FakeArray:
    """An HxWx3 float image in [0, 1], as diffusers' output_type="np" gives."""
    return FakeArray([[list(rgb01) for _ in range(width)] for _ in range(height)])
