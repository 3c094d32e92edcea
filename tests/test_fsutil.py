"""Atomic publishing: temp names that fit, and interrupts that never split a file from its
sidecar (real files, real signals)."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from synthlabel import fsutil


def test_temp_names_fit_the_file_system(tmp_path):
    for name in ("a" * 254, "é" * 127, "x.png"):
        with fsutil.temp_path(tmp_path, name, ".meta.mp4") as tmp:
            assert len(os.fsencode(tmp.name + ".part")) <= fsutil.NAME_MAX
            assert tmp.name.startswith(".") and tmp.exists()
        assert not tmp.exists()


def test_an_interrupt_never_splits_a_file_from_its_sidecar(tmp_path, monkeypatch):
    """SIGTERM and Ctrl-C that arrive while a media file and its .c2pa sidecar are being
    published are held until both are in place, then delivered."""
    media = tmp_path / ".m.part"
    media.write_bytes(b"media")
    seen = []
    old = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    real_publish = fsutil.publish

    def publish_then_signal(tmp, dst, **kw):
        real_publish(tmp, dst, **kw)
        if dst.suffix != ".c2pa":            # between the media and its sidecar
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)

    # The real publish, with the signals sent at the worst moment.
    monkeypatch.setattr(fsutil, "publish", publish_then_signal)
    try:
        with pytest.raises(KeyboardInterrupt):
            fsutil.publish_media(media, tmp_path / "m.ogg", manifest=b"manifest", sidecar_format=True)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert (tmp_path / "m.ogg").read_bytes() == b"media"
    assert (tmp_path / "m.c2pa").read_bytes() == b"manifest"      # published before the interrupt
    assert seen == [signal.SIGTERM]                               # delivered after, not lost
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.c2pa", "m.ogg"]


def test_broken_links_and_loops_are_named(tmp_path):
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    (tmp_path / "real.png").write_bytes(b"x")
    assert fsutil.broken_link(tmp_path / "dangling.png") == f"broken symbolic link to {tmp_path / 'gone.png'}"
    assert fsutil.broken_link(tmp_path / "a") == "symbolic link loop"
    assert fsutil.broken_link(tmp_path / "real.png") is None


def test_with_extension_appends_after_numbers_and_replaces_extensions():
    assert fsutil.with_extension(Path("a/take.01"), ".mp4") == Path("a/take.01.mp4")
    assert fsutil.with_extension(Path("shot.0001"), ".png") == Path("shot.0001.png")
    assert fsutil.with_extension(Path("clip"), ".mkv") == Path("clip.mkv")
    assert fsutil.with_extension(Path("photo.png"), ".jpg") == Path("photo.jpg")
    assert fsutil.with_extension(Path("v1.2.upload"), ".wav") == Path("v1.2.wav")


def test_publishing_without_replace_never_takes_an_existing_name(tmp_path):
    """Two batches labeling into one folder each checked that an output did not exist, then
    each renamed over the other's: both reported "labeled", one file was lost, and a report
    named a content ID no file held (QA, stop 44). Without ``replace`` the name is taken by a
    hard link, which fails if anything is there (a file, or a link, broken or not)."""
    def tmp_with(data: bytes) -> Path:
        t = tmp_path / f".t{len(list(tmp_path.iterdir()))}"
        t.write_bytes(data)
        return t

    dst = tmp_path / "out.png"
    t = tmp_with(b"first")
    fsutil.publish(t, dst, replace=False)
    assert dst.read_bytes() == b"first" and not t.exists()
    t = tmp_with(b"second")
    with pytest.raises(FileExistsError, match="another process wrote it meanwhile"):
        fsutil.publish(t, dst, replace=False)
    assert dst.read_bytes() == b"first" and t.exists()           # the caller's temp file to drop
    fsutil.publish(t, dst)                                        # replace: as before
    assert dst.read_bytes() == b"second"

    broken = tmp_path / "broken.png"
    broken.symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(FileExistsError):
        fsutil.publish(tmp_with(b"x"), broken, replace=False)
    assert broken.is_symlink() and not (tmp_path / "nowhere.png").exists()

    # media and sidecar: a sidecar name taken meanwhile takes the media file back too
    media, side = tmp_path / "s.ogg", tmp_path / "s.c2pa"
    side.write_bytes(b"another's manifest")
    with pytest.raises(FileExistsError):
        fsutil.publish_media(tmp_with(b"ogg"), media, manifest=b"ours", sidecar_format=True,
                             replace=False)
    assert not media.exists() and side.read_bytes() == b"another's manifest"
    side.unlink()
    fsutil.publish_media(tmp_with(b"ogg"), media, manifest=b"ours", sidecar_format=True,
                         replace=False)
    assert media.read_bytes() == b"ogg" and side.read_bytes() == b"ours"
