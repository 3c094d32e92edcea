"""Shared fixtures. Every test session gets its own SYNTHLABEL_HOME, so development
credentials are created fresh (as on a user's first run) and never touch ~/.synthlabel."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("synthlabel-home")
    old = os.environ.get("SYNTHLABEL_HOME")
    os.environ["SYNTHLABEL_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("SYNTHLABEL_HOME", None)
    else:
        os.environ["SYNTHLABEL_HOME"] = old


def require_tool(name: str) -> str:
    """Path of an external tool (exiftool, ffprobe). Skips when missing, unless CI set
    SYNTHLABEL_REQUIRE_TOOLS=1: independent readers must really run there."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("SYNTHLABEL_REQUIRE_TOOLS"):
        pytest.fail(f"{name} is required (SYNTHLABEL_REQUIRE_TOOLS is set) but not installed")
    pytest.skip(f"{name} not installed")


def synthetic_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A photo-like RGB uint8 image: smooth shapes, edges and texture (no downloads)."""
    sys.path.insert(0, str(SAMPLES))
    try:
        from make_samples import scene
    finally:
        sys.path.pop(0)
    return scene(h, w, seed)


@pytest.fixture(scope="session")
def credentials():
    from synthlabel.provenance.credentials import load_credentials

    return load_credentials()


def label_again_and_again(src: Path, work: Path, ext: str, times: int, credentials) -> Path:
    """Label ``src`` ``times`` times in a row, each label's output the next one's input: every
    label keeps the first label's content ID (says so from the second on) and verifies OK with
    it. Returns the last output."""
    import synthlabel

    f, first = src, None
    for n in range(times):
        res = synthlabel.label_file(f, work / f"l{n}.{ext}", credentials=credentials)
        first = first or res.content_id
        assert res.content_id == first
        assert any("keeps its content ID" in w for w in res.warnings) == (n > 0), res.warnings
        rep = synthlabel.verify_file(res.output, credentials=credentials)
        assert rep.ok() and rep.ids_agree and rep.content_ids["watermark"] == first, rep.to_json()
        f = Path(res.output)
    return f
