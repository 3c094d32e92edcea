"""Plumbing shared by the label and verify batches: how many worker processes, how each
worker is set up, and how a surprise becomes one line of a report."""
from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager


def worker_count(requested: int, n_items: int) -> int:
    """Processes to run for ``n_items`` files: ``requested`` (0 = all cores), never more
    than there are files, at least 1 (1 means: work in the calling process)."""
    workers = requested or os.cpu_count() or 1
    return min(workers, max(1, n_items))


def init_worker_process() -> None:
    """Per-worker set-up: one OpenCV thread, since the pool already uses every core; and the
    signals of an interrupt (see :func:`stop_workers`)."""
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover
        pass
    # Ctrl-C reaches every process of the terminal's group. Workers ignore it and leave the
    # decision to the parent, which stops them with SIGTERM; SIGTERM then raises SystemExit,
    # so the file being written unwinds through its `finally` blocks and its temp files are
    # removed (the default SIGTERM would kill the worker on the spot and leave them behind).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum, frame) -> None:
    sys.exit(128 + signum)


class Terminated(KeyboardInterrupt):
    """SIGTERM in the main process (``timeout``, ``docker stop``, systemd): handled like
    Ctrl-C, so the files in progress unwind and remove their temp files."""


def terminate_as_interrupt() -> None:
    """In the command's main process: SIGTERM raises :class:`Terminated` (the default
    action would kill the process on the spot and leave temp files behind)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextmanager
def stopping_on_interrupt(pool: ProcessPoolExecutor) -> Iterator[None]:
    """Around the use of ``pool``: on Ctrl-C (KeyboardInterrupt in the parent), stop the
    workers cleanly (:func:`stop_workers`) before the interrupt goes on up."""
    try:
        yield
    except (KeyboardInterrupt, GeneratorExit):   # GeneratorExit: a streaming caller stopped
        stop_workers(pool)
        raise


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """On an interrupt in the parent: cancel the files not started, stop the workers (they
    clean up their temp files, see :func:`init_worker_process`) and wait for them."""
    # ProcessPoolExecutor has no public way to stop a running call; its worker processes
    # are in ``_processes`` (CPython 3.8-3.13).
    for proc in list(getattr(pool, "_processes", {}).values()):
        if proc.is_alive():
            proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type name when it has none). A short message
    keeps its line breaks as ``\\n`` (a file name may hold a newline: cutting there lost the
    rest of the name); a long one is cut to its first line (a traceback-like dump)."""
    if isinstance(exc, OSError) and exc.strerror:
        # "Permission denied: /x/y", not "[Errno 13] Permission denied: '/x/y'"
        text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    else:
        text = str(exc).strip()
    if not text:
        return type(exc).__name__
    if "\n" in text or "\r" in text:
        if len(text) <= 500:
            return text.replace("\r", "\\r").replace("\n", "\\n")
        return text.splitlines()[0]
    return text
