"""Plumbing shared by the label and verify batches: how many worker processes, how each
worker is set up, how a worker that dies costs only its own file, and how a surprise becomes
one line of a report."""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager


def worker_count(requested: int, n_items: int) -> int:
    """Processes to run for ``n_items`` files: ``requested`` (0 = all cores), never more
    than there are files, at least 1 (1 means: work in the calling process)."""
    workers = requested or os.cpu_count() or 1
    return min(workers, max(1, n_items))


def init_worker_process() -> None:
    """Per-worker set-up: one OpenCV thread and one BLAS thread, since the pool already uses
    every core; and the signals of an interrupt (see :func:`stop_workers`)."""
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover
        pass
    # OpenBLAS's own threads busy-wait for work: two workers with a BLAS pool each on two
    # cores spin against each other (a forked worker was once seen spinning in a product in
    # wm_audio under a loaded test run). One thread each: the workers are the parallelism.
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # pragma: no cover
        pass
    # Ctrl-C reaches every process of the terminal's group. Workers ignore it and leave the
    # decision to the parent, which stops them with SIGTERM; SIGTERM then raises SystemExit,
    # so the file being written unwinds through its `finally` blocks and its temp files are
    # removed (the default SIGTERM would kill the worker on the spot and leave them behind).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _cannot_raise_here(frame) -> bool:
    """Is ``frame`` where Python ignores an exception (and prints it, as "Exception ignored
    in ..."): an import lock's weakref callback, a finalizer, or a ctypes callback (c2pa
    reads and writes the file through Python callbacks) with whatever it calls?"""
    if frame is None:
        return False
    if frame.f_code.co_filename.startswith("<frozen importlib") or frame.f_code.co_name == "__del__":
        return True
    f = frame
    while f is not None:
        code = f.f_code
        if "callback" in code.co_name and os.path.basename(os.path.dirname(code.co_filename)) == "c2pa":
            return True
        f = f.f_back
    return False


def _deferred(signum, frame) -> bool:
    """Where an exception raised now would be ignored (:func:`_cannot_raise_here`: the
    process went on with its file and printed a traceback), send ``signum`` again a moment
    later, outside that frame, and say so."""
    if not _cannot_raise_here(frame):
        return False
    threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
    return True


def _exit_on_sigterm(signum, frame) -> None:
    if not _deferred(signum, frame):
        sys.exit(128 + signum)


def _run_item(fn: Callable, item):
    """A worker's call of ``fn(item)`` (:func:`pool_map`). The SIGTERM of :func:`stop_workers`
    raises SystemExit in the call, which unwinds the file's ``finally`` blocks (temp files
    removed); then the worker leaves. ProcessPoolExecutor would catch that SystemExit as the
    call's result and go on with the next call it had already queued: after a Ctrl-C, one more
    file could be labeled and written, and never reported."""
    try:
        return fn(item)
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 1)


class Terminated(KeyboardInterrupt):
    """SIGTERM in the main process (``timeout``, ``docker stop``, systemd): handled like
    Ctrl-C, so the files in progress unwind and remove their temp files."""


def terminate_as_interrupt() -> None:
    """In the command's main process: SIGTERM raises :class:`Terminated` (the default
    action would kill the process on the spot and leave temp files behind), and neither it
    nor Ctrl-C's KeyboardInterrupt is raised where Python would ignore it (a c2pa callback:
    the file went on and a traceback was printed); they come a moment later instead."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _raise_interrupt)


def _raise_interrupt(signum, frame) -> None:
    """Ctrl-C as Python's default handler takes it, but never inside a c2pa callback."""
    if not _deferred(signum, frame):
        raise KeyboardInterrupt


def _raise_terminated(signum, frame) -> None:
    if not _deferred(signum, frame):
        raise Terminated()


@contextmanager
def stopping_on_interrupt(pool: ProcessPoolExecutor,
                          busy: Callable[[], bool] | None = None) -> Iterator[None]:
    """Around the use of ``pool``: on Ctrl-C (KeyboardInterrupt in the parent), stop the
    workers cleanly (:func:`stop_workers`) before the interrupt goes on up. A streaming caller
    that stops early (GeneratorExit) stops them too while ``busy()`` says calls are still
    running; once every call is done the pool shuts down as usual: terminating workers idle
    on the call queue sometimes printed their "EOFError: Ran out of input" traceback."""
    try:
        yield
    except KeyboardInterrupt:
        stop_workers(pool)
        raise
    except GeneratorExit:
        if busy is None or busy():
            stop_workers(pool)
        else:
            pool.shutdown(wait=True)
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


def _context(fork: bool):
    """How worker processes start. ``fork``: by forking the caller, which costs nothing, and
    is safe only in a process that has not run OpenCV (or another library that starts
    threads): a child forked after that can hang on a lock one of those threads held (a
    pool forked after the tests' in-process labeling hung in ``cv2.setNumThreads``). The
    command line, whose main process only plans the batch, forks. Otherwise (a service that
    labels in-process, then runs a batch) the workers start from a fork server, ~1 s more
    per batch. Where neither exists (not POSIX), the platform default."""
    try:
        return multiprocessing.get_context("fork" if fork else "forkserver")
    except ValueError:
        return multiprocessing.get_context()


def pool_map(fn: Callable, items: list, workers: int, initializer: Callable | None = None,
             initargs: tuple = (), retry: Callable | None = None,
             fork: bool = False) -> Iterator[tuple[int, object]]:
    """``fn(item)`` for every item in a pool of ``workers`` processes: yields ``(index,
    result)`` as each call finishes, or ``(index, WorkerDied)`` for an item whose worker
    process died under it, and ``(index, exception)`` for any other failure of the call.

    A worker that dies (a crash inside a native library, the out-of-memory killer) breaks a
    ProcessPoolExecutor: every call not finished then fails, also those of files that had
    nothing to do with it. So the unfinished items run again in a fresh pool, as long as
    each round finishes some; after a round that finishes none, the rest run one at a time,
    each in a worker of its own, and only an item whose own worker dies is reported.
    ``retry(item)``: the item to run again after a broken round (its first attempt may have
    finished its work before its result was lost). ``fork``: see :func:`_context`."""
    pending = list(range(len(items)))
    while pending:
        finished: set[int] = set()
        broken = False
        pool = ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=_context(fork),
                                   initializer=initializer, initargs=initargs)
        futures: dict = {}
        with pool, stopping_on_interrupt(pool, lambda: not all(f.done() for f in futures)):
            futures.update({pool.submit(_run_item, fn, items[i]): i for i in pending})
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    res = fut.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                except Exception as exc:  # noqa: BLE001 - e.g. a result that does not pickle
                    res = exc
                finished.add(i)
                yield i, res
        if not broken:
            return
        if retry is not None:                           # every later run is a retry
            items, retry = [retry(item) for item in items], None
        rest = [i for i in pending if i not in finished]
        if len(rest) < len(pending):
            pending = rest
            continue
        for i in rest:                                  # no progress: isolate each item
            with ProcessPoolExecutor(max_workers=1, mp_context=_context(fork),
                                     initializer=initializer, initargs=initargs) as pool, \
                    stopping_on_interrupt(pool):
                try:
                    res = pool.submit(_run_item, fn, items[i]).result()
                except BrokenProcessPool:
                    res = WorkerDied()
                except Exception as exc:  # noqa: BLE001
                    res = exc
            yield i, res
        return


class WorkerDied(RuntimeError):
    """The worker process labeling or verifying a file died while on that file."""

    def __init__(self) -> None:
        super().__init__("the worker process died on this file (a crash in a media library, "
                         "or killed, e.g. out of memory); the other files were not affected")
