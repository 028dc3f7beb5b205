"""STAND-IN for vllm_omni.entrypoints.omni: a fake Omni that records calls.

generate() returns a list with one object shaped like vLLM-Omni's
OmniRequestOutput (an `.images` list); each image is a TinyImage whose
colour depends on the seed, so different seeds give different files.
"""

import os
import struct
import zlib

from vllm_omni import record


def png_bytes(width: int, height: int, rgb: tuple) -> bytes:
    """A valid 8-bit RGB PNG of one colour, written with zlib + struct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    raw = row * height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


class TinyImage:
    """Stand-in image: `.save(path)` writes a tiny PNG (no Pillow needed)."""

    def __init__(self, width: int, height: int, rgb: tuple) -> None:
        self.size = (width, height)
        self.rgb = rgb

    def save(self, path, *args, **kwargs) -> None:
        with open(path, "wb") as f:
            f.write(png_bytes(self.size[0], self.size[1], self.rgb))


class StandinRequestOutput:
    """Stand-in for OmniRequestOutput: just `.images`."""

    def __init__(self, images: list) -> None:
        self.images = images


class Omni:
    """Stand-in for vllm_omni Omni: records constructor and generate() calls."""

    def __init__(self, **kwargs) -> None:
        if os.environ.get("VLLM_OMNI_STANDIN_FAIL_INIT"):
            record("init_failed")
            raise RuntimeError("stand-in: model load failed")
        pc = kwargs.get("parallel_config")
        record(
            "init",
            kwargs={k: v for k, v in kwargs.items() if k != "parallel_config"},
            parallel_config=pc.to_dict() if pc is not None else None,
            parallel_config_type=type(pc).__module__ + "." + type(pc).__name__ if pc is not None else None,
        )
        self.kwargs = kwargs
        self.closed = False

    def generate(self, prompt, sampling_params=None, **kwargs):
        text = prompt["prompt"] if isinstance(prompt, dict) else prompt
        record(
            "generate",
            prompt=prompt,
            sampling_params=sampling_params.to_dict() if sampling_params is not None else None,
            sampling_params_type=type(sampling_params).__module__ + "." + type(sampling_params).__name__,
            extra=sorted(kwargs),
        )
        fail_on = os.environ.get("VLLM_OMNI_STANDIN_FAIL_ON")
        if fail_on and fail_on in text:
            raise RuntimeError("CUDA out of memory (stand-in)")
        seed = getattr(sampling_params, "seed", 0) or 0
        rgb = (seed * 37 % 256, seed * 91 % 256, seed * 13 % 256)
        w = min(getattr(sampling_params, "width", 8) or 8, 8)
        h = min(getattr(sampling_params, "height", 8) or 8, 8)
        return [StandinRequestOutput([TinyImage(w, h, rgb)])]

    def close(self) -> None:
        record("close")
        self.closed = True
