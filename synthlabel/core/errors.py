"""Exceptions shared by the engines."""
from __future__ import annotations


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type: a TypeError, as Python's own are (the README promises one
    naming the argument). Also a ValueError, which the engines raised for it before, so a
    caller catching ValueError still catches it."""
