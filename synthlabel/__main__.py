"""``python -m synthlabel``: the same CLI as the ``synthlabel`` command (handy in a venv whose
scripts folder is not on PATH, or to run a checkout without installing it)."""
import sys

from .cli import app

sys.exit(app(prog_name="synthlabel"))
