"""Shared by the tests: the package on sys.path, the live gateway's address, tiny PNGs and folders."""

from __future__ import annotations

import os
import struct
import sys
import unittest
import zlib
from pathlib import Path
from typing import Dict, Tuple

# The tests run against the source tree (no install needed): clients/python on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from diffda import Client  # noqa: E402


def live_gateway() -> Tuple[str, str, str]:
    """(url, admin key, read-only key) of the gateway the tests run against.

    Set by test/python-client.test.ts, which starts services/gateway/src/testing/serve-fake-compute.ts.
    Without DIFFDA_URL the live tests are skipped, unless DIFFDA_REQUIRE_LIVE=1 (as that runner sets),
    where a missing gateway is a failure rather than a silent skip.
    """
    url = os.environ.get("DIFFDA_URL")
    if not url:
        if os.environ.get("DIFFDA_REQUIRE_LIVE") == "1":
            raise RuntimeError("DIFFDA_REQUIRE_LIVE=1 but DIFFDA_URL is not set")
        raise unittest.SkipTest("DIFFDA_URL is not set: no live gateway")
    return url, os.environ.get("DIFFDA_API_KEY", ""), os.environ.get("DIFFDA_READ_KEY", "")


def live_client(key: str = "admin") -> Client:
    url, admin, reader = live_gateway()
    return Client(url, api_key={"admin": admin, "read": reader}[key] or None, timeout=20)


def png(width: int = 8, height: int = 8, value: int = 128) -> bytes:
    """A solid gray 8-bit PNG, written by hand (no imaging library here)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([value % 256]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def image_folder(root: Path, layout: Dict[str, int], prefix: str = "") -> Path:
    """Writes ``<prefix>/<class>/<i>.png`` for each class and count; returns ``root``."""
    for index, (class_name, count) in enumerate(sorted(layout.items())):
        folder = root / prefix / class_name if prefix else root / class_name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            (folder / f"{i}.png").write_bytes(png(value=40 * index + 10 * i))
    return root
