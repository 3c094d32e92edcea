"""Argument types the benchmark scripts share: a bad value is argparse's one-line usage error
before any work, not a traceback from a worker minutes later."""
from __future__ import annotations

import argparse
from collections.abc import Collection


def at_least(low: int):
    """An int argument of at least ``low``."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {v}")
        return v
    return parse


def names_from(known: Collection[str], what: str, empty_ok: bool = True):
    """A comma list of names out of ``known`` -> list (empty items dropped)."""
    def parse(text: str) -> list[str]:
        names = [n for n in text.split(",") if n]
        if unknown := [n for n in names if n not in known]:
            raise argparse.ArgumentTypeError(f"unknown {what}(s) {', '.join(unknown)} "
                                             f"(known: {', '.join(known)})")
        if not names and not empty_ok:
            raise argparse.ArgumentTypeError(f"give at least one {what}")
        return names
    return parse


def help_list(names: Collection[str]) -> str:
    """``names`` for a help text: argparse formats help with %, which a name such as
    ``speed_+2%`` broke (``--help`` crashed)."""
    return ", ".join(names).replace("%", "%%")


def temp_home(prefix: str = "synthlabel-bench-home-") -> None:
    """Point SYNTHLABEL_HOME at a temporary folder for this run (its development credentials
    included), removed when the run ends, unless the caller set one: a folder was made even
    when the variable was set, and none was ever removed (one per child process)."""
    import atexit
    import os
    import shutil
    import tempfile

    if os.environ.get("SYNTHLABEL_HOME"):
        return
    home = tempfile.mkdtemp(prefix=prefix)
    os.environ["SYNTHLABEL_HOME"] = home         # child processes inherit it
    atexit.register(shutil.rmtree, home, True)
