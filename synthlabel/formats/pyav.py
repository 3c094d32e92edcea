"""The one door to PyAV containers: :func:`open_container` is ``av.open`` with the tag policy
every reader and writer here shares.

Tags are not always UTF-8: a Latin-1 ``title`` written by an old tagger is common in MP4, MOV,
M4A and Matroska files. PyAV decodes tags strictly by default, so such a file could be neither
opened nor labeled. With ``surrogateescape`` an undecodable byte becomes a lone surrogate
(``'Caf\\udce9'``) on reading and the same byte again on writing, so the tag is carried through
byte for byte rather than refused or altered.
"""
from __future__ import annotations

import os

METADATA_ERRORS = "surrogateescape"


def open_container(path: str | os.PathLike[str], mode: str = "r", **kw):
    """``av.open(path, mode, **kw)`` that reads and writes non-UTF-8 tags losslessly."""
    import av

    kw.setdefault("metadata_errors", METADATA_ERRORS)
    return av.open(os.fspath(path), mode, **kw)
