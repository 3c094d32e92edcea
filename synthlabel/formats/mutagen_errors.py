"""What mutagen's exceptions on damaged tags say, in one line a person can use.

Mutagen starts many messages with the name of the file it read ("'/tmp/synthlabel-x/input.mp3'
has invalid flags 0x8"): for ``verify_bytes`` a private temp file, and beside the path the
caller names already. Where a length or count runs past the data, its parsers raise plain
``IndexError`` / ``struct.error`` ("bytearray index out of range"), which read as our bug.
"""
from __future__ import annotations

import re
import struct

#: Python's errors for a length, count or offset in the tag that points past its data
_OVERRUN = (IndexError, KeyError, struct.error, OverflowError, MemoryError, EOFError)
_LEADING_NAME = re.compile(r"""^('[^']*'|"[^"]*")\s+(.*)$""")
_QUOTED_PATH = re.compile(r"""'[^']*/[^']*'|"[^"]*/[^"]*\"""")


def reason(exc: BaseException) -> str:
    """One line for ``exc`` raised by mutagen on a damaged file, at most 200 characters."""
    if isinstance(exc, _OVERRUN):
        return "a length or count in its tags points past their data"
    text = " ".join(str(exc).split())
    if m := _LEADING_NAME.match(text):
        rest = m[2]
        text = f"the tag {rest}" if rest.startswith(("has ", "is ")) else rest
    text = _QUOTED_PATH.sub("the file", text) or type(exc).__name__
    return text[:200]
