"""Keep a C decoder's notes off the process's stderr.

libmpg123 (the MP3 decoder inside libsndfile) prints notes such as "Warning: Xing stream size off
by more than 1%, fuzzy seeking may be even more fuzzy than by design!" straight to file
descriptor 2, once per open, so a batch over truncated or re-muxed MP3s scrolled them through the
progress bar with no file name attached. Python cannot intercept them through ``sys.stderr``.

:func:`captured` points descriptor 2 at a temporary file for the duration of one decoder call.
Afterwards the decoder's lines go to the ``synthlabel`` logger at debug level (what the file's
problem means for labeling is reported by our own checks, e.g. "the audio ends early"), and any
other text (another thread may have written to stderr meanwhile) is written back to stderr
unchanged. Concurrent callers share one capture: the first in swaps the descriptor, the last out
restores it, so the swaps cannot interleave and leave stderr pointing at a closed file.

The swap is process-wide: meanwhile another thread's stderr lines come late, and those that
start like the decoder's ("Error: ...") go to the debug log. So it is done where
:func:`enabled` says (environment variable ``SYNTHLABEL_CAPTURE_DECODER_NOTES=1``): the command
line sets it for its own process; a service calling the library keeps its stderr untouched
unless it sets it too.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ENV_CAPTURE", "captured", "enabled", "is_decoder_note"]

#: "1": MP3 decoding captures descriptor 2 (see the module doc); anything else: it does not
ENV_CAPTURE = "SYNTHLABEL_CAPTURE_DECODER_NOTES"


def enabled() -> bool:
    """Whether decoder calls are to capture descriptor 2 (:data:`ENV_CAPTURE` is "1")."""
    return os.environ.get(ENV_CAPTURE) == "1"

log = logging.getLogger("synthlabel")

# What libmpg123 prints: "Warning: ...", "Note: ...", "Error: ..." (older builds), or
# "[src/libmpg123/parse.c:1234] error: ..." (newer ones).
_DECODER_LINE = re.compile(r"^(?:(?:Warning|Note|Error): |\[src/libmpg123/)")

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_capture = None


def is_decoder_note(line: str) -> bool:
    """Whether a line of captured stderr is one of libmpg123's notes."""
    return bool(_DECODER_LINE.match(line))


def _release() -> None:
    """Restore descriptor 2 and sort what was written to it meanwhile (called under the lock)."""
    global _saved_fd, _capture
    os.dup2(_saved_fd, 2)
    os.close(_saved_fd)
    _saved_fd = None
    _capture.seek(0)
    text = _capture.read().decode("utf-8", "replace")
    _capture.close()
    _capture = None
    other = []
    for line in text.splitlines(keepends=True):
        if is_decoder_note(line):
            log.debug("MP3 decoder: %s", line.strip())
        else:
            other.append(line)
    if other:
        data = "".join(other).encode("utf-8", "replace")
        try:
            os.write(2, data)
        except OSError:
            pass


def _start() -> bool:
    """Point descriptor 2 at a new temporary file (called under the lock); False when the
    process's descriptor 2 is closed or cannot be swapped."""
    global _saved_fd, _capture
    try:
        sys.stderr.flush()       # Python's own buffered text first, in order
    except (AttributeError, OSError, ValueError):
        pass
    try:
        capture = tempfile.TemporaryFile()
    except OSError:
        return False
    try:
        saved = os.dup(2)
    except OSError:
        capture.close()
        return False
    try:
        os.dup2(capture.fileno(), 2)
    except OSError:
        os.close(saved)
        capture.close()
        return False
    _capture, _saved_fd = capture, saved
    return True


@contextmanager
def captured() -> Iterator[None]:
    """Run the body with the decoder's writes to descriptor 2 captured (see the module doc).

    A process whose descriptor 2 is closed or cannot be swapped runs the body unchanged."""
    global _depth
    with _lock:
        entered = _depth > 0 or _start()
        if entered:
            _depth += 1
    try:
        yield
    finally:
        if entered:
            with _lock:
                _depth -= 1
                if _depth == 0:
                    _release()
