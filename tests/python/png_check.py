"""The PNG check the backend tests share: what compat's image decoder needs
of a backend's file, without PIL (the tests use the standard library only)."""

from __future__ import annotations

import zlib
from pathlib import Path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_ok(path: Path) -> bool:
    """A PNG with a valid signature and CRC-correct chunks up to IEND."""
    data = path.read_bytes()
    if not data.startswith(PNG_MAGIC):
        return False
    pos = len(PNG_MAGIC)
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length : pos + 12 + length], "big")
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            return False
        pos += 12 + length
        if kind == b"IEND":
            return pos == len(data)
    return False
