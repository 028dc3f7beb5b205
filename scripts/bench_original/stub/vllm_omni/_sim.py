"""The simulated cost of the engine: a model load, then each prompt's time on
the configured parallel degree and cache backend. Read from the environment
the benchmark sets (scripts/bench_schedule.py --backend original):

  COMPAT_STUB_LOAD  seconds of the model load (default 2)
  COMPAT_STUB_BASE  seconds of one prompt on one GPU, no cache (default 2)

The cache speedups are deliberately not compat's model constant (1.6x), so
the planner's model is not tuned to the simulation.
"""
import hashlib
import os
import struct
import zlib

CACHE_SPEEDUP = {"tea_cache": 1.8, "cache_dit": 1.4}


def seconds(name, default):
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise ValueError(f"{name}={raw!r} is negative")
    return value


def load_seconds():
    return seconds("COMPAT_STUB_LOAD", 2.0)


def prompt_seconds(world_size, cache_backend):
    return seconds("COMPAT_STUB_BASE", 2.0) / world_size / CACHE_SPEEDUP.get(cache_backend, 1.0)


def visible_devices():
    """The GPUs the process may use: CUDA_VISIBLE_DEVICES, as compat sets it."""
    raw = os.environ.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return None
    return [d for d in raw.split(",") if d.strip()]


def colour(prompt, index):
    """A colour per prompt text and output index: the same prompt gives the
    same image in every configuration, as a lossless engine would."""
    h = hashlib.sha256(f"{index}\0{prompt}".encode()).digest()
    return h[0], h[1], h[2]


def write_png(path, rgb, width, height):
    """A real RGB PNG of one colour (standard library only)."""
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)
