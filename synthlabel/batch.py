"""Plumbing shared by the label and verify batches: how many worker processes, how each
worker is set up, and how a surprise becomes one line of a report."""
from __future__ import annotations

import os


def worker_count(requested: int, n_items: int) -> int:
    """Processes to run for ``n_items`` files: ``requested`` (0 = all cores), never more
    than there are files, at least 1 (1 means: work in the calling process)."""
    workers = requested or os.cpu_count() or 1
    return min(workers, max(1, n_items))


def init_worker_threads() -> None:
    """Per-worker set-up: one OpenCV thread, since the pool already uses every core."""
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover
        pass


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
