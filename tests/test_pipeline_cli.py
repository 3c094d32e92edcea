"""End to end: the real CLI (subprocess) and library on real files, real codecs, real c2pa."""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, SAMPLES, label_again_and_again, require_tool, synthetic_photo

CLI = [sys.executable, "-m", "synthlabel.cli"]


def run(*args, cwd=None, env=None):
    """The CLI's result; its output decoded as UTF-8, a file name's undecodable bytes kept
    as surrogates (as Python spells such a name)."""
    e = dict(os.environ, **(env or {}))
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=e,
                          timeout=300, errors="surrogateescape")


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def labeled_samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("labeled")
    inputs = [SAMPLES / "scene.png", SAMPLES / "scene.jpg"]
    before = {p: sha(p) for p in inputs}
    r = run("label", *inputs, "-o", out, "--report", out / "report.jsonl", "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert {p: sha(p) for p in inputs} == before, "inputs must never be modified"
    return out, r


def test_verify_reports_agree_on_some_layers_and_on_undecodable_pixels(labeled_samples, tmp_path):
    """Asked for some layers, the library's ``ok()`` said False where the JSON's ``ok`` and
    the exit status said True. A file whose pixels no longer decode (a tampered IDAT) showed
    only its decode error in the text output, hiding the C2PA hash mismatch --json showed."""
    import synthlabel

    out, _ = labeled_samples
    rep = synthlabel.verify_file(out / "scene.png", layers=("metadata",))
    assert rep.ok() is True and json.loads(rep.to_json())["ok"] is True
    assert rep.checked_layers == ("metadata",)
    assert rep.ok(("metadata", "c2pa")) is False                       # c2pa not checked
    data = bytearray((out / "scene.png").read_bytes())
    data[data.index(b"IDAT") + 300] ^= 0xFF
    bad = tmp_path / "bad.png"
    bad.write_bytes(bytes(data))
    r = run("verify", bad)
    assert r.returncode == 2 and "ERROR cannot decode PNG image" in r.stdout, r.stdout
    assert "c2pa       invalid  Invalid: assertion.dataHash.mismatch" in r.stdout, r.stdout
    assert "metadata   ok" in r.stdout


def test_label_then_verify_samples_all_layers(labeled_samples):
    out, _ = labeled_samples
    r = run("verify", "--json", out / "scene.png", out / "scene.jpg")
    assert r.returncode == 0, r.stdout + r.stderr
    reports = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(reports) == 2
    for rep in reports:
        assert rep["ok"] is True
        for layer in ("explicit", "metadata", "watermark", "c2pa"):
            assert rep["layers"][layer]["status"] == "ok", (layer, rep["layers"][layer])
        ids = rep["content_ids"]
        assert set(ids) == {"metadata", "watermark", "c2pa"}
        assert len(set(ids.values())) == 1 and rep["ids_agree"] is True
        assert rep["layers"]["c2pa"]["details"]["state"] == "Trusted"


def test_report_jsonl(labeled_samples):
    out, _ = labeled_samples
    lines = [json.loads(x) for x in (out / "report.jsonl").read_text().splitlines()]
    # one line per file, in input order
    assert [Path(x["source"]).name for x in lines] == ["scene.png", "scene.jpg"]
    for x in lines:
        assert x["ok"] and x["error"] is None
        assert x["layers"] == ["explicit", "watermark", "metadata", "c2pa"]
        assert re.fullmatch(r"[0-9a-f]{16}", x["content_id"])
        assert Path(x["output"]).exists()


def test_json_lines_come_in_input_order_whatever_finishes_first(tmp_path):
    """label --json and --report gave the files in the order they finished, which changed
    from run to run (verify's come in input order): a large first picture came last."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(synthetic_photo(2400, 3200, 1)).save(src / "a.png")
    for name in "bcdef":
        Image.fromarray(synthetic_photo(96, 128, ord(name))).save(src / f"{name}.png")
    (src / "notes.txt").write_text("not media")
    rep = tmp_path / "report.jsonl"
    r = run("label", src, "-o", tmp_path / "out", "-j", "2", "--json", "--report", rep,
            "--no-c2pa")
    assert r.returncode == 0, r.stderr
    order = ["a.png", "b.png", "c.png", "d.png", "e.png", "f.png", "notes.txt"]
    assert [Path(json.loads(x)["source"]).name for x in r.stdout.splitlines()] == order
    assert rep.read_text().splitlines() == r.stdout.splitlines()


def test_human_readable_verify(labeled_samples):
    out, _ = labeled_samples
    r = run("verify", out / "scene.png")
    assert r.returncode == 0
    assert "OK" in r.stdout and "Trusted" in r.stdout and "agrees" in r.stdout


def test_untrusted_without_dev_root(labeled_samples):
    out, _ = labeled_samples
    r = run("verify", "--json", "--no-default-trust", out / "scene.png")
    rep = json.loads(r.stdout)
    assert rep["layers"]["c2pa"]["details"]["state"] == "Valid"
    assert "signingCredential.untrusted" in rep["layers"]["c2pa"]["details"]["codes"]
    assert r.returncode == 1


def test_another_watermark_key_is_named_as_a_likely_cause(labeled_samples, tmp_path):
    """Verified with other credentials (another watermark key): the mark is missing, and the
    report says the C2PA manifest claims one, naming the algorithm and content ID."""
    out, _ = labeled_samples
    other = {"SYNTHLABEL_HOME": str(tmp_path / "other")}
    # verify does not create credentials: with none, the watermark is not checked at all
    r = run("verify", "--json", out / "scene.png", env=other)
    assert json.loads(r.stdout)["layers"]["watermark"]["status"] == "skipped"
    assert "verify does not create them" in r.stderr and not (tmp_path / "other").exists()
    assert run("keys", "init", env=other).returncode == 0     # another machine's own key
    r = run("verify", "--json", out / "scene.png", env=other)
    rep = json.loads(r.stdout)
    wm = rep["layers"]["watermark"]
    assert wm["status"] == "missing" and r.returncode == 1
    cid = rep["content_ids"]["c2pa"]
    assert (f"its C2PA manifest says it was watermarked (org.synthlabel.wm.image.v5, content ID "
            f"{cid}): another watermark key") in wm["summary"], wm["summary"]
    # With the right key there is nothing to explain.
    ok = json.loads(run("verify", "--json", out / "scene.png").stdout)["layers"]["watermark"]
    assert ok["status"] == "ok" and "C2PA manifest says" not in ok["summary"]


def test_verify_tries_several_watermark_keys(labeled_samples, tmp_path):
    """After a key rotation: ``--watermark-key`` repeated. The report names the key that matched
    by its fingerprint (never the key), the p-value counts every key tried, and the exit code
    says whether the mark was found under any of them."""
    out, _ = labeled_samples
    home = Path(os.environ["SYNTHLABEL_HOME"])
    current = home / "dev" / "watermark.key"
    retired = [tmp_path / "old1.key", tmp_path / "old2.key"]
    for i, k in enumerate(retired):
        k.write_text(hashlib.sha256(b"retired %d" % i).hexdigest())
        k.chmod(0o600)                  # as key files are kept (readable by others: warned)
    single = json.loads(run("verify", "--json", "--layers", "watermark", out / "scene.png").stdout)
    r = run("verify", "--json", "--layers", "watermark", "--watermark-key", retired[0],
            "--watermark-key", retired[1], "--watermark-key", current, out / "scene.png")
    assert r.returncode == 0, r.stdout + r.stderr
    wm = json.loads(r.stdout)["layers"]["watermark"]
    fp = json.loads(run("keys", "show").stdout)["watermark_key_fingerprint"]
    assert wm["status"] == "ok" and wm["details"]["keys"] == {"tried": 3, "index": 3, "fingerprint": fp}
    assert f"key 3 of 3: fingerprint {fp}" in wm["summary"]
    assert wm["details"]["p_value"] == pytest.approx(3 * single["layers"]["watermark"]["details"]["p_value"])
    assert wm["details"]["payload_hex"] == single["layers"]["watermark"]["details"]["payload_hex"]
    for k in [current, *retired]:
        assert k.read_text().strip() not in r.stdout + r.stderr
    # only retired keys: nothing found, exit 1
    r = run("verify", "--layers", "watermark", "--watermark-key", retired[0], "--watermark-key",
            retired[1], out / "scene.png", out / "scene.jpg")
    assert r.returncode == 1
    assert r.stdout.count("no watermark for any of the 2 keys") == 2, r.stdout
    # an unreadable key file is a one-line configuration error
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    r = run("verify", "--watermark-key", current, "--watermark-key", bad, out / "scene.png")
    assert r.returncode == 2 and "bad.key" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # a key file others can read is used, with a one-line warning that says the fix
    retired[0].chmod(0o644)
    r = run("verify", "--layers", "watermark", "--watermark-key", current, "--watermark-key",
            retired[0], out / "scene.png")
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"warning: watermark key file {retired[0]} is open to other users (mode 0644); "
        f"run: chmod 600 {retired[0]}"], r.stderr


def test_trust_anchors_flag_restores_trust(labeled_samples, credentials, tmp_path):
    out, _ = labeled_samples
    anchors = tmp_path / "roots.pem"
    anchors.write_bytes(credentials.trust_anchors_pem)
    r = run("verify", "--json", "--no-default-trust", "--trust-anchors", anchors, out / "scene.png")
    assert json.loads(r.stdout)["layers"]["c2pa"]["details"]["state"] == "Trusted", r.stdout
    # the environment variable is the flag's equivalent, --no-default-trust included
    r = run("verify", "--json", "--no-default-trust", out / "scene.png",
            env={"SYNTHLABEL_TRUST_ANCHORS": str(anchors)})
    assert json.loads(r.stdout)["layers"]["c2pa"]["details"]["state"] == "Trusted", r.stdout


def test_verify_without_a_writable_home(labeled_samples, credentials, tmp_path):
    """A reader whose home cannot hold development credentials (read-only container) still
    verifies: metadata, label and C2PA (trusted by the anchors given) are checked, the
    watermark with the key given, or it is left out with a warning that says so."""
    out, _ = labeled_samples
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = {"SYNTHLABEL_HOME": str(blocker / "home")}
    r = run("verify", "--json", out / "scene.png", env=env)
    assert r.returncode == 1, r.stderr    # the development root is not trusted here
    rep = json.loads(r.stdout)
    status = {k: v["status"] for k, v in rep["layers"].items()}
    assert status == {"explicit": "ok", "metadata": "ok", "watermark": "skipped", "c2pa": "weak"}, status
    assert "no watermark key" in rep["layers"]["watermark"]["summary"]
    assert "verifying without them" in r.stderr and "watermark is not checked" in r.stderr
    anchors = tmp_path / "roots.pem"
    anchors.write_bytes(credentials.trust_anchors_pem)
    key = tmp_path / "wm.key"
    key.write_text(credentials.watermark_key.hex())
    r = run("verify", "--json", "--trust-anchors", anchors, "--watermark-key", key, out / "scene.png",
            env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert all(v["status"] == "ok" for v in rep["layers"].values()) and rep["ids_agree"] is True
    # nothing of the home is needed then: no word about it (it warned all the same)
    assert "watermark is not checked" not in r.stderr and "verifying without them" not in r.stderr
    # the environment names them as well as the flags do
    r = run("verify", "--json", out / "scene.png",
            env={**env, "SYNTHLABEL_TRUST_ANCHORS": str(anchors), "SYNTHLABEL_WATERMARK_KEY": str(key)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert all(v["status"] == "ok" for v in json.loads(r.stdout)["layers"].values())
    assert "verifying without them" not in r.stderr
    assert not (blocker / "home").exists()
    # label has no such fallback: it must sign.
    r = run("label", SAMPLES / "scene.png", "-o", tmp_path / "o", env=env)
    assert r.returncode == 2 and "cannot create development credentials" in r.stderr


def test_verify_finds_other_standard_label_texts(tmp_path, credentials):
    """A label made with another conforming text is found without being told (the standard
    phrasings are tried); a custom text is found when given with --label-text."""
    from synthlabel.labeling import label_image
    from synthlabel.models import LabelSpec
    from synthlabel.verify import verify_bytes

    photo = synthetic_photo(360, 480, seed=5)
    for text, given in (("AI合成", None), ("人工智能生成", None), ("AI生成 AI-generated", None),
                        ("AI生成 AI-generated", "AI生成 AI-generated")):
        out = label_image(photo, format="png", spec=LabelSpec(text=text, watermark=False, c2pa=False),
                          credentials=credentials)
        rep = verify_bytes(out.data, key=credentials.watermark_key, trust_anchors_pem=None,
                           layers=("explicit",), label_text=given)
        layer = rep.layers["explicit"]
        if text == "AI生成 AI-generated" and given is None:
            assert layer.status.value == "missing", layer.summary   # not taken for 'AI生成'
            assert "looked for AI生成, AI合成" in layer.summary
        else:
            assert layer.status.value == "ok" and layer.details["text"] == text, layer.summary
    path = tmp_path / "x.png"
    path.write_bytes(out.data)
    r = run("verify", "--json", "--layers", "explicit", "--label-text", "AI生成 AI-generated", path)
    assert r.returncode == 0 and json.loads(r.stdout)["layers"]["explicit"]["details"]["text"] == "AI生成 AI-generated"


def _png_with_pixel_changed(data: bytes) -> bytes:
    """Change one pixel, keeping every other chunk (the manifest included) as it is: the IDAT
    stream is rebuilt unfiltered from the decoded pixels with one value flipped."""
    im = Image.open(io.BytesIO(data))
    px = np.array(im)
    px[0, 10, 0] ^= 0x40
    raw = b"".join(b"\x00" + row.tobytes() for row in px)
    new_idat = zlib.compress(raw)
    pos, out, done = 8, [data[:8]], False
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        t, c = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if t == b"IDAT":
            if done:
                continue
            c, done = new_idat, True
        out.append(struct.pack(">I", len(c)) + t + c + struct.pack(">I", zlib.crc32(t + c)))
    return b"".join(out)


def test_pixel_change_makes_c2pa_invalid(labeled_samples, tmp_path):
    out, _ = labeled_samples
    tampered = tmp_path / "tampered.png"
    tampered.write_bytes(_png_with_pixel_changed((out / "scene.png").read_bytes()))
    a = np.asarray(Image.open(out / "scene.png").convert("RGB"))
    b = np.asarray(Image.open(tampered).convert("RGB"))
    assert (a != b).sum() == 1
    r = run("verify", "--json", tampered)
    rep = json.loads(r.stdout)
    assert rep["layers"]["c2pa"]["status"] == "invalid"
    assert rep["layers"]["c2pa"]["details"]["state"] == "Invalid"
    assert any("dataHash.mismatch" in c for c in rep["layers"]["c2pa"]["details"]["codes"])
    assert "the file was changed after it was signed" in rep["layers"]["c2pa"]["summary"]
    assert rep["layers"]["watermark"]["status"] == "ok"  # the other layers still stand
    assert r.returncode == 1


def test_bad_inputs_one_line_each_batch_goes_on(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    good = synthetic_photo(300, 400, 3)
    Image.fromarray(good).save(src / "good.png")
    Image.fromarray(good).save(src / "sub" / "nested.jpg", quality=90)
    buf = io.BytesIO()
    Image.fromarray(good).save(buf, "PNG")
    (src / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    jpg = io.BytesIO()
    Image.fromarray(good).save(jpg, "JPEG")
    j = bytearray(jpg.getvalue())
    j[200:] = os.urandom(len(j) - 200)  # header survives, everything after is garbage
    (src / "corrupt.jpg").write_bytes(bytes(j))
    (src / "empty.png").write_bytes(b"")
    (src / "notes.jpg").write_text("this is not an image\n")  # non-image with an image extension
    (src / "mislabeled.jpg").write_bytes(buf.getvalue())      # a PNG named .jpg
    before = {p: sha(p) for p in src.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    r = run("label", src, "-o", out, "--jobs", "2")
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    bad = {"truncated.png", "corrupt.jpg", "empty.png", "notes.jpg"}
    assert len(errors) == len(bad), r.stderr
    for name in bad:
        line = next(e for e in errors if name in e)
        assert len(line) < 300
    assert "empty" in next(e for e in errors if "empty.png" in e)
    assert "not a recognised media file" in next(e for e in errors if "notes.jpg" in e)
    # the good files (nested tree mirrored) and the mislabeled one (by content) are labeled
    assert (out / "good.png").exists() and (out / "sub" / "nested.jpg").exists()
    assert (out / "mislabeled.png").exists()
    assert "does not match the content" in r.stderr
    assert Image.open(out / "mislabeled.png").format == "PNG"
    # nothing half-written, nothing for the bad files, inputs untouched
    names = {p.name for p in out.rglob("*")}
    assert not any(n.endswith(".tmp") for n in names)
    assert not names & bad
    assert {p: sha(p) for p in src.rglob("*") if p.is_file()} == before
    assert "labeled 3 file(s), 4 failed" in r.stderr


def test_unsupported_media_in_a_folder_fails_loudly(tmp_path):
    """A folder walk passes over a README, but never over media it cannot label: an AIFF is a
    failed file (named, with what to convert it to), in label and in verify."""
    import soundfile as sf

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(synthetic_photo(200, 260, 5)).save(src / "good.png")
    sf.write(src / "take1.aiff", np.zeros((8000, 1), np.float32), 8000, format="AIFF")
    sf.write(src / "take2", np.zeros((8000, 1), np.float32), 8000, format="AIFF")  # no extension
    (src / "README.txt").write_text("generated on 2026-11-29\n")
    out = tmp_path / "out"
    r = run("label", src, "-o", out, "-j", "1")
    assert r.returncode == 1, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, r.stderr
    assert all("AIFF audio is not supported (convert it to WAV" in e for e in errors)
    assert "labeled 1 file(s), 2 failed, 1 non-media file(s) skipped" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["good.png"]
    r = run("verify", src, "--json")
    assert r.returncode == 2, r.stderr
    reports = {Path(d["path"]).name: d for d in map(json.loads, r.stdout.splitlines())}
    assert set(reports) == {"good.png", "take1.aiff", "take2"}       # README passed over
    assert "AIFF audio is not supported" in reports["take2"]["error"]


def test_outputs_not_overwritten_unless_asked(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(synthetic_photo(200, 260, 4)).save(src)
    out = tmp_path / "out"
    assert run("label", src, "-o", out, "-j", "1").returncode == 0
    first = sha(out / "a.png")
    r = run("label", src, "-o", out, "-j", "1")
    assert r.returncode == 1 and "exists" in r.stderr
    assert sha(out / "a.png") == first
    assert run("label", src, "-o", out, "-j", "1", "--overwrite").returncode == 0
    assert sha(out / "a.png") != first  # a new content ID, so new bytes
    # -o naming the inputs' own folder must not replace them (only --in-place does).
    wav = tmp_path / "b.wav"
    wav.write_bytes((SAMPLES / "tone.wav").read_bytes())
    before = {f: sha(f) for f in (src, wav)}
    # Not even with --overwrite (which is for earlier outputs), nor when the output would
    # get another extension (it would land among the originals): a usage error before any
    # work, whose message does not suggest --overwrite.
    for out_arg in (tmp_path, tmp_path / "." / ""):
        for extra in ((), ("--overwrite",), ("-f", "webp")):
            r = run("label", src, wav, "-o", out_arg, "-j", "1", *extra)
            assert r.returncode == 2 and "is the folder of the input" in r.stderr, r.stderr
            assert "--overwrite" not in r.stderr
    assert not (tmp_path / "a.webp").exists()
    assert {f: sha(f) for f in (src, wav)} == before
    r = run("label", src, "-o", wav, "-j", "1")                 # -o naming a file
    assert r.returncode == 2 and "exists and is not a directory" in r.stderr
    assert {f: sha(f) for f in (src, wav)} == before


def test_originals_are_never_replaced(tmp_path):
    """Found by exploratory testing: --report named an input (the audio became JSON);
    --in-place -f with --overwrite replaced another original; --in-place replaced a symbolic
    link by a file and left the real file unlabeled."""
    d = tmp_path / "d"
    d.mkdir()
    Image.fromarray(synthetic_photo(120, 160, 2)).save(d / "photo.png")
    Image.fromarray(synthetic_photo(120, 160, 3)).save(d / "photo.jpg")
    (d / "tone.wav").write_bytes((SAMPLES / "tone.wav").read_bytes())
    before = {f: sha(f) for f in d.iterdir()}
    out = tmp_path / "out"
    r = run("label", d, "-o", out, "-j", "1", "--report", d / "tone.wav")
    assert r.returncode == 2 and "--report" in r.stderr and "is one of the inputs" in r.stderr, r.stderr
    assert not out.exists()
    r = run("label", d / "photo.png", "--in-place", "-f", "jpeg", "-j", "1")
    assert r.returncode == 1 and "exists and is another file" in r.stderr, r.stderr
    # --overwrite is about -o outputs: with --in-place it is a usage error, before any file
    r = run("label", d / "photo.png", "--in-place", "-f", "jpeg", "-j", "1", "--overwrite")
    assert r.returncode == 2 and "--overwrite applies to outputs in -o OUTDIR" in r.stderr, r.stderr
    links = tmp_path / "links"
    links.mkdir()
    (links / "tone.wav").symlink_to(d / "tone.wav")
    r = run("label", links, "--in-place", "-j", "1")
    assert r.returncode == 1 and "is a symbolic link" in r.stderr, r.stderr
    assert (links / "tone.wav").is_symlink()
    assert {f: sha(f) for f in d.iterdir()} == before
    # A report path that is a folder, or cannot be written: one line, exit 2, nothing done.
    r = run("label", d / "photo.png", "-o", out, "--report", d)
    assert r.returncode == 2 and "is a folder" in r.stderr and "Traceback" not in r.stderr
    r = run("label", d / "photo.png", "-o", out, "--report", d / "photo.png" / "r.jsonl")
    assert r.returncode == 2 and "photo.png is not a folder" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_an_empty_path_is_a_usage_error(tmp_path):
    """typer turns "" into Path("."): ``-o "$OUT"`` with OUT unset labeled into the current
    folder, and ``verify ""`` read it. Every path argument and option refuses it now."""
    photo = tmp_path / "photo.png"
    Image.fromarray(synthetic_photo(64, 64, 1)).save(photo)
    for args in (("label", photo, "-o", ""), ("label", "", "-o", tmp_path / "out"),
                 ("label", photo, "-o", tmp_path / "out", "--report", ""),
                 ("verify", ""), ("verify", photo, "--watermark-key", "")):
        r = run(*args, cwd=tmp_path)
        assert r.returncode == 2 and "an empty path" in r.stderr, (args, r.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_a_report_on_stdout_is_the_only_thing_there(tmp_path):
    """``--report /dev/stdout`` (the help suggests it) mixed the "a -> b" lines into the JSON
    lines, and with --json every record came twice."""
    photo = tmp_path / "photo.png"
    Image.fromarray(synthetic_photo(96, 128, 2)).save(photo)
    for extra in ([], ["--json"]):
        r = run("label", photo, "-o", tmp_path / f"out{len(extra)}", "-j", "1",
                "--report", "/dev/stdout", *extra)
        assert r.returncode == 0, r.stderr
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        assert [row["status"] for row in rows] == ["labeled"], r.stdout
    # stdout redirected to a file: the report is added to it ("exists" was refused, and with
    # --overwrite the file was replaced, the lines before it lost); "-" says the same
    for i, name in enumerate(("/dev/stdout", "-")):
        log = tmp_path / f"log{i}.txt"
        log.write_text("BEFORE\n")
        with open(log, "a") as fh:
            rc = subprocess.run([*CLI, "label", str(photo), "-o", str(tmp_path / f"redir{i}"), "-j",
                                 "1", "--report", name], stdout=fh, stderr=subprocess.PIPE,
                                timeout=300).returncode
        lines = log.read_text().splitlines()
        assert rc == 0 and lines[0] == "BEFORE" and len(lines) == 2, lines
        assert json.loads(lines[1])["status"] == "labeled"


def test_a_newline_in_a_file_name_stays_on_one_line(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(synthetic_photo(100, 140, 1)).save(src / "nl\nname.png")
    out = tmp_path / "out"
    assert run("label", src, "-o", out, "-j", "1").returncode == 0
    r = run("label", src, "-o", out, "-j", "1", "--json")
    assert r.returncode == 1
    row = json.loads(r.stdout)
    assert row["source"].endswith("nl\nname.png") and "nl\\nname.png exists" in row["error"], row
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].count("nl\\nname.png") == 2, r.stderr


def test_clashing_outputs_are_named(tmp_path):
    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.png").write_bytes((SAMPLES / "scene.png").read_bytes())
    (src / "a.jpg").write_bytes((SAMPLES / "scene.jpg").read_bytes())
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=d=2", src / "s.ogg"], check=True)
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=d=2", "-c:a", "libopus",
                    src / "s.opus"], check=True)
    r = run("label", src, "-o", tmp_path / "out", "-f", "png", "--dry-run", "-j", "1", "--json")
    assert r.returncode == 1
    # a.png keeps its own name; the a.jpg written as PNG is the one refused (it was a.png,
    # the first in the walk, that was refused)
    assert f"a.jpg: would write the same output {tmp_path / 'out' / 'a.png'} as {src / 'a.png'} does" in r.stderr
    assert f"s.opus: would write the C2PA sidecar s.c2pa as {src / 's.ogg'} does" in r.stderr
    # the refused rows say what they hold, as the others do (media_type was null)
    rows = {Path(d["source"]).name: d for d in map(json.loads, r.stdout.splitlines())}
    assert (rows["a.jpg"]["media_type"], rows["s.opus"]["media_type"]) == ("image/jpeg", "audio/ogg")
    assert rows["a.png"].get("error") is None
    assert all(d["dry_run"] for d in rows.values())


def test_hidden_files_are_counted_when_passed_over(tmp_path):
    src = tmp_path / "in"
    (src / ".cache").mkdir(parents=True)
    for name in ("a.png", ".b.png", ".cache/c.png"):
        (src / name).write_bytes((SAMPLES / "scene.png").read_bytes())
    r = run("label", src, "-o", tmp_path / "out", "-j", "1")
    assert r.returncode == 0 and "labeled 1 file(s), 0 failed, 2 hidden file(s) passed over" in r.stderr
    r = run("verify", tmp_path / "out", src, "-j", "1")
    assert "; 2 hidden file(s) passed over" in r.stderr.splitlines()[-1]
    # non-media files met in a folder are counted too, as label counts them (they were not)
    (src / "README.txt").write_text("notes")
    (src / "run.sh").write_text("#!/bin/sh\n")
    r = run("verify", src, "-j", "1")
    assert "verified 1 file(s)" in r.stderr and "; 2 non-media file(s) passed over; 2 hidden" in r.stderr, r.stderr


def test_two_input_folders_of_one_name_mirror_apart(tmp_path):
    """x/imgs and y/imgs both mirrored into out/imgs/ and clashed; they go to out/x/imgs and
    out/y/imgs. Folders of different names keep the short form."""
    for d in ("x/imgs", "y/imgs", "z/other"):
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d / "p.png").write_bytes((SAMPLES / "scene.png").read_bytes())
    r = run("label", tmp_path / "x/imgs", tmp_path / "y/imgs", tmp_path / "z/other", "-o",
            tmp_path / "out", "--dry-run", "--json", "-j", "1")
    assert r.returncode == 0, r.stderr
    outs = sorted(Path(json.loads(x)["output"]).relative_to(tmp_path / "out").as_posix()
                  for x in r.stdout.splitlines())
    assert outs == ["other/p.png", "x/imgs/p.png", "y/imgs/p.png"], outs


def test_republishing_as_a_propagator(tmp_path):
    """A platform re-publishing a generator's labeled file keeps the producer's AIGC fields and
    adds its own propagator fields (GB 45438: propagator fields equal the producer's only on
    first write); the producer's watermark still agrees with the ProduceID."""
    gen, platform = "001191110102MAD55U9H0F10002", "001191110102MAD55U9H0F20002"
    first, second = tmp_path / "gen", tmp_path / "pub"
    assert run("label", SAMPLES / "scene.png", "-o", first, "--producer", gen).returncode == 0
    r = run("label", first / "scene.png", "-o", second, "--propagator", platform,
            "--no-explicit", "--no-watermark", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(run("verify", "--json", second / "scene.png").stdout)
    before = json.loads(run("verify", "--json", first / "scene.png").stdout)
    aigc = rep["layers"]["metadata"]["details"]["aigc"]
    assert aigc["ContentProducer"] == gen and aigc["ProduceID"] == before["content_ids"]["metadata"]
    assert aigc["ContentPropagator"] == platform and aigc["PropagateID"] == json.loads(r.stdout)["content_id"]
    assert f"propagator={platform}" in rep["layers"]["metadata"]["summary"]
    assert rep["ok"] and rep["ids_agree"] and rep["content_ids"]["watermark"] == aigc["ProduceID"]
    assert "carries no AIGC label" not in r.stderr, r.stderr       # it carried the producer's
    # An input with no label of its own, image and audio: the new label names this service
    # as the producer, and without the pixel layers the output had neither visible label nor
    # watermark; both went without a word (verify then failed it)
    r = run("label", SAMPLES / "scene.png", SAMPLES / "tone.wav", "-o", tmp_path / "bare",
            "--propagator", platform, "--no-explicit", "--no-watermark")
    assert r.returncode == 0, r.stderr
    for name in ("scene.png", "tone.wav"):
        line = next(x for x in r.stderr.splitlines() if name in x and "carries no AIGC label" in x)
        assert "names synthlabel (--producer) as the producer" in line
        assert "neither a visible label nor a watermark" in line, line
    r = run("label", SAMPLES / "scene.png", "-o", tmp_path / "x", "--propagator", gen)
    assert r.returncode == 2 and "propagation" in r.stderr          # a generation code
    # An input whose AIGC label does not parse (a producer code with a space): the warning
    # said the producer's fields "(an AIGC label that does not parse) are kept" and the next
    # one that the input carried no label (QA, stop 47); nothing of it can be kept
    from mutagen.id3 import ID3, TXXX
    bad = tmp_path / "bad.mp3"
    subprocess.run([require_tool("ffmpeg"), "-v", "error", "-f", "lavfi", "-i", "sine=f=440:d=3",
                    str(bad)], check=True)
    tags = ID3()
    tags.add(TXXX(encoding=3, desc="AIGC", text='{"AIGC":{"Label":"1","ContentProducer":"other tool"}}'))
    tags.save(bad)
    r = run("label", bad, "-o", tmp_path / "badout", "--propagator", platform)
    assert r.returncode == 0, r.stderr
    assert "the input's AIGC label does not parse, so none of its fields can be kept" in r.stderr
    assert "are kept" not in r.stderr and "no AIGC label of its own that parses" in r.stderr, r.stderr
    # With every layer on, the watermark and manifest carry the PropagateID: verify compares
    # them with that, not with the producer's ProduceID. Here the producer's mark is of the
    # same key, so it is kept and no second one is added: the warning no longer says there
    # is (it said "a second ... and watermark", then that the mark was kept). Nor is a second
    # visible label drawn beside the producer's.
    r = run("label", first / "scene.png", "-o", tmp_path / "full", "--propagator", "PlatformX")
    assert r.returncode == 0 and "are kept" in r.stderr and "is added" not in r.stderr, r.stderr
    assert "carries this key's watermark already" in r.stderr and "shows a visible label already" in r.stderr
    rep = json.loads(run("verify", "--json", tmp_path / "full" / "scene.png").stdout)
    assert rep["ids_agree"] is True and rep["content_ids"]["metadata"] == \
        rep["layers"]["metadata"]["details"]["aigc"]["PropagateID"], rep["content_ids"]
    # A video: the label written is read back whole (it compared the ProduceID, so every
    # re-published video failed).
    vid = tmp_path / "vid"
    assert run("label", SAMPLES / "clip.mp4", "-o", vid, "--producer", gen).returncode == 0
    r = run("label", vid / "clip.mp4", "-o", tmp_path / "vpub", "--propagator", platform,
            "--no-explicit", "--no-watermark")
    assert r.returncode == 0, r.stderr
    rep = json.loads(run("verify", "--json", "--layers", "metadata,c2pa", tmp_path / "vpub" / "clip.mp4").stdout)
    assert rep["layers"]["metadata"]["details"]["aigc"]["ContentPropagator"] == platform
    assert rep["layers"]["metadata"]["details"]["aigc"]["ContentProducer"] == gen


def test_sidecars_reports_and_links_found_by_a_second_look(tmp_path):
    """Second round of exploratory testing: --in-place replaced an MKV's sidecar while
    labeling an Ogg of the same base name; --report could name a labeled output or a sidecar;
    a link in a folder made its target vanish from the batch; --skip-existing skipped a file
    whose sidecar alone was left; verify on a folder of only non-media files passed; an empty
    --label-text was an error per file."""
    d = tmp_path / "d"
    d.mkdir()
    ffmpeg = require_tool("ffmpeg")
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=f=440:d=3", "-c:a",
                    "libvorbis", d / "v.ogg"], check=True)
    (d / "v.c2pa").write_bytes(b"the sidecar of v.mkv")
    (d / "v.mkv").write_bytes(b"stands for an MKV labeled earlier")
    r = run("label", d / "v.ogg", "--in-place", "-j", "1")
    assert r.returncode == 1 and "is the C2PA sidecar of v.mkv too" in r.stderr, r.stderr
    assert (d / "v.c2pa").read_bytes() == b"the sidecar of v.mkv"
    out = tmp_path / "out"
    for bad, why in ((out / "v.ogg", "is an output"), (d / "v.c2pa", "a C2PA sidecar of this run"),
                     (out / "other.png", "named like media")):
        r = run("label", d / "v.ogg", "-o", out, "--report", bad)
        assert r.returncode == 2 and why in r.stderr, (bad, r.stderr)
    links = tmp_path / "links"
    links.mkdir()
    (links / "photo.png").write_bytes((SAMPLES / "scene.png").read_bytes())
    (links / "a-link.png").symlink_to(links / "photo.png")    # walked before its target
    r = run("label", links, "-o", tmp_path / "lout", "-j", "1", "--json")
    assert r.returncode == 0 and [Path(json.loads(x)["output"]).name for x in r.stdout.splitlines()] == ["photo.png"]
    r = run("label", links, "--in-place", "-j", "1")
    assert r.returncode == 0 and (links / "a-link.png").is_symlink(), r.stderr
    # --skip-existing skips a file whose media output exists, not one whose sidecar alone does
    res = tmp_path / "res"
    res.mkdir()
    (res / "v.c2pa").write_bytes(b"left over")
    r = run("label", d / "v.ogg", "-o", res, "--skip-existing", "-j", "1")
    assert r.returncode == 1 and "C2PA sidecar" in r.stderr and "skipped" not in r.stderr
    # ... nor one whose media is there without its sidecar (a run killed between the two
    # renames; a resumed batch skipped it as finished, unsigned: QA, stop 44)
    (res / "v.c2pa").unlink()
    (res / "v.ogg").write_bytes((d / "v.ogg").read_bytes())
    r = run("label", d / "v.ogg", "-o", res, "--skip-existing", "-j", "1")
    assert r.returncode == 1 and "exists without its C2PA sidecar v.c2pa (an interrupted run?): " \
        "use --overwrite" in r.stderr and "skipped" not in r.stderr, r.stderr
    # the sidecar written is named in its own field, not only in a warning's text
    r = run("label", d / "v.ogg", "-o", tmp_path / "side", "-j", "1", "--json")
    row = json.loads(r.stdout)
    assert r.returncode == 0 and row["status"] == "labeled", r.stderr
    assert row["sidecar"] == str(tmp_path / "side" / "v.c2pa") and Path(row["sidecar"]).is_file()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "README.md").write_text("hi")
    r = run("verify", docs)
    assert r.returncode == 2 and "no media files to verify" in r.stderr
    r = run("verify", SAMPLES / "scene.png", "--label-text", " ")
    assert r.returncode == 2 and "--label-text" in r.stderr and r.stderr.count("error") == 1


def test_resume_with_skip_existing_and_inputs_named_twice(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(synthetic_photo(100, 140, i)).save(src / f"{i}.png")
    out = tmp_path / "out"
    # 1.png named again beside its folder: labeled once, no clash with itself.
    r = run("label", src / "1.png", src, "-o", out, "-j", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 3 and "same output" not in r.stderr
    first_ids = {Path(j["output"]).name: j["content_id"] for j in map(json.loads, r.stdout.splitlines())}
    assert (out / "1.png").exists() and sorted(p.name for p in (out / "in").iterdir()) == ["0.png", "2.png"]
    (out / "in" / "2.png").unlink()            # as if the batch had been interrupted
    done = sha(out / "in" / "0.png")
    report = out / "report.jsonl"
    report.write_text('{"source": "from the first run"}\n')
    r = run("label", src, "-o", out / "in", "-j", "1", "--skip-existing", "--report", report)
    assert r.returncode == 0, r.stderr
    assert "labeled 2 file(s), 0 failed, 1 file(s) with an existing output left alone" in r.stderr
    assert sha(out / "in" / "0.png") == done and (out / "in" / "2.png").exists()
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert rows[0] == {"source": "from the first run"}      # a resumed run adds to the report
    assert sorted(bool(row["existing_output"]) for row in rows[1:]) == [False, False, True]
    # the skipped row says so in one word and keeps the first run's content ID (a report
    # read last-line-wins lost it)
    skipped = next(row for row in rows[1:] if row["existing_output"])
    assert skipped["status"] == "skipped" and skipped["ok"] is True
    assert skipped["content_id"] == first_ids["0.png"]
    assert sorted(row["status"] for row in rows[1:]) == ["labeled", "labeled", "skipped"]
    r = run("label", src, "-o", out / "in", "--report", report)
    assert r.returncode == 2 and "exists (use --overwrite" in r.stderr


def test_skip_existing_on_an_input_that_is_labeled_already(tmp_path):
    """A labeled input whose output exists was counted twice by --skip-existing (as labeled
    already and as having an output: "-1 non-media file(s) skipped"), and its skipped line
    warned that it was being labeled again."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(synthetic_photo(100, 140, 7)).save(src / "new.png")
    r = run("label", src / "new.png", "-o", tmp_path / "first", "-j", "1")
    assert r.returncode == 0, r.stderr
    shutil.copy(tmp_path / "first" / "new.png", src / "labeled.png")
    out = tmp_path / "out"
    assert run("label", src, "-o", out, "-j", "1").returncode == 0
    r = run("label", src, "-o", out, "-j", "1", "--skip-existing", "--json")
    assert r.returncode == 0, r.stderr
    assert "labeled 0 file(s), 0 failed, 2 file(s) with an existing output left alone" in r.stderr, r.stderr
    assert "-1 non-media" not in r.stderr and "already-labeled" not in r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["status"] for row in rows] == ["skipped", "skipped"]
    assert not [w for row in rows for w in row["warnings"]], rows


def test_an_input_that_cannot_be_labeled_claims_no_shared_sidecar(tmp_path):
    """s.mka (sound only: refused) beside s.webm: both would write s.c2pa, and the video,
    which labels fine, was refused for a sidecar that was never going to be written."""
    ffmpeg = require_tool("ffmpeg")
    col = tmp_path / "col"
    col.mkdir()
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=d=2", "-c:a", "libopus",
                    col / "s.mka"], check=True)
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=d=1:s=160x120:r=10",
                    "-c:v", "libvpx-vp9", "-b:v", "100k", col / "s.webm"], check=True)
    r = run("label", col, "-o", tmp_path / "out", "-j", "1", "--json")
    assert r.returncode == 1, r.stderr
    rows = {Path(row["source"]).name: row for row in map(json.loads, r.stdout.splitlines())}
    assert rows["s.webm"]["status"] == "labeled", rows["s.webm"]
    assert "audio-only" in rows["s.mka"]["error"] and "sidecar" not in rows["s.mka"]["error"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["s.c2pa", "s.webm"]


def test_dry_run_checks_the_options_that_depend_on_the_file(tmp_path):
    """A dry run said "would label" for files the real run then failed: a CRF the codec
    cannot take. A cue tone verify could not find (above 3500 Hz, the top of its band) and a
    bad spoken-label clip are one usage error each, not one per file."""
    r = run("label", SAMPLES / "tone.wav", "-o", tmp_path / "o", "--cue-tone", "30000", "--dry-run")
    assert r.returncode == 2 and "--cue-tone) must be within 350..3500 Hz" in r.stderr, r.stderr
    assert "CueParams" not in r.stderr
    r = run("label", SAMPLES / "clip.mp4", "-o", tmp_path / "o", "--crf", "60", "--dry-run")
    assert r.returncode == 1 and "crf must be 0..51 for h264" in r.stderr, r.stderr
    # the real run refuses it before making the output folder (it left an empty one)
    r = run("label", SAMPLES / "clip.mp4", "-o", tmp_path / "o", "--crf", "60")
    assert r.returncode == 1 and "crf must be 0..51 for h264" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio")
    r = run("label", SAMPLES / "tone.wav", "-o", tmp_path / "o", "--spoken-label", notes)
    assert r.returncode == 2 and r.stderr.count("spoken label clip") == 1, r.stderr
    assert not (tmp_path / "o").exists()


def test_dry_run_checks_what_the_picture_must_fit(tmp_path):
    """A dry run said "would be labeled" (exit 0) for pictures the real run then failed, after
    its work and in a library's words: a 16 x 16 icon the label does not fit, a picture wider
    than WebP holds (libwebp's "encoding error 5"), an EXIF block over JPEG's segment limit
    (Pillow's "EXIF data is too long"). Both runs now say why, naming the way out."""
    from synthlabel.formats import image_codec

    icon, big_exif = tmp_path / "icon.png", tmp_path / "big_exif.png"
    Image.fromarray(synthetic_photo(16, 16, 1)).save(icon)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + ("prompt " * 6000).encode("utf-16-le")
    Image.fromarray(synthetic_photo(200, 300, 2)).save(big_exif, exif=exif.tobytes())
    for args, msg in (([icon], "explicit label: label 'AI生成' does not fit"),
                      ([big_exif, "-f", "jpeg"], "over JPEG's 64 KB segment limit: write PNG or WebP")):
        for dry in (["--dry-run"], []):
            r = run("label", *args, "-o", tmp_path / "out", "-j", "1", *dry)
            assert r.returncode == 1 and msg in r.stderr, (args, dry, r.stderr)
            assert "Traceback" not in r.stderr
    assert run("label", big_exif, "-o", tmp_path / "out", "-f", "webp", "--dry-run").returncode == 0
    with pytest.raises(ValueError, match="WEBP holds at most 16383 px a side"):
        image_codec.check_encodable(17000, 300, "webp")
    image_codec.check_encodable(17000, 300, "png")
    with pytest.raises(ValueError, match="WEBP holds at most 16383 px a side"):
        image_codec.encode(np.zeros((2, 16400, 3), np.uint8), "webp")


def test_fourth_qa_round_of_the_command_line(tmp_path):
    """A dry run replaced a resumed batch's report (content IDs and all); a silent or 50 ms
    spoken-label clip was inserted and the file said to carry the label; a dry run said
    "would label" under -o below a file; --propagator "" was taken as none; --in-place took
    --skip-existing and --overwrite, which are about -o outputs; a control character in a
    file name reached the terminal raw through a warning."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.png").write_bytes((SAMPLES / "scene.png").read_bytes())
    report = tmp_path / "r.jsonl"
    assert run("label", src, "-o", tmp_path / "o", "--report", report).returncode == 0
    before = report.read_text()
    for extra in (["--skip-existing"], ["--overwrite"]):
        r = run("label", src, "-o", tmp_path / "o", "--report", report, "--dry-run", *extra)
        assert r.returncode == 2 and "a dry run changes no file" in r.stderr, r.stderr
    assert report.read_text() == before
    silent, short = tmp_path / "silent.wav", tmp_path / "short.wav"
    import soundfile as sf

    sf.write(silent, np.zeros((16000, 1), np.float32), 8000)
    sf.write(short, 0.5 * np.sin(np.arange(800) / 8000 * 2 * np.pi * 440)[:, None], 16000)
    for clip, why in ((silent, "silent or nearly (digital silence"), (short, "too short to be heard")):
        r = run("label", SAMPLES / "tone.wav", "-o", tmp_path / "s", "--spoken-label", clip)
        assert r.returncode == 2 and f"spoken label clip {clip}: {why}" in r.stderr, r.stderr
    blocker = tmp_path / "file.png"
    blocker.write_bytes(b"x")
    r = run("label", SAMPLES / "scene.png", "-o", blocker / "sub", "--dry-run")
    assert r.returncode == 1 and "file.png is a file, not a folder" in r.stderr, r.stderr
    r = run("label", SAMPLES / "scene.png", "-o", tmp_path / "p", "--propagator", "")
    assert r.returncode == 2 and "ContentPropagator must not be empty" in r.stderr, r.stderr
    for flag in ("--skip-existing", "--overwrite"):
        r = run("label", src / "a.png", "--in-place", flag)
        assert r.returncode == 2 and f"{flag} applies to outputs in -o OUTDIR" in r.stderr, r.stderr
    odd = tmp_path / "odd"
    odd.mkdir()
    t = np.arange(16000 * 4) / 16000
    sf.write(odd / "e\x1b[2J.ogg", (0.3 * np.sin(2 * np.pi * 440 * t))[:, None], 16000,
             format="OGG", subtype="VORBIS")
    r = run("label", odd, "-o", tmp_path / "oo")      # warns: "... written as sidecar e?[2J.c2pa"
    assert r.returncode == 0, r.stderr
    assert "sidecar e\\x1b[2J.c2pa" in r.stderr and "\x1b" not in r.stderr + r.stdout, r.stderr


def test_dry_run_checks_everything_and_writes_nothing(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(synthetic_photo(200, 260, 4)).save(src / "a.png")
    (src / "b.wav").write_bytes((SAMPLES / "tone.wav").read_bytes())
    (src / "notes.txt").write_text("not media")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(30))
    out = tmp_path / "out"
    r = run("label", src, "-o", out, "--dry-run", "--json", "-j", "1")
    assert r.returncode == 1, r.stderr                      # broken.jpg would fail
    assert not out.exists()
    rows = {Path(d["source"]).name: d for d in map(json.loads, r.stdout.splitlines())}
    assert rows["a.png"]["dry_run"] and rows["a.png"]["output"] == str(out / "a.png")
    assert rows["b.wav"]["dry_run"] and rows["b.wav"]["media_type"] == "audio/wav"
    # every row of a dry run says it is one (failed and skipped rows said false)
    assert rows["notes.txt"]["skipped"] and rows["notes.txt"]["dry_run"]
    assert "cannot decode JPEG" in rows["broken.jpg"]["error"] and rows["broken.jpg"]["dry_run"]
    assert "would label 2 file(s), 1 would fail, 1 non-media file(s) skipped" in r.stderr
    # An existing output is reported before any labeling, in a dry run and in a real one.
    out.mkdir()
    Image.fromarray(synthetic_photo(20, 20, 1)).save(out / "a.png")
    before = sha(out / "a.png")
    for extra in (["--dry-run"], []):
        r = run("label", src / "a.png", "-o", out, "--json", "-j", "1", *extra)
        assert r.returncode == 1 and "exists (use --overwrite to replace it, or --skip-existing to leave its input alone; overwrite=True in the library)" in json.loads(r.stdout)["error"]
        assert json.loads(r.stdout)["seconds"] < 1.0
    assert sha(out / "a.png") == before


def test_names_at_the_file_system_limit(tmp_path):
    """Temp files beside an output whose name is near NAME_MAX (255 bytes) must still fit:
    a 250-byte ASCII name and a 246-byte UTF-8 one label and verify."""
    src = tmp_path / "in"
    src.mkdir()
    (src / ("a" * 250 + ".png")).write_bytes((SAMPLES / "scene.png").read_bytes())
    (src / ("é" * 123 + ".wav")).write_bytes((SAMPLES / "tone.wav").read_bytes())
    r = run("label", src, "-o", tmp_path / "out", "-j", "1")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in src.iterdir())
    r = run("verify", "--json", tmp_path / "out")
    assert r.returncode == 0 and all(json.loads(x)["ok"] for x in r.stdout.splitlines())


@pytest.mark.parametrize("jobs,sig", [("1", "INT"), ("2", "INT"), ("1", "TERM"), ("2", "TERM")])
def test_ctrl_c_leaves_no_partial_outputs(tmp_path, jobs, sig):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM to the
    command alone (as ``timeout``, ``docker stop`` and systemd send it) while a video is being
    labeled: exit 130 / 143 with one line, finished files kept, and no temp file left behind,
    in one process and with a worker pool."""
    import signal
    import time
    from fractions import Fraction

    import av

    clip = tmp_path / "in" / "long.mp4"
    clip.parent.mkdir()
    base = synthetic_photo(360, 760, 2)
    with av.open(str(clip), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 640, 360, "yuv420p"
        vs.options = {"preset": "ultrafast"}
        for i in range(25 * 40):
            fr = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, i % 120:i % 120 + 640]), "rgb24")
            fr.pts, fr.time_base = i, Fraction(1, 25)
            for pk in vs.encode(fr):
                out.mux(pk)
        for pk in vs.encode():
            out.mux(pk)
    (clip.parent / "a.wav").write_bytes((SAMPLES / "tone.wav").read_bytes())
    out_dir = tmp_path / "out"
    proc = subprocess.Popen([*CLI, "label", clip.parent, "-o", out_dir, "-j", jobs],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    while not (out_dir.is_dir() and any(f.name.startswith(".long.mp4") for f in out_dir.iterdir())):
        assert proc.poll() is None and time.time() < deadline, "the video finished before Ctrl-C"
        time.sleep(0.05)
    time.sleep(0.5)                       # well inside the 40 s video
    if sig == "INT":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == (130 if sig == "INT" else 143), err
    word = "interrupted" if sig == "INT" else "terminated"
    assert f"{word} after" in err and "Traceback" not in err, err
    assert [f.name for f in out_dir.iterdir() if f.name.startswith(".")] == []
    assert not (out_dir / "long.mp4").exists()


def test_every_output_published_before_ctrl_c_is_reported(tmp_path):
    """A file a worker was publishing when Ctrl-C came was written (publishing holds the
    signal until the rename is done), but its result never came back: the file was in the
    output folder and missing from ``--report`` and ``--json``, its content ID with it (4 of
    11 in one run). Whenever the interrupt lands, every output is now reported."""
    import signal
    import time

    src = tmp_path / "in"
    src.mkdir()
    for i in range(8):
        shutil.copy(SAMPLES / "scene.png", src / f"s{i}.png")
        shutil.copy(SAMPLES / "tone.wav", src / f"t{i}.wav")
    for delay in (0.2,):
        out, rep = tmp_path / f"out{delay}", tmp_path / f"rep{delay}.jsonl"
        proc = subprocess.Popen([*CLI, "label", src, "-o", out, "-j", "2", "--report", rep,
                                 "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        deadline = time.time() + 120
        while not (out.is_dir() and any(not f.name.startswith(".") for f in out.iterdir())):
            assert proc.poll() is None and time.time() < deadline, "done before Ctrl-C"
            time.sleep(0.02)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, err = proc.communicate(timeout=120)
        assert proc.returncode in (0, 130), err
        written = {f.name for f in out.iterdir() if not f.name.startswith(".")}
        rows = [json.loads(x) for x in rep.read_text().splitlines()]
        assert {Path(r["output"]).name for r in rows if r["ok"]} == written, (delay, err)
        assert [json.loads(x) for x in stdout.splitlines()] == rows
        # each content ID reported is the one the file carries
        ids = {Path(v["path"]).name: v["content_ids"].get("metadata") for v in map(
            json.loads, run("verify", "--json", "--layers", "metadata", out).stdout.splitlines())}
        assert ids == {Path(r["output"]).name: r["content_id"] for r in rows if r["ok"]
                       and Path(r["output"]).suffix != ".c2pa"}


def test_a_file_name_that_is_not_utf8_is_labeled_and_reported(tmp_path):
    """A name whose bytes are not UTF-8 (a Latin-1 name from an old archive): c2pa refused the
    manifest ("lone leading surrogate" in its title), and with --report the batch ended in a
    traceback writing the line. The file is labeled, the report and --json stay UTF-8 (the
    name escaped), and the escaped name gives the file's bytes back."""
    src = tmp_path / "in"
    src.mkdir()
    odd = src / os.fsdecode(b"caf\xe9.png")
    shutil.copy(SAMPLES / "scene.png", odd)
    shutil.copy(SAMPLES / "scene.jpg", src / "good.jpg")
    out, rep = tmp_path / "out", tmp_path / "rep.jsonl"
    r = subprocess.run([*CLI, "label", src, "-o", out, "--report", rep, "-j", "1"],
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in rep.read_bytes().decode("utf-8").splitlines()]
    assert all(x["ok"] for x in rows) and len(rows) == 2
    written = next(x for x in rows if x["source"] == str(odd))["output"]
    assert os.fsencode(written) == os.fsencode(out / os.fsdecode(b"caf\xe9.png"))
    v = subprocess.run([*CLI, "verify", "--json", out], capture_output=True, timeout=300)
    reps = [json.loads(x) for x in v.stdout.decode("utf-8").splitlines()]
    assert v.returncode == 0 and all(x["ok"] for x in reps), v.stdout


def test_broken_links_named_like_media_are_errors_not_silence(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.png").write_bytes((SAMPLES / "scene.png").read_bytes())
    (src / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (src / "gone-notes.txt").symlink_to(tmp_path / "nowhere.txt")      # not media: ignored
    r = run("label", src, "-o", tmp_path / "out", "-j", "1")
    assert r.returncode == 1
    assert f"gone.png: cannot read: broken symbolic link to {tmp_path / 'nowhere.png'}" in r.stderr
    assert "gone-notes" not in r.stderr and "labeled 1 file(s), 1 failed" in r.stderr
    r = run("verify", "--json", src)
    reps = {Path(d["path"]).name: d for d in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 2 and set(reps) == {"a.png", "gone.png"}
    assert reps["gone.png"]["error"].startswith("cannot read: broken symbolic link")
    # named on the command line, a loop or a broken link says so (it was "no such file or
    # directory", whereas in a folder it said "symbolic link loop"; QA, stop 44)
    (src / "self.png").symlink_to("self.png")
    r = run("label", src / "self.png", src / "gone.png", "-o", tmp_path / "out2", "-j", "1")
    assert r.returncode == 1 and f"{src / 'self.png'}: cannot read: symbolic link loop" in r.stderr \
        and f"gone.png: cannot read: broken symbolic link to {tmp_path / 'nowhere.png'}" in r.stderr, r.stderr


def test_in_place(tmp_path):
    src = tmp_path / "a.jpg"
    Image.fromarray(synthetic_photo(240, 320, 5)).save(src, quality=90)
    r = run("label", "--in-place", src, "-j", "1")
    assert r.returncode == 0, r.stderr
    r = run("verify", "--json", src)
    assert json.loads(r.stdout)["ok"] is True, r.stdout


def test_jpeg_names_other_than_jpg_are_kept(tmp_path):
    """.jfif and .jpe are JPEG: the output keeps its name (it was renamed .jpg without a word),
    and the C2PA manifest is signed for it."""
    for name in ("a.jfif", "b.jpe"):
        Image.fromarray(synthetic_photo(240, 320, 5)).save(tmp_path / name, "JPEG", quality=90)
    r = run("label", tmp_path / "a.jfif", tmp_path / "b.jpe", "-o", tmp_path / "out", "-j", "1")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jfif", "b.jpe"]
    r = run("verify", "--json", tmp_path / "out" / "a.jfif", tmp_path / "out" / "b.jpe")
    assert r.returncode == 0, r.stdout
    assert [json.loads(line)["ok"] for line in r.stdout.splitlines()] == [True, True]


def test_linked_folders_inside_an_input_folder_are_followed(tmp_path):
    """A folder of links to folders (a dataset's link farm) labeled nothing and said nothing:
    the walk passed linked folders over. A link back to an ancestor is walked once, and a link
    to the output folder is not walked at all."""
    shared = tmp_path / "shared"
    shared.mkdir()
    Image.fromarray(synthetic_photo(240, 320, 7)).save(shared / "p.png")
    src = tmp_path / "in"
    src.mkdir()
    (src / "linked").symlink_to(shared)
    (shared / "loop").symlink_to(src)               # in/linked/loop -> in: a cycle
    out = tmp_path / "out"
    out.mkdir()
    (src / "results").symlink_to(out)
    r = run("label", src, "-o", out, "-j", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["output"] for x in r.stdout.splitlines()] == [str(out / "linked" / "p.png")]
    r = run("label", src, "-o", out, "-j", "1", "--json")      # the first run's outputs stay out
    assert r.returncode == 1 and "p.png exists (use --overwrite" in r.stderr and r.stdout.count("\n") == 1
    r = run("verify", "--json", src)        # verify walks every link: the original, the output
    assert [(Path(json.loads(x)["path"]).parent.name, json.loads(x)["ok"]) for x in r.stdout.splitlines()] \
        == [("linked", False), ("linked", True)], r.stdout


def test_a_failed_write_reports_no_content_id_or_layers():
    """A picture labeled in memory whose write then failed was reported failed with a content
    ID and all four layers, as if it carried them (other failures give none). /proc refuses
    the output folder even to root."""
    r = run("label", SAMPLES / "scene.png", SAMPLES / "tone.wav", "-o", "/proc/synthlabel-no-such-out",
            "-j", "1", "--json")
    assert r.returncode == 1, r.stderr
    records = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(d["status"], d["content_id"], d["layers"]) for d in records] == [("failed", None, [])] * 2
    assert all("/proc/synthlabel-no-such-out" in d["error"] for d in records), records


def test_label_file_into_a_new_folder_named_with_a_slash(tmp_path, credentials):
    """label_file(src, "newdir/") wrote a file named "newdir" (the slash was dropped by Path)."""
    import synthlabel

    res = synthlabel.label_file(SAMPLES / "scene.png", f"{tmp_path}/new/", credentials=credentials)
    assert Path(res.output) == tmp_path / "new" / "scene.png" and Path(res.output).is_file()
    res = synthlabel.label_file(SAMPLES / "scene.png", tmp_path / "plain", credentials=credentials)
    assert Path(res.output) == tmp_path / "plain.png"     # no slash: a file name, suffix set
    assert res.warnings == []
    # named for another format: renamed, and said (the CLI said so of an input's name; the
    # library's caller heard nothing)
    res = synthlabel.label_file(SAMPLES / "tone.wav", tmp_path / "t.mp3", credentials=credentials)
    assert Path(res.output) == tmp_path / "t.wav"
    assert "written as t.wav: an output's name follows the format written, not the .mp3 asked" in res.warnings


def test_in_place_keeps_a_multi_frame_original(tmp_path):
    """--in-place on an animated GIF wrote a.png (its first frame) and deleted a.gif, losing
    the other frames for good. A one-frame GIF is still replaced by its PNG."""
    frames = [Image.fromarray(synthetic_photo(240, 320, 5 + i)).convert("P") for i in range(3)]
    anim, still = tmp_path / "anim.gif", tmp_path / "still.gif"
    frames[0].save(anim, save_all=True, append_images=frames[1:], duration=100)
    frames[0].save(still)
    r = run("label", "--in-place", anim, still, "-j", "1")
    assert r.returncode == 0, r.stderr
    assert anim.exists() and Image.open(anim).n_frames == 3
    assert "the original anim.gif is kept: it has 3 frames (pages) and anim.png only the first" in r.stderr
    assert not still.exists()
    for png in (tmp_path / "anim.png", tmp_path / "still.png"):
        assert json.loads(run("verify", "--json", png).stdout)["ok"] is True


def test_in_place_refuses_to_flatten_an_animated_webp_or_png(tmp_path):
    """--in-place on an animated WebP or PNG (APNG) replaced it with a still of its first
    frame (exit 0, found by QA helper): the output keeps its name, so the original could not
    be kept as a GIF's is. It is refused, the original untouched, also in a dry run;
    metadata-only labeling, which keeps every frame, still works in place."""
    frames = [Image.fromarray(synthetic_photo(240, 320, 7 + i)) for i in range(3)]
    files = [tmp_path / "anim.webp", tmp_path / "anim.png"]
    for f in files:
        frames[0].save(f, save_all=True, append_images=frames[1:], duration=100)
    before = [sha(f) for f in files]
    for dry in ((), ("--dry-run",)):
        r = run("label", "--in-place", *files, "-j", "1", *dry)
        assert r.returncode == 1 and [sha(f) for f in files] == before, r.stderr
        for f in files:
            assert (f"error: {f}: has 3 frames and the labeled output only the first: "
                    "--in-place would lose the others") in r.stderr, r.stderr
    r = run("label", "--in-place", *files, "-j", "1", "--no-explicit", "--no-watermark")
    assert r.returncode == 0, r.stderr
    for f in files:
        assert Image.open(f).n_frames == 3 and sha(f) != before[files.index(f)]
        assert json.loads(run("verify", "--json", "--layers", "metadata,c2pa", f).stdout)["ok"] is True


def test_an_output_path_taken_by_a_directory_is_named(tmp_path):
    """An output path that is a directory: --dry-run said it would be labeled, the run failed
    naming our hidden temp file ("Is a directory: out/.b.png.x.tmp"), and --skip-existing took
    the folder for a finished output (found by QA helper). All three say what it is."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(synthetic_photo(120, 160, 3)).save(src / "b.png")
    (tmp_path / "out" / "b.png").mkdir(parents=True)
    for opts in (("--overwrite", "--dry-run"), ("--overwrite",), ("--skip-existing",), ()):
        r = run("label", src, "-o", tmp_path / "out", "-j", "1", *opts)
        assert r.returncode == 1, (opts, r.stderr)
        assert f"output {tmp_path / 'out' / 'b.png'} is a directory" in r.stderr, (opts, r.stderr)
        assert ".tmp" not in r.stderr
    assert (tmp_path / "out" / "b.png").is_dir() and not any((tmp_path / "out" / "b.png").iterdir())


def test_overwrite_never_replaces_an_original_in_an_output_folder_inside_the_input(tmp_path):
    """-o naming an existing subfolder of the input (not walked, so its files are not
    labeled) let --overwrite replace the originals there (found by QA helper). A file there
    without an AIGC label is refused; earlier outputs (labeled) are still replaced."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(synthetic_photo(120, 160, 3)).save(src / "x.png")
    Image.fromarray(synthetic_photo(120, 160, 4)).save(src / "sub" / "x.png")
    before = sha(src / "sub" / "x.png")
    r = run("label", src, "-o", src / "sub", "--overwrite", "-j", "1")
    assert r.returncode == 1 and sha(src / "sub" / "x.png") == before, r.stderr
    assert f"output {src / 'sub' / 'x.png'} exists and carries no AIGC label" in r.stderr
    out = src / "labeled"
    assert run("label", src, "-o", out, "-j", "1").returncode == 0
    first = sha(out / "x.png")
    r = run("label", src, "-o", out, "--overwrite", "-j", "1")
    assert r.returncode == 0 and sha(out / "x.png") != first, r.stderr   # a new content ID


def test_layer_switches_and_format(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(synthetic_photo(240, 320, 6)).save(src)
    out = tmp_path / "out"
    r = run("label", src, "-o", out, "--no-watermark", "--no-explicit", "-f", "webp", "-j", "1")
    assert r.returncode == 0, r.stderr
    assert Image.open(out / "a.webp").format == "WEBP"
    r = run("verify", "--json", out / "a.webp")
    rep = json.loads(r.stdout)
    assert rep["layers"]["metadata"]["status"] == "ok"
    assert rep["layers"]["c2pa"]["status"] == "ok"
    assert rep["layers"]["c2pa"]["details"]["soft_binding"] is None
    assert rep["layers"]["watermark"]["status"] == "missing"
    assert rep["layers"]["explicit"]["status"] == "missing"
    assert r.returncode == 1
    r = run("verify", "--json", "--layers", "metadata,c2pa", out / "a.webp")
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True


def test_nonconforming_text_refused(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(synthetic_photo(120, 160, 7)).save(src)
    r = run("label", src, "-o", tmp_path / "out", "--text", "AI")
    assert r.returncode == 2
    assert "generation element" in r.stderr
    r = run("label", src, "-o", tmp_path / "out", "--text", "AI", "--allow-nonconforming-text", "-j", "1")
    assert r.returncode == 0, r.stderr


def test_verify_unlabeled_and_errors(tmp_path):
    plain = tmp_path / "plain.png"
    Image.fromarray(synthetic_photo(300, 400, 8)).save(plain)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    r = run("verify", "--json", plain)
    rep = json.loads(r.stdout)
    assert r.returncode == 1
    assert {k: v["status"] for k, v in rep["layers"].items()} == {
        "explicit": "missing", "metadata": "missing", "watermark": "missing", "c2pa": "missing"}
    r = run("verify", "--json", junk)
    assert r.returncode == 2 and json.loads(r.stdout)["error"]
    assert run("verify", tmp_path / "nope.png").returncode == 2


def test_verify_quiet_shows_only_what_fails(labeled_samples, tmp_path):
    """verify had no -q (label has): a compliance check over a large folder printed a block
    for every file that passed."""
    out, _ = labeled_samples
    plain = tmp_path / "plain.png"
    Image.fromarray(synthetic_photo(120, 160, 9)).save(plain)
    r = run("verify", "-q", out / "scene.png", out / "scene.jpg", plain)
    assert r.returncode == 1
    assert "plain.png" in r.stdout and "FAIL" in r.stdout and "scene" not in r.stdout, r.stdout
    assert "verified 3 file(s): 2 OK" in r.stderr, r.stderr
    r = run("verify", "-q", "--json", out / "scene.png", plain)      # machines get every line
    assert [json.loads(x)["status"] for x in r.stdout.splitlines()] == ["ok", "fail"]


def test_verify_jobs_streams_in_input_order(labeled_samples, tmp_path):
    """--jobs N verifies in parallel but prints one report per file in the order given, the
    same reports as one process; a broken file in the batch gets its error, the rest verify."""
    out, _ = labeled_samples
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 30)
    plain = tmp_path / "plain.png"
    Image.fromarray(synthetic_photo(300, 400, 8)).save(plain)
    files = [out / "scene.jpg", junk, plain, out / "scene.png"]
    runs = {j: run("verify", "--json", "--jobs", j, *files) for j in (1, 2)}
    for j, r in runs.items():
        assert r.returncode == 2, (j, r.stderr)          # the junk file is an error
        reps = [json.loads(x) for x in r.stdout.splitlines()]
        assert [Path(x["path"]).name for x in reps] == ["scene.jpg", "junk.jpg", "plain.png", "scene.png"]
        assert reps[1]["error"] and reps[0]["ok"] and reps[3]["ok"] and not reps[2]["ok"]
        assert "BytesIO" not in reps[1]["error"] and " at 0x" not in reps[1]["error"], reps[1]["error"]
        # The batch's one-line summary goes to stderr (stdout stays one JSON object per line).
        # The layers an unreadable file had checked all the same (here its C2PA manifest)
        # count, as its lines show them (they were left out, while its content IDs counted)
        assert ("verified 4 file(s): 2 OK, 1 with a layer not ok, 1 unreadable (explicit 1 missing; "
                "metadata 1 missing; watermark 1 missing; c2pa 2 missing)") in r.stderr, r.stderr

    def stable(stdout):   # drop timings, keep every finding
        reps = [json.loads(x) for x in stdout.splitlines()]
        for x in reps:
            x.pop("timings", None)
        return reps
    assert stable(runs[1].stdout) == stable(runs[2].stdout)


def test_exif_icc_survive_pipeline_and_exiftool_reads_labels(tmp_path):
    exiftool = require_tool("exiftool")
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    im = Image.fromarray(synthetic_photo(300, 400, 9))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    src = tmp_path / "in"
    src.mkdir()
    im.save(src / "a.jpg", quality=90, exif=exif.tobytes(), icc_profile=icc)
    im.save(src / "b.png", icc_profile=icc)
    im.save(src / "c.webp", quality=90, icc_profile=icc)
    out = tmp_path / "out"
    assert run("label", src, "-o", out, "-j", "1").returncode == 0
    for name in ("a.jpg", "b.png", "c.webp"):
        p = out / name
        tags = json.loads(subprocess.run([exiftool, "-j", "-G1", "-a", p], capture_output=True,
                                         text=True, check=True).stdout)[0]
        aigc = next(v for k, v in tags.items() if k.lower() == "xmp-tc260:aigc")
        assert json.loads(aigc)["ProduceID"] == json.loads(run("verify", "--json", p).stdout)["content_ids"]["watermark"]
        dst = next(v for k, v in tags.items() if k.endswith(":DigitalSourceType"))
        assert dst.endswith("trainedAlgorithmicMedia")
        assert Image.open(p).info.get("icc_profile") == icc
    assert Image.open(out / "a.jpg").getexif()[0x010F] == "TestCam"


def _as_list(x) -> list:
    return [] if x is None else x if isinstance(x, list) else [x]


def test_camera_exif_keeps_its_types_and_exiftool_reads_it_in_every_format(tmp_path):
    """EXIF as a camera writes it (UNDEFINED UserComment and ComponentsConfiguration, a GPS
    IFD, an orientation) survives labeling so that ExifTool validates it and reads it. Pillow's
    re-layout wrote the UNDEFINED tags as BYTE ("Non-standard format (int8u)" in every format),
    and in a signed PNG ExifTool showed no EXIF at all (IFD0 at offset 8 of eXIf collided
    with the manifest's JUMBF box at offset 8 of caBX in its loop guard). The XMP copy of
    the orientation kept saying "rotate 90" of pixels already turned upright."""
    exiftool = require_tool("exiftool")
    src = tmp_path / "in"
    src.mkdir()
    im = Image.fromarray(synthetic_photo(320, 400, 5))
    for name in ("a.jpg", "b.png", "c.webp"):
        im.save(src / name, quality=92)
    subprocess.run([exiftool, "-q", "-overwrite_original", "-Make=TestCam", "-Orientation#=6",
                    "-UserComment=shot at dusk", "-ComponentsConfiguration#=1 2 3 0",
                    "-DateTimeOriginal=2026:11:30 10:00:00",
                    "-GPSLatitude=52.5", "-GPSLatitudeRef=N", "-XMP-tiff:Orientation#=6",
                    *map(str, src.iterdir())], check=True)
    before = json.loads(subprocess.run([exiftool, "-j", "-a", "-validate", "-warning", "-EXIF:all",
                                        *map(str, src.iterdir())],
                                       capture_output=True, text=True, check=True).stdout)
    # (ExifTool asks a JPEG's EXIF for its ExifImageWidth / ExifImageHeight)
    assert all(t["UserComment"] and t["ComponentsConfiguration"] for t in before), before
    out = tmp_path / "out"
    r = run("label", src, "-o", out, "-j", "1")
    assert r.returncode == 0, r.stderr
    outs = sorted(out.iterdir())
    assert [p.name for p in outs] == ["a.jpg", "b.png", "c.webp"]
    tags = json.loads(subprocess.run([exiftool, "-j", "-a", "-n", "-validate", "-warning",
                                      "-EXIF:all", *map(str, outs)], capture_output=True,
                                     text=True, check=True).stdout)
    before = {Path(t["SourceFile"]).name: t for t in before}
    for t in tags:
        name, old = Path(t["SourceFile"]).name, before[Path(t["SourceFile"]).name]
        # no warning that the input did not have (a JPEG's missing ExifImageWidth / Height)
        assert set(_as_list(t.get("Warning"))) <= set(_as_list(old.get("Warning"))), name
        assert (t["Make"], t["UserComment"], t["DateTimeOriginal"]) == (
            "TestCam", "shot at dusk", "2026:11:30 10:00:00"), name
        assert t["GPSLatitude"] == 52.5 and t["Orientation"] == 1, name   # pixels turned upright
        assert t["ComponentsConfiguration"], name
    # the XMP copy of the orientation is upright too (it said "rotate 90" of upright pixels)
    xmp = json.loads(subprocess.run([exiftool, "-j", "-n", "-XMP-tiff:Orientation", *map(str, outs)],
                                    capture_output=True, text=True, check=True).stdout)
    assert [t["Orientation"] for t in xmp] == [1, 1, 1], xmp
    rep = json.loads(run("verify", "--json", out / "b.png").stdout)
    assert rep["ok"], rep


def test_every_labeled_format_validates_in_exiftool(tmp_path):
    """ExifTool, the reader compliance teams check files with, validates every format the
    label command writes without a warning. It warned on each MP3 and FLAC ("Invalid ID3 frame
    size": the C2PA frame last in the tag, with no padding) and on each MP4 and M4A
    ("Duplicate tag 'meta'": FFmpeg's encoder-tag box beside the AIGC one)."""
    ffmpeg, exiftool = require_tool("ffmpeg"), require_tool("exiftool")
    src = tmp_path / "in"
    src.mkdir()
    noise = ["-f", "lavfi", "-i", "anoisesrc=d=4:c=pink:r=44100:a=0.2", "-ac", "2"]
    for name, codec in (("a.mp3", []), ("a.flac", []), ("a.m4a", []),
                        ("alac.m4a", ["-c:a", "alac"]), ("a.ogg", [])):
        subprocess.run([ffmpeg, "-v", "error", *noise, *codec, str(src / name)], check=True)
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:d=2",
                    *noise, "-shortest", "-c:v", "libx264", "-preset", "ultrafast",
                    str(src / "v.mp4")], check=True)
    for sample in ("scene.jpg", "scene.png", "tone.wav"):
        shutil.copy(SAMPLES / sample, src / sample)
    r = run("label", src, "-o", tmp_path / "out", "--jobs", "2")
    assert r.returncode == 0, r.stderr
    outs = sorted(p for p in (tmp_path / "out").iterdir() if p.suffix != ".c2pa")
    assert len(outs) == 9, outs
    tags = json.loads(subprocess.run(
        [exiftool, "-j", "-validate", "-warning", "-a", *map(str, outs)],
        capture_output=True, text=True, check=True).stdout)
    bad = {Path(t["SourceFile"]).name: t.get("Warning") for t in tags if t.get("Validate") != "OK"}
    assert not bad, bad


def test_readme_library_example(tmp_path):
    """The README's Python example runs as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no python example"
    cwd = os.getcwd()
    (tmp_path / "samples").symlink_to(SAMPLES)  # as if run from the repository root
    os.chdir(tmp_path)
    namespace: dict = {}
    try:
        for code in blocks:  # later blocks use names from earlier ones, as a reader would
            exec(compile(code, "README.md", "exec"), namespace)
    finally:
        os.chdir(cwd)
    assert (tmp_path / "generated.jpg").exists()


def test_library_label_file_and_label_audio(tmp_path):
    """The top-level library calls: label_file labels any kind by content (the suffix follows
    the format written) and raises one line naming the file; label_audio labels arrays."""
    import synthlabel

    res = synthlabel.label_file(SAMPLES / "tone.wav", tmp_path / "out" / "tone.flac")
    assert Path(res.output) == tmp_path / "out" / "tone.wav" and res.media_type == "audio/wav"
    assert res.layers == ["explicit", "watermark", "metadata", "c2pa"]
    rep = synthlabel.verify_file(res.output)
    assert rep.ok() and rep.content_ids["watermark"] == res.content_id
    with pytest.raises(synthlabel.LabelingError, match=r"make_samples\.py: not a recognised media file"):
        synthlabel.label_file(SAMPLES / "make_samples.py", tmp_path / "out" / "x")
    with pytest.raises(synthlabel.LabelingError, match="exists"):
        synthlabel.label_file(SAMPLES / "tone.wav", tmp_path / "out" / "tone.wav")
    with pytest.raises(ValueError):
        synthlabel.label_file(SAMPLES / "tone.wav")
    with pytest.raises(TypeError, match="spec must be a LabelSpec, got str"):   # was "internal error"
        synthlabel.label_file(SAMPLES / "tone.wav", tmp_path / "x", spec="x")
    t = np.arange(48000 * 3) / 48000
    data, sidecar, info = synthlabel.label_audio(0.3 * np.sin(2 * np.pi * 330 * t)[:, None]
                                                 * (1 + 0.5 * np.sin(5 * t))[:, None], 48000,
                                                 format="flac")
    from synthlabel.formats.sniff import sniff_bytes

    # (the C2PA manifest rides in an ID3 tag ahead of fLaC, as c2pa-rs lays FLAC out)
    assert sidecar is None and sniff_bytes(data).format == "flac" and "c2pa" in info.layers
    assert synthlabel.verify_bytes(data, layers=("metadata", "c2pa")).ok(("metadata", "c2pa"))


def test_output_mapping_mirrors_trees(tmp_path):
    from synthlabel.pipeline import plan_jobs

    for d in ("a/sub", "b"):
        (tmp_path / d).mkdir(parents=True)
    for f in ("a/x.png", "a/sub/y.png", "b/x.png", "a/.hidden.png"):
        (tmp_path / f).write_bytes(b"")
    out = tmp_path / "out"
    single = {j.target.relative_to(out).as_posix() for j in plan_jobs([tmp_path / "a"], out, in_place=False)}
    assert single == {"x.png", "sub/y.png"}
    both = {j.target.relative_to(out).as_posix()
            for j in plan_jobs([tmp_path / "a", tmp_path / "b"], out, in_place=False)}
    assert both == {"a/x.png", "a/sub/y.png", "b/x.png"}
    # An output directory inside the input folder is not an input (a second run would
    # otherwise label the first run's outputs into a/labeled/labeled/); the folder itself
    # given as the output directory excludes nothing.
    (tmp_path / "a/labeled/sub").mkdir(parents=True)
    (tmp_path / "a/labeled/sub/y.png").write_bytes(b"")
    (tmp_path / "a/labeled-not/z.png").parent.mkdir()
    (tmp_path / "a/labeled-not/z.png").write_bytes(b"")
    inner = {j.source.relative_to(tmp_path / "a").as_posix()
             for j in plan_jobs([tmp_path / "a"], tmp_path / "a" / "labeled", in_place=False)}
    assert inner == {"x.png", "sub/y.png", "labeled-not/z.png"}
    same = {j.source.relative_to(tmp_path / "a").as_posix()
            for j in plan_jobs([tmp_path / "a"], tmp_path / "a", in_place=False)}
    assert same == inner | {"labeled/sub/y.png"}


def test_relabeling_warns_and_skip_labeled_leaves_labeled_inputs_alone(labeled_samples, tmp_path):
    out, _ = labeled_samples
    first_id = next(d["content_id"] for d in map(json.loads, (out / "report.jsonl").read_text().splitlines())
                    if Path(d["source"]).name == "scene.png")
    src = tmp_path / "in"
    src.mkdir()
    (src / "labeled.png").write_bytes((out / "scene.png").read_bytes())
    (src / "fresh.png").write_bytes((SAMPLES / "scene.png").read_bytes())

    r = run("label", src, "-o", tmp_path / "again", "--json", "-j", "1")
    assert r.returncode == 0, r.stderr
    rows = {Path(d["source"]).name: d for d in map(json.loads, r.stdout.splitlines())}
    assert rows["labeled.png"]["prior_label"] == f"ProduceID {first_id}, producer synthlabel"
    assert any("already labeled" in w and first_id in w for w in rows["labeled.png"]["warnings"])
    assert rows["fresh.png"]["prior_label"] is None
    assert not any("already labeled" in w for w in rows["fresh.png"]["warnings"])
    # Labeled again: one AIGC label, with the content ID its watermark carries, which is kept
    # (a second mark over it left neither readable after a few relabels).
    assert any("keeps its content ID" in w for w in rows["labeled.png"]["warnings"])
    again = json.loads(run("verify", "--json", tmp_path / "again" / "labeled.png").stdout)
    assert again["layers"]["metadata"]["status"] == again["layers"]["watermark"]["status"] == "ok"
    assert again["content_ids"]["metadata"] == rows["labeled.png"]["content_id"] == first_id
    assert again["ids_agree"] is True

    r = run("label", src, "-o", tmp_path / "skip", "--skip-labeled", "--json", "-j", "1")
    assert r.returncode == 0, r.stderr
    rows = {Path(d["source"]).name: d for d in map(json.loads, r.stdout.splitlines())}
    assert rows["labeled.png"]["skipped"].startswith("already labeled") and rows["labeled.png"]["ok"]
    assert rows["fresh.png"]["output"] and not rows["fresh.png"]["skipped"]
    assert sorted(p.name for p in (tmp_path / "skip").iterdir()) == ["fresh.png"]
    assert "1 already-labeled file(s) left alone" in r.stderr


def test_keys_init_and_show(tmp_path):
    home = tmp_path / "home"
    env = {"SYNTHLABEL_HOME": str(home)}
    r = run("keys", "init", env=env)
    assert r.returncode == 0 and "DEVELOPMENT" in r.stderr
    files = [p for p in home.rglob("*") if p.is_file()]
    assert files and all(p.stat().st_mode & 0o777 == 0o600 for p in files)
    assert (home / "dev").stat().st_mode & 0o777 == 0o700
    r = run("keys", "init", env=env)
    assert r.returncode == 2 and "exist" in r.stderr.lower()
    r = run("keys", "show", env=env)
    info = json.loads(r.stdout)
    assert info["development"] is True and info["trust_anchor_certificates"] >= 1
    # the signer as verify names it: an allow-list made from keys show matches verify's JSON
    r2 = run("label", SAMPLES / "scene.png", "-o", tmp_path / "signed", env=env)
    assert r2.returncode == 0, r2.stderr
    rep = json.loads(run("verify", "--json", tmp_path / "signed" / "scene.png", env=env).stdout)
    assert rep["layers"]["c2pa"]["details"]["signer"] == info["signer"]
    assert info["signer_organization"] and info["signer_organization"] not in info["signer"]
    secret_bits = [p.read_bytes() for p in files if p.suffix == ".key"]
    for blob in secret_bits:
        for line in blob.decode().splitlines():
            if line and not line.startswith("-----"):
                assert line not in r.stdout + r.stderr
    # --force keeps the replaced set and says how to read what it labeled (it was deleted:
    # verify then said "another watermark key" of every file labeled before)
    r = run("keys", "init", "--force", env=env)
    assert r.returncode == 0, r.stderr
    m = re.search(r"verified with --watermark-key (\S+) --trust-anchors (\S+)", r.stderr)
    assert m, r.stderr
    r = run("verify", "--json", "--watermark-key", m[1], "--trust-anchors", m[2],
            tmp_path / "signed" / "scene.png", env=env)
    rep = json.loads(r.stdout)
    assert r.returncode == 0 and rep["layers"]["watermark"]["status"] == "ok", r.stdout + r.stderr
    assert rep["layers"]["c2pa"]["details"]["state"] == "Trusted"


def test_first_use_creates_dev_credentials_with_one_warning(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(synthetic_photo(200, 260, 12)).save(src)
    env = {"SYNTHLABEL_HOME": str(tmp_path / "fresh")}
    r = run("label", src, "-o", tmp_path / "out", "-j", "1", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("DEVELOPMENT") == 1
    r = run("label", src, "-o", tmp_path / "out2", "-j", "1", env=env)
    assert "DEVELOPMENT" not in r.stderr  # warned once, on creation


def test_readme_first_command_labels_and_verifies_samples(tmp_path):
    """The README's first command, minus the install step, on a copy of samples/."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.search(r"```bash\n(.*?)\n```", text, re.S).group(1).strip()
    assert first.startswith("pip install . && ")
    cmd = first[len("pip install . && "):]
    (tmp_path / "samples").symlink_to(SAMPLES)
    env = dict(os.environ, SYNTHLABEL_HOME=str(tmp_path / "home"))
    r = subprocess.run(cmd, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FAIL" not in r.stdout and r.stdout.count(" OK") >= 4  # every sample, video included


def test_label_is_opaque_on_transparent_images():
    import synthlabel

    rgba = np.zeros((300, 400, 4), np.uint8)
    rgba[..., :3] = synthetic_photo(300, 400, 13)
    rgba[150:, 200:, 3] = 0  # the bottom-right quarter, where the label goes, is transparent
    rgba[:150, :, 3] = 255
    rgba[150:, :200, 3] = 255
    out = synthlabel.label_image(rgba, format="png")
    im = np.asarray(Image.open(io.BytesIO(out.data)))
    assert im.shape[2] == 4
    corner = im[-40:, -80:, 3]
    assert (corner == 255).mean() > 0.5, "the label's plate must be opaque"
    assert im[160:200, 210:260, 3].max() == 0  # transparency elsewhere is kept


def test_library_results_serialise_to_json():
    """The results a generation service gets back (``LabeledMedia``; ``LabeledAudio`` and
    ``LabeledVideo`` are checked in their own tests) had no ``to_dict``: ``json.dumps`` of
    ``asdict`` failed on the content ID and the bytes. ``to_dict`` gives plain JSON types."""
    import synthlabel

    out = synthlabel.label_image(synthetic_photo(200, 260, 4), format="jpeg")
    d = json.loads(json.dumps(out.to_dict()))
    assert d["content_id"] == out.content_id.hex and len(d["content_id"]) == 16
    assert d["bytes"] == len(out.data) and "data" not in d
    assert (d["format"], d["mime"], d["extension"]) == ("jpeg", "image/jpeg", out.extension)
    assert d["layers"] == out.layers and d["warnings"] == out.warnings
    assert set(d["timings"]) == set(out.timings)


def test_a_mark_not_found_on_read_back_is_not_claimed(credentials):
    """A QR-like black-and-white picture defeats the mark: labeling's read-back found no
    trace of it, yet the result listed the layer and the signed C2PA manifest recorded a
    watermark (action and soft binding), so verify called the fresh output's mark "another
    key, or an edit". A mark not found is claimed nowhere; one found is claimed as before."""
    import synthlabel
    from synthlabel import watermark

    qr = (np.kron(np.random.default_rng(1).integers(0, 2, (32, 32)), np.ones((16, 16))) * 255).astype(np.uint8)
    bilevel = np.repeat(qr[..., None], 3, 2)
    out = synthlabel.label_image(bilevel, format="png", credentials=credentials)
    assert "watermark" not in out.layers and "explicit" in out.layers, out.layers
    assert any(w.startswith("watermark: read back from the labeled pixels, the mark is not found")
               and "not said to carry a watermark" in w for w in out.warnings), out.warnings
    rep = synthlabel.verify_bytes(out.data, credentials=credentials)
    c2pa = rep.layers["c2pa"]
    assert c2pa.status.value == "ok" and c2pa.details["soft_binding"] is None
    assert "c2pa.watermarked" not in json.dumps(c2pa.details["actions"])
    assert rep.layers["watermark"].status.value == "missing"
    # a photo's mark reads back: claimed, bound in the manifest
    photo = synthlabel.label_image(synthetic_photo(300, 400, 9), format="png", credentials=credentials)
    assert "watermark" in photo.layers
    sb = synthlabel.verify_bytes(photo.data, credentials=credentials).layers["c2pa"].details["soft_binding"]
    assert sb and sb["alg"] == watermark.IMAGE_ALG, sb


def test_library_turns_a_pil_phone_photo_upright(credentials):
    """``label_image(Image.open("phone.jpg"))``: the photo is stored sideways with EXIF
    Orientation 6. The output (which carries no orientation tag) came out sideways, labeled
    at the stored corner. It is now turned upright first, with a warning, as a file is."""
    import synthlabel

    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(synthetic_photo(300, 400, 12)).save(buf, "JPEG", quality=95, exif=exif)
    phone = Image.open(io.BytesIO(buf.getvalue()))
    assert phone.size == (400, 300)
    out = synthlabel.label_image(phone, format="png", credentials=credentials)
    assert Image.open(io.BytesIO(out.data)).size == (300, 400)          # portrait, as shown
    assert any(w.startswith("EXIF orientation 6 applied") for w in out.warnings), out.warnings
    rep = synthlabel.verify_bytes(out.data, credentials=credentials)
    assert rep.ok(), rep.to_json()
    plain = synthlabel.label_image(Image.fromarray(synthetic_photo(300, 400, 12)), format="png",
                                   credentials=credentials)
    assert not any("orientation" in w for w in plain.warnings)


def test_metadata_only_labeling_keeps_the_pixels(credentials):
    """Metadata and manifest only (--no-explicit --no-watermark, a platform re-publishing)
    decoded and re-encoded the picture: a JPEG lost quality at every re-publish (a quality-50
    one doubled in size), a 16-bit PNG its depth. The file's own bytes now take the layers:
    the pixels are the input's, and a re-published labeled file keeps one label and its
    manifest as parent."""
    import synthlabel
    from synthlabel.models import LabelSpec

    photo = synthetic_photo(240, 320, 14)
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG", quality=50)
    jpeg = buf.getvalue()
    ok, png16 = cv2.imencode(".png", (photo.astype(np.uint16) * 257)[..., ::-1])
    spec = LabelSpec(explicit=False, watermark=False)
    for data in (jpeg, png16.tobytes()):
        out = synthlabel.label_image_bytes(data, spec=spec, credentials=credentials)
        assert out.layers == ["metadata", "c2pa"]
        before = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        after = cv2.imdecode(np.frombuffer(out.data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert after.dtype == before.dtype and np.array_equal(after, before)
        assert len(out.data) < len(data) + 16_000                       # not re-encoded
        rep = synthlabel.verify_bytes(out.data, credentials=credentials, layers=("metadata", "c2pa"))
        assert rep.ok(), rep.to_json()
        # every layer: no mark, and the summary says the signed manifest binds none
        wm = synthlabel.verify_bytes(out.data, credentials=credentials).layers["watermark"]
        assert wm.status.value == "missing" and "manifest names no watermark" in wm.summary, wm.summary
    # a labeled file re-published: one AIGC label with the propagator, the old manifest as parent
    labeled = synthlabel.label_image(photo, format="jpeg", credentials=credentials)
    again = synthlabel.label_image_bytes(labeled.data, spec=LabelSpec(explicit=False, watermark=False,
                                                                      propagator="PlatformX"),
                                         credentials=credentials)
    rep = synthlabel.verify_bytes(again.data, credentials=credentials)
    assert rep.ok(), rep.to_json()
    assert rep.layers["metadata"].details["count"] == 1
    assert rep.layers["metadata"].details["aigc"]["ContentPropagator"] == "PlatformX"
    assert rep.layers["c2pa"].details["parent"] is not None
    assert np.array_equal(cv2.imdecode(np.frombuffer(again.data, np.uint8), 1),
                          cv2.imdecode(np.frombuffer(labeled.data, np.uint8), 1))


def test_report_through_links_and_devices(tmp_path):
    """--report --overwrite replaced a symbolic link, or a device node, with a regular file
    (temp file + rename): as root, --report /dev/null --overwrite would have replaced the
    system's /dev/null. A link now gets its target written; a device or FIFO is written
    straight through; a parent that is a file is named."""
    src = tmp_path / "a.png"
    Image.fromarray(synthetic_photo(120, 160, 3)).save(src)
    (tmp_path / "real.jsonl").write_text("old\n")
    (tmp_path / "link.jsonl").symlink_to("real.jsonl")
    r = run("label", src, "-o", tmp_path / "o1", "--report", tmp_path / "link.jsonl", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "link.jsonl").is_symlink()
    assert json.loads((tmp_path / "real.jsonl").read_text())["output"].endswith("a.png")
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))     # the null device
    except PermissionError:
        node = None
    if node is not None:
        r = run("label", src, "-o", tmp_path / "o2", "--report", node, "--overwrite")
        assert r.returncode == 0 and stat.S_ISCHR(node.stat().st_mode), r.stderr
    (tmp_path / "afile").write_text("")
    r = run("label", src, "-o", tmp_path / "o3", "--report", tmp_path / "afile" / "r.jsonl")
    assert r.returncode == 2 and "afile is not a folder" in r.stderr


def test_png_transparency_from_a_trns_key_is_kept():
    """An RGB or grey PNG made transparent by a tRNS colour key (no alpha band) lost its
    transparency without a word: the key's pixels came out opaque in the key colour."""
    from synthlabel.labeling import label_image_bytes

    rgb = synthetic_photo(240, 320, 5)
    rgb[:100, :100] = (10, 200, 30)
    grey16 = (rgb.mean(axis=2) * 257).astype(np.uint16)
    grey16[:100, :100] = 777
    for im, key in [(Image.fromarray(rgb), (10, 200, 30)), (Image.fromarray(grey16), 777)]:
        buf = io.BytesIO()
        im.save(buf, "PNG", transparency=key)
        out = label_image_bytes(buf.getvalue())
        a = np.asarray(Image.open(io.BytesIO(out.data)).convert("RGBA"))[..., 3]
        assert a[:100, :100].max() == 0 and a[100:, 100:].min() == 255, im.mode


def test_premultiplied_and_16_bit_pil_images():
    """A premultiplied RGBa PIL image lost its alpha without a word, and a 16-bit PIL image
    holding 8-bit values came out nearly black (the same numpy array was refused)."""
    import synthlabel

    rgba = np.zeros((200, 240, 4), np.uint8)
    rgba[..., :3] = synthetic_photo(200, 240, 8)
    rgba[..., 3] = 255
    rgba[:60, :60, 3] = 0
    out = synthlabel.label_image(Image.fromarray(rgba, "RGBA").convert("RGBa"), format="png")
    a = np.asarray(Image.open(io.BytesIO(out.data)).convert("RGBA"))[..., 3]
    assert a[:60, :60].max() == 0 and a[60:120, 60:].min() == 255
    grey = Image.fromarray(synthetic_photo(200, 240, 8)[..., 0].astype(np.uint16))
    assert grey.mode.startswith("I;16")
    with pytest.raises(synthlabel.LabelingError, match="16-bit image whose values are all <= 255"):
        synthlabel.label_image(grey, format="png")


def test_pil_images_get_the_array_checks():
    """PIL images skipped checks numpy arrays get: a float image with NaN came out nearly
    black (an array is refused), one above the pixel limit was labeled (and its output then
    refused by verify), and I;16B / L / N images failed with Pillow's "image has wrong mode"."""
    import synthlabel
    from synthlabel.formats import image_codec

    f = np.full((120, 160), 0.5, np.float32)
    f[10, 10] = np.nan
    with pytest.raises(synthlabel.LabelingError, match="NaN or infinity"):
        synthlabel.label_image(Image.fromarray(f, "F"), format="png")
    buf = io.BytesIO()
    Image.fromarray(f, "F").save(buf, format="TIFF")
    with pytest.raises(synthlabel.LabelingError, match="NaN or infinity"):
        synthlabel.label_image_bytes(buf.getvalue())
    big = Image.new("L", (image_codec.MAX_PIXELS // 1000 + 1, 1000))
    with pytest.raises(synthlabel.LabelingError, match="above the .* pixel limit"):
        synthlabel.label_image(big, format="png")
    grey = (synthetic_photo(120, 160, 5)[..., 0].astype(np.uint16) << 8) | 0x80
    for mode in ("I;16B", "I;16L", "I;16N"):
        im = Image.fromarray(grey).convert("I").convert(mode) if mode != "I;16N" else \
            Image.frombytes(mode, (160, 120), grey.astype(np.uint16).tobytes())
        out = synthlabel.label_image(im, format="png")
        back = np.asarray(Image.open(io.BytesIO(out.data)).convert("L")).astype(int)
        assert abs(back[:60].mean() - (grey[:60] >> 8).mean()) < 3, mode
        assert any("reduced to 8 bits" in w for w in out.warnings), mode


def test_wide_pil_modes_keep_their_levels():
    """A 32-bit integer ("I") or float ("F") PIL image, or a 32-bit TIFF, was stretched to its
    own maximum (a mid-grey picture came out brighter: mean 147 -> 189) where a 16-bit one
    kept its levels. Values that name a range keep it; only others are stretched, said so."""
    import synthlabel

    grey = synthetic_photo(240, 320, 9).mean(axis=2).astype(np.uint8) // 2 + 40    # 40..167
    cases = {"I from L": Image.fromarray(grey).convert("I"),
             "F from L": Image.fromarray(grey).convert("F"),
             "F 0..1": Image.fromarray(grey.astype(np.float32) / 255),
             "I 16-bit": Image.fromarray(grey.astype(np.int32) * 257)}
    for name, im in cases.items():
        buf = io.BytesIO()
        im.save(buf, format="TIFF")
        for out in (synthlabel.label_image(im, format="png"), synthlabel.label_image_bytes(buf.getvalue())):
            back = np.asarray(Image.open(io.BytesIO(out.data)).convert("L")).astype(float)
            assert abs(np.median(back) - np.median(grey)) < 2, name
            assert f"{im.mode} image reduced to 8 bits per channel" in out.warnings, name
    hdr = Image.fromarray(grey.astype(np.float32) * 40)        # beyond every range: stretched
    out = synthlabel.label_image(hdr, format="png")
    assert any("fit no fixed range: stretched" in w for w in out.warnings), out.warnings


def test_narrow_data_in_wide_integers_is_said():
    """10-bit values in a uint16 array (a camera's, a video frame's) and 24-bit PCM in int32
    came out nearly black / 48 dB down without a word."""
    import synthlabel
    from synthlabel.labeling_audio import label_audio

    ten_bit = (synthetic_photo(160, 200, 6).astype(np.uint16) << 2)
    out = synthlabel.label_image(ten_bit, format="png")
    assert any("10-bit range" in w and "arr << 6" in w for w in out.warnings), out.warnings
    full = synthlabel.label_image(ten_bit << 6, format="png")
    assert not any("range" in w for w in full.warnings)
    t = np.arange(48000 * 3) / 48000
    pcm24 = np.round(0.5 * np.sin(2 * np.pi * 440 * t) * (1 << 23)).astype(np.int32)
    _, _, res = label_audio(pcm24, 48000, format="wav", spec=synthlabel.LabelSpec(c2pa=False))
    assert any("24-bit range" in w and "samples << 8" in w for w in res.warnings), res.warnings
    _, _, res = label_audio(pcm24 << 8, 48000, format="wav", spec=synthlabel.LabelSpec(c2pa=False))
    assert not any("24-bit range" in w for w in res.warnings)


def test_an_edited_produce_id_disagrees_with_the_watermark():
    """A producer's own label repeats its ProduceID as PropagateID. Editing ProduceID alone
    passed ("content ID agrees"): verify took the untouched PropagateID, which is meant for
    re-published files only (their ProduceID is the producer's, not what was marked)."""
    import synthlabel
    from synthlabel.models import LabelSpec

    out = synthlabel.label_image(synthetic_photo(240, 320, 4), format="jpeg", spec=LabelSpec(c2pa=False))
    rep = synthlabel.verify_bytes(out.data)
    assert rep.ok(("metadata", "watermark")) and rep.ids_agree
    i = out.data.index(b'"ProduceID":"') + len(b'"ProduceID":"')
    edited = out.data[:i] + b"0123456789abcdef" + out.data[i + 16:]
    rep = synthlabel.verify_bytes(edited)
    assert rep.content_ids["metadata"] == "0123456789abcdef" and rep.ids_agree is False
    assert not rep.ok(("metadata", "watermark"))


def test_label_warns_when_the_watermark_does_not_read_back():
    """A bilevel picture passes the capacity check but clips the mark away: labeling says so
    (and verify agrees), while an ordinary photo labels without a warning."""
    import synthlabel
    from synthlabel.models import LabelSpec, Status

    photo = synthetic_photo(300, 400, 21)
    ok = synthlabel.label_image(photo, format="png")
    assert not [w for w in ok.warnings if "watermark" in w] and "readback" in ok.timings
    gray = photo.mean(axis=2) / 255.0
    bilevel = ((gray > np.random.default_rng(2).random(gray.shape)) * 255).astype(np.uint8)
    out = synthlabel.label_image(bilevel, format="png")
    assert any("read back from the labeled pixels" in w for w in out.warnings), out.warnings
    rep = synthlabel.verify_bytes(out.data)
    assert rep.layers["watermark"].status is not Status.OK
    quiet = synthlabel.label_image(bilevel, format="png", spec=LabelSpec(watermark_readback=False))
    assert not [w for w in quiet.warnings if "read back" in w] and "readback" not in quiet.timings


def test_images_too_small_for_the_mark_say_so():
    """63 x 63: marked weakly, and when the mark does not read back even from the unprocessed
    output the warning says verify will report it missing. Under 32 px nothing is marked:
    the watermark is not listed as a layer and the C2PA manifest claims no soft binding."""
    import synthlabel
    from synthlabel.models import LabelSpec, Status
    from synthlabel.provenance import c2pa_io

    small = synthetic_photo(63, 63, 3)
    out = synthlabel.label_image(small, format="png")
    rep = synthlabel.verify_bytes(out.data)
    warned = [w for w in out.warnings if w.startswith("watermark:")]
    assert len(warned) == 1 and "too small" in warned[0], out.warnings
    read = rep.layers["watermark"].status is Status.OK
    assert read != ("does not read back even from the unprocessed output" in warned[0]), (warned, rep.layers["watermark"])
    tiny = synthlabel.label_image(synthetic_photo(20, 40, 4), format="png",
                                  spec=LabelSpec(explicit=False))
    assert tiny.layers == ["metadata", "c2pa"]
    assert any("left unmarked" in w for w in tiny.warnings)
    res = c2pa_io.read_manifest(tiny.data, "image/png", trust_anchors_pem=None)
    assert res.present and res.soft_binding is None and res.content_id is None


@pytest.mark.parametrize("seed", [100, 622])
def test_a_tiny_pictures_read_back_agrees_with_verify(credentials, monkeypatch, seed):
    """The test above failed in CI about 1 run in 200 (a fresh key each run): label said the
    63 px mark read back, and verify did not read it from the unprocessed output. Two causes,
    one key and payload each (5 of 1000 random ones disagreed, none now): verify counts a
    labeled file's mark as one of 4 tests (its quarter turns), which took a mark read at
    p=9.9e-7 under the threshold (seed 100); and the read-back's fast path read the identity
    geometry, where the detector, its pilot there not conclusive, read a sync candidate's and
    decoded nothing (seed 622)."""
    import dataclasses

    import synthlabel
    from synthlabel.models import ContentID, Status

    rng = np.random.default_rng(seed)
    credentials = dataclasses.replace(credentials, watermark_key=rng.bytes(32))
    cid = int(rng.integers(0, 2**63))
    monkeypatch.setattr(ContentID, "new", classmethod(lambda cls: cls(cid)))
    out = synthlabel.label_image(synthetic_photo(63, 63, 3), format="png", credentials=credentials)
    rep = synthlabel.verify_bytes(out.data, credentials=credentials)
    warned = [w for w in out.warnings if w.startswith("watermark:")]
    said_missing = "does not read back even from the unprocessed output" in warned[0]
    assert said_missing == (rep.layers["watermark"].status is not Status.OK), (warned, rep.layers["watermark"])


def test_undecodable_pixels_do_not_hide_other_layers(labeled_samples, tmp_path):
    out, _ = labeled_samples
    data = (out / "scene.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: int(len(data) * 0.7)])
    r = run("verify", "--json", cut)
    rep = json.loads(r.stdout)
    assert r.returncode == 2 and "truncated" in rep["error"]
    status = {k: v["status"] for k, v in rep["layers"].items()}
    assert status["explicit"] == status["watermark"] == "error"
    assert status["metadata"] == "ok"        # the XMP sits before the scan data
    assert status["c2pa"] == "invalid"       # the hash no longer matches


def _active(path: Path, mime: str) -> dict:
    """c2pa's own reading of the active manifest, with the store's manifests beside it."""
    import c2pa

    side = path.with_suffix(".c2pa")
    with open(path, "rb") as f, c2pa.Reader(mime, f, side.read_bytes() if side.is_file() else None) as r:
        store = json.loads(r.json())
    return store["manifests"][store["active_manifest"]] | {"_label": store["active_manifest"],
                                                           "_store": store["manifests"]}


def test_relabeling_keeps_the_inputs_manifest_as_parent_ingredient(tmp_path):
    """A labeled (signed) input labeled again: its manifest becomes the new manifest's
    parentOf ingredient (c2pa.opened + c2pa.edited instead of c2pa.created), for images, WAV
    and FLAC (signed by data hash), MP4, and from the ``.c2pa`` sidecars of Ogg and Matroska;
    the new manifest is Trusted and verify names the parent's signer."""
    import soundfile as sf

    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "in"
    src.mkdir()
    for name in ("scene.jpg", "tone.wav", "clip.mp4"):
        (src / name).write_bytes((SAMPLES / name).read_bytes())
    t = np.arange(48000 * 4) / 48000
    sf.write(src / "music.flac", 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.3 * np.sin(3 * t)), 48000)
    sf.write(src / "music.ogg", 0.3 * np.sin(2 * np.pi * 330 * t) * (1 + 0.3 * np.sin(2 * t)), 48000,
             format="OGG", subtype="VORBIS")
    subprocess.run([ffmpeg, "-v", "error", "-i", SAMPLES / "clip.mp4", "-c", "copy", src / "clip.mkv"],
                   check=True)
    assert run("label", src, "-o", tmp_path / "once", "-j", "2").returncode == 0
    r = run("label", tmp_path / "once", "-o", tmp_path / "twice", "-j", "2", "--json")
    assert r.returncode == 0, r.stderr
    mimes = {"scene.jpg": "image/jpeg", "tone.wav": "audio/wav", "music.flac": "audio/flac",
             "clip.mp4": "video/mp4", "music.ogg": "audio/ogg", "clip.mkv": "video/x-matroska"}
    for name, mime in mimes.items():
        first = _active(tmp_path / "once" / name, mime)
        second = _active(tmp_path / "twice" / name, mime)
        assert not first.get("ingredients"), name
        parents = [i for i in second.get("ingredients", []) if i.get("relationship") == "parentOf"]
        assert len(parents) == 1 and parents[0]["active_manifest"] == first["_label"], name
        assert first["_label"] in second["_store"], name         # the parent's store came along
        actions = next(a["data"]["actions"] for a in second["assertions"]
                       if a["label"].startswith("c2pa.actions"))
        assert [a["action"] for a in actions][:2] == ["c2pa.opened", "c2pa.edited"], name
        assert "c2pa.created" not in [a["action"] for a in actions], name
    reps = [json.loads(x) for x in run("verify", "--json", "--layers", "c2pa,metadata",
                                       *(tmp_path / "twice" / n for n in mimes)).stdout.splitlines()]
    for rep in reps:
        c = rep["layers"]["c2pa"]
        assert c["status"] == "ok" and c["details"]["digital_source_type"], rep["path"]
        assert c["details"]["parent"]["signer"].startswith("synthlabel DEVELOPMENT"), rep["path"]
        assert c["details"]["parent"]["failures"] == [], rep["path"]
        assert "parent manifest signed by" in c["summary"], rep["path"]


def test_an_unreadable_input_manifest_is_left_out_with_a_warning(labeled_samples, tmp_path):
    out, _ = labeled_samples
    data = (out / "scene.jpg").read_bytes()
    i = data.find(b"jumdc2pa")
    assert i > 0
    garbled = tmp_path / "garbled.jpg"
    garbled.write_bytes(data[:i + 40] + bytes(200) + data[i + 240:])
    r = run("label", garbled, "-o", tmp_path / "out", "--json", "-j", "1")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)
    assert any(w.startswith("c2pa: the input's own C2PA manifest was not kept (c2pa could not read it")
               for w in row["warnings"]), row["warnings"]
    rep = json.loads(run("verify", "--json", "--layers", "c2pa", tmp_path / "out" / "garbled.jpg").stdout)
    assert rep["layers"]["c2pa"]["status"] == "ok" and rep["layers"]["c2pa"]["details"]["parent"] is None
    assert rep["layers"]["c2pa"]["details"]["actions"][0]["action"] == "c2pa.created"


def test_command_line_starts_without_the_heavy_engines():
    """``synthlabel --help`` / ``--version`` load neither the labeling engine nor OpenCV, c2pa,
    PyAV or scipy.signal (they took ~3 s to import); those load when a command needs them.
    Nor typer's help formatter (rich's markdown parser with it: ~0.15 s on every command),
    which loads when help or a usage error is printed."""
    code = ("import sys, synthlabel.cli; "
            "print(sorted(m for m in ('scipy.signal', 'cv2', 'c2pa', 'av', 'synthlabel.labeling', "
            "'typer.rich_utils') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]", r.stdout
    r = subprocess.run([sys.executable, "-c", "import synthlabel.watermark, sys; "
                        "print('scipy.signal' in sys.modules)"], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"
    assert run("--version").stdout.startswith("synthlabel ")
    # ``python -m synthlabel`` is the same CLI, with its own name in the usage line.
    r = subprocess.run([sys.executable, "-m", "synthlabel", "verify", "--help"], capture_output=True,
                       text=True, env=dict(os.environ, COLUMNS="100"))
    assert r.returncode == 0 and "Usage: synthlabel verify" in r.stdout, r.stdout + r.stderr
    # piped help (a pager, a file) was laid out for 80 columns, which cut long option and
    # variable names ("--allow-nonconforming…")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH")}
    for cmd, name in (("label", "--allow-nonconforming-text"), ("verify", "SYNTHLABEL_WATERMARK_KEY")):
        r = subprocess.run([sys.executable, "-m", "synthlabel", cmd, "--help"], capture_output=True,
                           text=True, env=env)
        assert r.returncode == 0 and "…" not in r.stdout and name in r.stdout, r.stdout


def test_help_shows_flags_without_a_value():
    """typer 0.29 printed every flag as taking a value (``--json <bool>``; ``--json true`` then
    read "true" as a path) and 0.26-0.28 printed types as Python names (``<_path>``, ``<str>``):
    typer is held below 0.26. No help shows a flag as taking a value, or a Python type name."""
    import re

    env = dict(os.environ, COLUMNS="110")
    for cmd, flags in ((["label"], ("--in-place", "--dry-run", "--json", "--help")),
                       (["verify"], ("--json", "--help")), (["keys", "init"], ("--force", "--help")),
                       (["keys", "show"], ("--help",))):
        r = subprocess.run([sys.executable, "-m", "synthlabel", *cmd, "--help"], capture_output=True,
                           text=True, env=env)
        assert r.returncode == 0, r.stderr
        assert not re.search(r"<[A-Za-z_][\w\[\], |]*>", r.stdout), r.stdout
        for flag in flags:
            row = next(line for line in r.stdout.splitlines() if line.strip("│ ").startswith(flag + " "))
            words = row.strip("│ ").split()
            # the help text follows the flag: no type or metavar (TEXT, <bool>) between them
            assert not re.fullmatch(r"[A-Z_]+|<.*>", words[1]), (flag, row)


def test_library_takes_more_image_inputs(credentials):
    """What a service hands the library: H×W×1, uint16 and float (0..1) arrays are converted
    with a warning; encoded bytes go to label_image_bytes (format sniffed, metadata kept);
    RGBA to JPEG is composited onto white, not left black; an int content ID is taken; a
    wrong spec type, float values beyond 0..1 and an empty key list are refused."""
    import synthlabel
    from synthlabel.labeling import LabelingError

    photo = synthetic_photo(240, 320, seed=8)
    grey = photo[..., :1]
    r = synthlabel.label_image(grey, format="png", credentials=credentials)
    assert np.array(Image.open(io.BytesIO(r.data))).ndim == 3
    r = synthlabel.label_image(photo.astype(np.uint16) * 257, credentials=credentials)
    assert "16-bit image reduced to 8 bits per channel" in r.warnings
    with pytest.raises(LabelingError, match="pass it as uint8"):     # 8-bit values: not black
        synthlabel.label_image(photo.astype(np.uint16), credentials=credentials)
    opaque = np.dstack([photo.astype(np.uint16), np.full(photo.shape[:2], 65535, np.uint16)])
    with pytest.raises(LabelingError, match="pass it as uint8"):     # its alpha is 16-bit: still 8-bit colour
        synthlabel.label_image(opaque, credentials=credentials)
    r = synthlabel.label_image(photo.astype(np.float32) / 255.0, credentials=credentials,
                               content_id=0x1234)
    assert "float image (0..1) converted to 8 bits per channel" in r.warnings
    assert r.content_id.hex == "0000000000001234"
    with pytest.raises(LabelingError, match="0..1"):
        synthlabel.label_image(photo.astype(np.float32), credentials=credentials)
    with pytest.raises(LabelingError, match="label_image_bytes"):
        synthlabel.label_image(r.data, credentials=credentials)
    with pytest.raises(TypeError, match="LabelSpec"):
        synthlabel.label_image(photo, spec={"text": "AI生成"}, credentials=credentials)
    rgba = np.dstack([photo, np.zeros(photo.shape[:2], np.uint8)])
    rgba[60:180, 80:240, 3] = 255
    j = synthlabel.label_image(rgba, format="jpeg", credentials=credentials)
    assert any("composited onto white" in w for w in j.warnings)
    px = np.array(Image.open(io.BytesIO(j.data)))
    assert px[:40, :60].mean() > 245          # transparent corner: white, not the RGB under it
    again = synthlabel.label_image_bytes(r.data, credentials=credentials)
    # labeled again: the watermark and its content ID are kept (label_image_bytes)
    assert again.format == "png" and again.content_id == r.content_id
    rep = synthlabel.verify_bytes(again.data, credentials=credentials)
    assert rep.ok() and rep.layers["c2pa"].details["parent"] is not None
    with pytest.raises(ValueError, match="non-empty"):
        synthlabel.verify_bytes(again.data, credentials=credentials, watermark_keys=[])


def test_broken_xmp_from_another_tool_is_replaced_with_a_warning(credentials):
    """An XMP packet that is not well-formed XML cannot take the label: the file failed
    ("XMP packet is not well-formed XML"). Labeling re-encodes the picture anyway, so the
    broken packet is dropped, said so, and the label's own packet written."""
    import synthlabel

    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(240, 320, 4)).save(
        buf, "JPEG", quality=92, xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:title>unclosed'
                                     b'</x:xmpmeta>')
    r = synthlabel.label_image_bytes(buf.getvalue(), credentials=credentials)
    assert any(w.startswith("the file's XMP packet is dropped (XMP packet is not well-formed XML")
               for w in r.warnings), r.warnings
    rep = synthlabel.verify_bytes(r.data, credentials=credentials)
    assert rep.ok() and rep.ids_agree, rep.to_json()


def test_library_image_calls_keep_the_mark_the_pixel_limit_and_the_format(credentials):
    """libwebp threw away the colour under alpha 0, and the mark with it: a fully transparent
    picture written as WebP verified "missing", with no warning. An array bigger than the
    decoder's pixel limit was labeled into a file verify then refused. A source format the
    bytes do not hold was believed."""
    import synthlabel

    rgb = synthetic_photo(300, 400, 8)
    clear = synthlabel.label_image(np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)]),
                                   format="webp", credentials=credentials)
    rep = synthlabel.verify_bytes(clear.data, credentials=credentials)
    assert rep.layers["watermark"].status.value == "ok", rep.to_json()
    alpha = np.array(Image.open(io.BytesIO(clear.data)))[..., 3]
    assert (alpha == 0).mean() > 0.9                     # still clear, but for the label plate
    # a source format the bytes do not hold is an error ("jpeg" for a PNG wrote a JPEG, and
    # "JPEG" a PNG with a false "JPEG output is not supported" warning)
    png_bytes = (SAMPLES / "scene.png").read_bytes()
    with pytest.raises(synthlabel.LabelingError, match="'jpeg' does not match the data, which is PNG"):
        synthlabel.label_image_bytes(png_bytes, "jpeg", credentials=credentials)
    with pytest.raises(synthlabel.LabelingError, match="unknown source_format 'xyz'"):
        synthlabel.label_image_bytes(png_bytes, "xyz", credentials=credentials)   # ("does not match")
    r = synthlabel.label_image_bytes(png_bytes, "PNG", credentials=credentials)
    assert r.format == "png" and not r.warnings, r.warnings
    # a premultiplied grey + alpha PIL image (mode "La") raised Pillow's raw ValueError
    grey = Image.fromarray(rgb).convert("L")
    la = Image.merge("LA", (grey, Image.new("L", grey.size, 255))).convert("La")
    assert synthlabel.label_image(la, credentials=credentials).format == "png"
    huge = np.broadcast_to(np.array([[[100, 150, 200]]], np.uint8), (14000, 14000, 3))
    with pytest.raises(synthlabel.LabelingError, match="above the 178,956,970 pixel limit"):
        synthlabel.label_image(huge, credentials=credentials)


def test_low_jpeg_quality_is_read_back_from_the_output(credentials):
    """At quality 5 the encoder takes the mark of a 512² image, which read back fine from the
    pixels before encoding: the warning now comes from the output, as verify will see it."""
    import synthlabel
    from synthlabel.models import LabelSpec

    photo = synthetic_photo(512, 512, seed=3)
    for q, lost in ((5, True), (40, False)):
        r = synthlabel.label_image(photo, format="jpeg", spec=LabelSpec(jpeg_quality=q),
                                   credentials=credentials)
        warned = any(f"read back from the output (JPEG at quality {q})" in w for w in r.warnings)
        status = synthlabel.verify_bytes(r.data, credentials=credentials,
                                         layers=("watermark",)).layers["watermark"].status.value
        assert warned == lost and (status != "ok") == lost, (q, r.warnings, status)
        # claimed (layers, C2PA) exactly when some of it is there
        assert ("watermark" in r.layers) == (status != "missing"), (q, r.layers, status)


def test_library_checks_its_inputs_and_converts_what_it_can(tmp_path):
    """What a service calling the library gets: integer PCM scaled (not clipped to noise), a
    16-bit or float PIL image scaled to 8 bits with a warning, one exception type for bad
    audio, layer names checked, an Ogg made in memory verified with its sidecar, a folder as
    label_file's destination, and a result whose repr does not dump the file."""
    import io as _io

    import soundfile as sf

    import synthlabel
    from synthlabel.models import Status

    rng = np.random.default_rng(0)
    t = np.arange(48000 * 12) / 48000      # the audio payload reads reliably from 8 s
    x = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(3 * t)) + 0.05 * rng.standard_normal(t.size)
    data, _side, info = synthlabel.label_audio((x * 32767).astype(np.int16), 48000)
    back, _ = sf.read(_io.BytesIO(data))
    assert np.abs(back).max() < 0.9                          # scaled, not clipped
    assert synthlabel.verify_bytes(data).layers["watermark"].status is Status.OK, info.warnings
    for bad, why in ((np.full(4800, np.nan), "NaN"), (np.zeros((2, 48000)), "transposed"),
                     (np.zeros(0), "no samples"), (x.astype(np.complex64), "dtype")):
        with pytest.raises(synthlabel.LabelingError, match=why):
            synthlabel.label_audio(bad, 48000)
    with pytest.raises(synthlabel.LabelingError, match="8000"):
        synthlabel.label_audio(x, 1000)
    ogg, side, _ = synthlabel.label_audio(x.astype(np.float32), 48000, format="ogg")
    assert synthlabel.verify_bytes(ogg).layers["c2pa"].status is Status.MISSING
    assert synthlabel.verify_bytes(ogg, sidecar=side).ok()

    gray = synthetic_photo(240, 320, 6).mean(axis=2)
    for im in (Image.fromarray((gray * 257).astype(np.uint16)), Image.fromarray((gray / 255).astype(np.float32))):
        out = synthlabel.label_image(im, format="png")
        assert f"{im.mode} image reduced to 8 bits per channel" in out.warnings
        px = np.asarray(Image.open(_io.BytesIO(out.data)).convert("L")).astype(float)
        assert abs(np.median(px) - np.median(gray)) < 3
    assert len(repr(out)) < 300 and "bytes>" in repr(out)

    png = (SAMPLES / "scene.png").read_bytes()
    for layers, why in ((("watermarks",), "unknown layer"), ((), "no layer given")):
        with pytest.raises(ValueError, match=why):
            synthlabel.verify_bytes(png, layers=layers)
    with pytest.raises(TypeError):
        synthlabel.verify_bytes(None)
    folder = tmp_path / "into"
    folder.mkdir()
    res = synthlabel.label_file(SAMPLES / "scene.png", folder)
    assert Path(res.output) == folder / "scene.png" and (folder / "scene.png").is_file()


def test_numbered_names_and_m4v_keep_their_names(tmp_path):
    """take.01 and take.02 both became take.<ext>: one output for two inputs (half the batch
    failed), and --in-place renamed the first. A .m4v (MP4 video) was renamed .mp4 without a
    word, its original name deleted in place. The extension is now appended after a numbered
    suffix, and .m4v kept."""
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in (1, 2):
        Image.fromarray(synthetic_photo(120, 160, i)).save(seq / f"shot.00{i}", format="PNG")
    shutil.copy(SAMPLES / "clip.mp4", seq / "clip.m4v")
    r = run("label", "--json", seq, "-o", tmp_path / "out")
    rows = {Path(x["source"]).name: x for x in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 0, r.stderr
    assert {k: Path(v["output"]).name for k, v in rows.items()} == {
        "shot.001": "shot.001.png", "shot.002": "shot.002.png", "clip.m4v": "clip.m4v"}
    assert not any("extension" in w for v in rows.values() for w in v["warnings"])
    assert rows["clip.m4v"]["media_type"] == "video/mp4" and "c2pa" in rows["clip.m4v"]["layers"]
    r = run("label", seq / "shot.001", "--in-place")
    assert r.returncode == 0 and sorted(p.name for p in seq.iterdir()) == [
        "clip.m4v", "shot.001.png", "shot.002"], r.stderr


def test_special_files_and_missing_paths(tmp_path):
    """A FIFO is refused at once (reading it blocked forever); a missing path still gets its
    JSON line; payloads in JSON are hex strings (a 64-bit integer loses digits in jq)."""
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    r = run("verify", fifo)
    assert r.returncode == 2 and "not a regular file (a FIFO)" in r.stdout + r.stderr
    r = run("label", fifo, "-o", tmp_path / "out")
    assert r.returncode == 1 and "not a regular file (a FIFO)" in r.stderr
    # Met in a folder: a FIFO named like media is an error, any other one a counted skip
    # (both were passed over without a word).
    walked = tmp_path / "walked"
    walked.mkdir()
    os.mkfifo(walked / "clip.jpg")
    os.mkfifo(walked / "control")
    r = run("label", "--json", walked, "-o", tmp_path / "wout")
    rows = {Path(x["source"]).name: x for x in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 1 and rows["clip.jpg"]["error"] == "not a regular file (a FIFO)"
    assert rows["control"]["skipped"] == "not a regular file (a FIFO)" and rows["control"]["ok"]
    out = tmp_path / "lab"
    assert run("label", SAMPLES / "scene.png", "-o", out).returncode == 0
    r = run("verify", "--json", tmp_path / "missing.png", out / "scene.png")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.returncode == 2 and lines[0]["error"] == "no such file or directory"
    wm = lines[1]["layers"]["watermark"]["details"]
    assert wm["payload"] == wm["payload_hex"] == lines[1]["content_ids"]["watermark"]
    # In input order, a missing path in the middle too, and counted in the summary.
    # (a file named twice is checked once, where it was first named, as label does)
    shutil.copy(out / "scene.png", out / "copy.png")
    r = run("verify", "--json", out / "scene.png", tmp_path / "missing.png", out / "scene.png",
            out / "copy.png")
    assert [Path(json.loads(x)["path"]).name for x in r.stdout.splitlines()] == \
        ["scene.png", "missing.png", "copy.png"]
    assert "verified 3 file(s): 2 OK, 0 with a layer not ok, 1 unreadable" in r.stderr
    # Nothing to verify is an error, not a pass (a check pointed at the wrong folder).
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".hidden.png").write_bytes((out / "scene.png").read_bytes())
    r = run("verify", empty)
    assert r.returncode == 2 and "no files to verify" in r.stderr
    # The same for label (it exited 0 with a warning): nothing to label, or only non-media
    # files in the folder, is an error, and no output folder is made.
    r = run("label", empty, "-o", tmp_path / "eout")
    assert r.returncode == 2 and "no files to label in" in r.stderr
    (empty / "README").write_text("not media")
    r = run("label", empty, "-o", tmp_path / "eout")
    assert r.returncode == 2 and "no media files to label in" in r.stderr
    assert "(1 other file(s), 1 hidden passed over)" in r.stderr and not (tmp_path / "eout").exists()
    assert "labeled 0 file(s)" not in r.stderr, r.stderr      # the error alone, no summary first


def _run_with_terminal_stderr(*args) -> tuple[int, str, bytes]:
    """Run the CLI with stderr on a pseudo-terminal and stdout on a pipe, as when a user
    redirects the reports (``synthlabel ... --json > out.jsonl``) in a terminal."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=slave,
                            text=True, env=dict(os.environ, COLUMNS="100"))
    os.close(slave)
    stdout, _ = proc.communicate(timeout=300)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:              # the pty's writer is gone
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return proc.returncode, stdout, seen


def test_reports_redirected_from_a_terminal_stay_on_stdout(labeled_samples, tmp_path):
    """With stderr a terminal and stdout redirected: the JSON (and the human lines) reach
    stdout, not the terminal (rich's progress display used to capture them onto stderr), and
    verify shows a progress bar on the terminal meanwhile."""
    out, _ = labeled_samples
    rc, stdout, seen = _run_with_terminal_stderr("verify", "--json", "-j", "1", out / "scene.png",
                                                 out / "scene.jpg")
    assert rc == 0 and [json.loads(x)["ok"] for x in stdout.splitlines()] == [True, True], seen[-300:]
    assert b"verifying" in seen and b"verified 2 file(s): 2 OK" in seen
    rc, stdout, seen = _run_with_terminal_stderr("label", "--json", "-j", "1", SAMPLES / "scene.png",
                                                 SAMPLES / "scene.jpg", "-o", tmp_path / "j")
    assert rc == 0 and [json.loads(x)["ok"] for x in stdout.splitlines()] == [True, True], seen[-300:]
    rc, stdout, seen = _run_with_terminal_stderr("label", "-j", "1", SAMPLES / "scene.png",
                                                 "-o", tmp_path / "h")
    assert rc == 0 and "scene.png -> " in stdout, (stdout, seen[-300:])


def test_relabeling_an_image_keeps_its_watermark_and_content_id(tmp_path, credentials):
    """A labeled image labeled again got a second mark, with a new payload, laid in step over
    the first: after three labels verify read no payload ("weak") and failed. Now an image with
    an AIGC label whose watermark (this key's) reads keeps that mark and its content ID, four
    labels in a row, JPEG re-encoding included. Another key's mark, or a labeled image without
    a mark, gets a mark and an ID of its own."""
    import dataclasses

    import synthlabel

    src = tmp_path / "p.jpg"
    Image.fromarray(synthetic_photo(480, 640, seed=3)).save(src, quality=92)
    f = label_again_and_again(src, tmp_path, "jpg", 4, credentials)
    first = synthlabel.verify_file(f, credentials=credentials).content_ids["watermark"]

    other = dataclasses.replace(credentials, watermark_key=bytes(range(32)))
    res = synthlabel.label_file(f, tmp_path / "other.jpg", credentials=other)
    assert res.content_id != first and not any("keeps its content ID" in w for w in res.warnings)
    assert synthlabel.verify_file(res.output, credentials=other).ok()
    # After a key rotation the file carries both marks: with both keys, in either order, the
    # report names the mark its metadata and manifest name (the first key's mark was taken,
    # and the content ID disagreed; found by QA helper).
    for keys in ([credentials.watermark_key, other.watermark_key],
                 [other.watermark_key, credentials.watermark_key]):
        rep = synthlabel.verify_file(res.output, credentials=credentials, watermark_keys=keys)
        assert rep.content_ids["watermark"] == str(res.content_id) and rep.ok(), rep.content_ids
        assert rep.layers["watermark"].details["keys"]["index"] == keys.index(other.watermark_key) + 1

    bare = synthlabel.label_file(src, tmp_path / "bare.jpg", credentials=credentials,
                                 spec=synthlabel.LabelSpec(watermark=False))
    res = synthlabel.label_file(bare.output, tmp_path / "bare2.jpg", credentials=credentials)
    assert res.content_id != bare.content_id and "watermark" in res.layers
    assert synthlabel.verify_file(res.output, credentials=credentials).ok()


@pytest.mark.parametrize("name, explicit", [("scene.jpg", True), ("scene.jpg", False),
                                           ("tone.wav", True), ("clip.mp4", True)])
def test_relabeling_without_a_watermark_keeps_the_marks_content_id(tmp_path, credentials, name, explicit):
    """A labeled file labeled again with --no-watermark got a new ProduceID in its metadata
    beside the mark it still carries, so verify failed its own output ("content ID DISAGREES
    metadata=..., watermark=..."), for pictures, sound and video alike. The label now takes
    the content ID of this key's mark (said in a warning), and the mark is left as it is. With
    ``--no-explicit`` too, the picture's own bytes take the metadata (not re-encoded)."""
    import synthlabel

    first = synthlabel.label_file(SAMPLES / name, tmp_path / "a" / name, credentials=credentials)
    spec = synthlabel.LabelSpec(watermark=False, explicit=explicit)
    res = synthlabel.label_file(first.output, tmp_path / "b" / name, credentials=credentials, spec=spec)
    assert res.content_id == first.content_id, res.warnings
    assert "watermark" not in res.layers
    assert any(f"keeps its content ID {first.content_id}" in w and "no new mark is laid" in w
               for w in res.warnings), res.warnings
    rep = synthlabel.verify_file(res.output, credentials=credentials)
    assert rep.ok() and rep.ids_agree, rep.to_json()
    assert rep.content_ids == {"metadata": first.content_id, "watermark": first.content_id}
    if not explicit:
        before, after = (np.asarray(Image.open(f).convert("RGB")) for f in (first.output, res.output))
        assert np.array_equal(before, after)
    # a re-publish keeps the producer's ProduceID and takes its own PropagateID, as before
    spec = synthlabel.LabelSpec(watermark=False, explicit=False, propagator="ExamplePlatform")
    pub = synthlabel.label_file(first.output, tmp_path / "c" / name, credentials=credentials, spec=spec)
    assert pub.content_id != first.content_id
    assert synthlabel.verify_file(pub.output, credentials=credentials).ids_agree


def test_relabeling_an_image_whose_metadata_was_removed(tmp_path, credentials, monkeypatch):
    """The same, for a labeled image whose metadata was removed (pixels saved again): its old
    mark was not looked for, and on the fourth label in a row the new mark, laid in step over
    the old ones, no longer read ("weak"). When the new mark does not read back, the old one is
    now looked for and, when it reads, kept. Content IDs come from a seeded generator and the
    watermark key is fixed, so that the rounds are the same on every run: with a random key
    (CI makes one per run), about 1 key in 130 lost the payload by the fifth round, when the
    stacked old marks no longer read either (README, Known limitations)."""
    import dataclasses

    import synthlabel
    from synthlabel.models import ContentID

    credentials = dataclasses.replace(credentials, watermark_key=bytes(range(7, 39)))
    rng = np.random.default_rng(11)
    monkeypatch.setattr(ContentID, "new", classmethod(lambda cls: cls(int(rng.integers(0, 2**63)))))
    src = tmp_path / "s0.png"
    Image.fromarray(synthetic_photo(480, 640, seed=4)).save(src)
    kept = 0
    for n in range(1, 7):
        res = synthlabel.label_image_bytes(src.read_bytes(), credentials=credentials)
        kept += any("its metadata was removed?" in w for w in res.warnings)
        rep = synthlabel.verify_bytes(res.data, credentials=credentials)
        assert rep.ok() and rep.ids_agree, (n, rep.to_json())
        src = tmp_path / f"s{n}.png"      # the pixels alone: no AIGC label, no manifest
        Image.open(io.BytesIO(res.data)).convert("RGB").save(src)
    assert kept >= 1


def test_jpeg_iptc_lost_to_another_format_is_warned(tmp_path):
    """A JPEG's IPTC-IIM (keywords, caption) was dropped silently when written as PNG or WebP;
    only the comment's loss was said."""
    import synthlabel
    from synthlabel.models import LabelSpec

    exiftool = require_tool("exiftool")
    src = tmp_path / "a.jpg"
    Image.fromarray(synthetic_photo(240, 320, 3)).save(src, quality=90)
    subprocess.run([exiftool, "-q", "-overwrite_original", "-IPTC:Keywords=kw", src], check=True)
    for fmt in ("png", "webp", "jpeg"):
        out = synthlabel.label_image_bytes(src.read_bytes(), spec=LabelSpec(output_format=fmt, c2pa=False))
        said = [w for w in out.warnings if "IPTC-IIM" in w]
        assert said == ([] if fmt == "jpeg" else
                        [f"the JPEG's IPTC-IIM (Photoshop APP13) is not carried into {fmt.upper()}"]), out.warnings


def test_credentials_that_do_not_work_raise_labeling_error_for_every_medium(credentials):
    """label_image raised CertificateError, CredentialError or ValueError for credentials that
    do not work, where label_audio raised LabelingError (the README promises LabelingError)."""
    import dataclasses

    import synthlabel
    from synthlabel.labeling_audio import label_audio

    t = np.arange(48000 * 2) / 48000
    sound = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for bad in (dict(watermark_key=b"x" * 8), dict(cert_chain_pem=b"garbage")):
        creds = dataclasses.replace(credentials, **bad)
        with pytest.raises(synthlabel.LabelingError) as image_error:
            synthlabel.label_image(synthetic_photo(200, 240, 1), credentials=creds)
        with pytest.raises(synthlabel.LabelingError) as audio_error:
            label_audio(sound, 48000, credentials=creds)
        assert str(image_error.value) == str(audio_error.value), (image_error.value, audio_error.value)


def test_library_arguments_are_checked_before_any_work(credentials):
    """What a service may pass by mistake (found by QA helper): spec.output_format was ignored
    by label_image (a PNG came back) and "jpg" refused; garbage EXIF was written into a JPEG or
    failed in Pillow ("not a TIFF file") after the watermark work, an Image.Exif failed for
    PNG, a str ICC profile was a TypeError from inside, a broken XMP a MetadataError; a closed
    or truncated PIL image gave an empty AssertionError or a raw OSError; title=5, subtype=24,
    format=["wav"] and LabelSpec(text=5) were AttributeErrors from deep inside."""
    import synthlabel
    from synthlabel.labeling import LabelingError
    from synthlabel.models import LabelError, LabelSpec

    rgb = synthetic_photo(120, 160, 3)
    assert synthlabel.label_image(rgb, spec=LabelSpec(output_format="jpeg"),
                                  credentials=credentials).format == "jpeg"
    assert synthlabel.label_image(rgb, format="JPG", credentials=credentials).format == "jpeg"
    with pytest.raises(LabelingError, match="disagree"):
        synthlabel.label_image(rgb, format="png", spec=LabelSpec(output_format="webp"),
                               credentials=credentials)
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    out = synthlabel.label_image(rgb, exif=exif, credentials=credentials)
    assert Image.open(io.BytesIO(out.data)).getexif()[0x010F] == "Canon"
    for kwargs, error, words in (
            (dict(exif=b"garbage", format="jpeg"), LabelingError, "not an EXIF block"),
            (dict(icc_profile="x"), TypeError, "icc_profile must be bytes"),
            (dict(icc_profile=b"x" * 200), LabelingError, "not an ICC profile"),
            (dict(xmp=b"<x:xmpmeta>"), LabelingError, "xmp: "),
            (dict(title=5), TypeError, "title must be a str"),
            (dict(format=3), TypeError, "format must be a str")):     # was "cannot write 3"
        with pytest.raises(error, match=words):
            synthlabel.label_image(rgb, credentials=credentials, **kwargs)
    with pytest.raises(TypeError, match="got NoneType"):
        synthlabel.label_image(None, credentials=credentials)
    with Image.open(io.BytesIO(synthlabel.label_image(rgb, credentials=credentials).data)) as im:
        pass
    with pytest.raises(LabelingError, match="cannot read the PIL image's pixels"):
        synthlabel.label_image(im, credentials=credentials)
    jpeg = synthlabel.label_image(rgb, format="jpeg", credentials=credentials).data
    with pytest.raises(LabelingError, match="truncated"):
        synthlabel.label_image(Image.open(io.BytesIO(jpeg[: len(jpeg) // 2])), credentials=credentials)
    x = np.zeros((16000, 1), np.float32)
    for kwargs, words in ((dict(subtype=24), "subtype must be a str"), (dict(format=["wav"]), "format must be a str"),
                          (dict(format=None), "format must be a str")):    # (None: 'lower', QA stop 44)
        with pytest.raises(TypeError, match=words):
            synthlabel.label_audio(x, 16000, credentials=credentials, **kwargs)
    tone = 0.3 * np.sin(np.arange(16000 * 2) / 3)[:, None].astype(np.float32)
    data, _, _ = synthlabel.label_audio(tone, 16000, format="FLAC", credentials=credentials)
    from synthlabel.formats.sniff import sniff_bytes
    assert sniff_bytes(data).format == "flac"     # a name in capitals, as label_image takes "JPG"
    with pytest.raises(LabelError, match="text must be a string"):
        LabelSpec(text=5)


def test_wrong_argument_types_are_type_errors_naming_them(credentials):
    """The README promises a TypeError naming a wrong argument type. The watermark API raised
    ValueError for a PIL image, a str or None key, a float payload (still a ValueError too,
    for callers that caught it); label_image(spec={}) was taken as no spec, a list of lists
    was "got int64", label_audio(bytes) "got shape ()", verify_bytes(path=3) stored an int
    (found by QA helper)."""
    import synthlabel
    from synthlabel import watermark as W

    rgb = synthetic_photo(120, 160, 2)
    png = synthlabel.label_image(rgb, format="png", credentials=credentials).data
    key = bytes(32)
    cases = [
        (lambda: W.embed_image(Image.fromarray(rgb), 1, key), "image must be a numpy array, got Image"),
        (lambda: W.embed_image(rgb, 1, "k" * 32), "key must be bytes, got str"),
        (lambda: W.embed_image(rgb, 1.0, key), "payload must be an int or 8 bytes, got float"),
        (lambda: W.detect_image(rgb, None), "key must be bytes, got NoneType"),
        (lambda: synthlabel.verify_bytes(png, watermark_keys="abc", credentials=credentials), "got str"),
        (lambda: synthlabel.label_image_bytes(png, 3, credentials=credentials), "source_format must be a str"),
        (lambda: synthlabel.label_audio(b"\0" * 4000, 48000, credentials=credentials), "got bytes"),
        (lambda: synthlabel.label_image(rgb.tolist(), credentials=credentials), "got list"),
        (lambda: synthlabel.label_image(rgb, spec={}, credentials=credentials), "spec must be a LabelSpec, got dict"),
        (lambda: synthlabel.verify_bytes(png, path=3, credentials=credentials), "path must be a str, got int"),
        # pathlib's own words, from inside it, until stop 44 (QA)
        (lambda: W.detect_video(None, key), "path must be a str or os.PathLike, got NoneType"),
        (lambda: W.detect_video(b"\0" * 64, key), "path must be a str or os.PathLike, got bytes"),
    ]
    for call, words in cases:
        with pytest.raises(TypeError, match=re.escape(words)):
            call()
    with pytest.raises(ValueError, match="key must be bytes"):             # as before, too
        W.detect_image(rgb, None)
    with pytest.raises(ValueError, match="the key list is empty"):
        synthlabel.verify_bytes(png, watermark_keys=[], credentials=credentials)


def test_no_metadata_keeps_the_inputs_label_as_it_is(tmp_path):
    """``label --no-metadata`` on an input another producer labeled: its AIGC label stays in
    the output as it was, and the new C2PA manifest names that label. Re-encoding had
    dropped it from MP3, FLAC, MP4 and a PNG text chunk (the rules: nobody may remove a
    label), and the manifest's own label made verify fail the output (found by QA helper).
    Read back with mutagen, ffprobe and our reader."""
    import soundfile as sf
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3, TXXX
    from PIL import PngImagePlugin

    ffmpeg, ffprobe = require_tool("ffmpeg"), require_tool("ffprobe")
    inner = ('{"Label":"1","ContentProducer":"001191110102MAD55U9H0F10002","ProduceID":"foreign-0001",'
             '"ReservedCode1":"","ContentPropagator":"001191110102MAD55U9H0F10002",'
             '"PropagateID":"foreign-0001","ReservedCode2":""}')
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(3)
    sound = 0.2 * rng.standard_normal((44100 * 3, 2)).cumsum(axis=0) / 300
    sf.write(src / "song.flac", np.clip(sound, -1, 1), 44100)
    f = FLAC(src / "song.flac")
    f["AIGC"] = '{"AIGC":' + inner + "}"
    f.save()
    subprocess.run([ffmpeg, "-v", "error", "-i", src / "song.flac", "-c:a", "libmp3lame", "-b:a", "160k",
                    src / "song.mp3"], check=True)
    tags = ID3()
    tags.add(TXXX(encoding=3, desc="AIGC", text='{"AIGC":' + inner + "}"))
    tags.save(src / "song.mp3")
    subprocess.run([ffmpeg, "-v", "error", "-i", SAMPLES / "clip.mp4", "-c", "copy", "-movflags",
                    "use_metadata_tags", "-metadata", f"AIGC={inner}", src / "clip.mp4"], check=True)
    text = PngImagePlugin.PngInfo()
    text.add_text("AIGC", '{"AIGC":' + inner + "}")
    Image.fromarray(synthetic_photo(360, 480, 4)).save(src / "photo.png", pnginfo=text)

    r = run("label", src, "-o", tmp_path / "out", "--no-metadata", "--json", "-j", "2")
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        rec = json.loads(line)
        assert "metadata" not in rec["layers"], rec
        assert any("AIGC label (ContentProducer 001191110102MAD55U9H0F10002, ProduceID foreign-0001) "
                   "is kept" in w for w in rec["warnings"]), rec
    out = tmp_path / "out"
    assert str(ID3(out / "song.mp3").getall("TXXX:AIGC")[0]) == '{"AIGC":' + inner + "}"
    assert FLAC(out / "song.flac")["AIGC"] == ['{"AIGC":' + inner + "}"]
    probe = subprocess.run([ffprobe, "-v", "error", "-show_entries", "format_tags=AIGC", "-of", "json",
                            out / "clip.mp4"], capture_output=True, text=True, check=True)
    assert json.loads(json.loads(probe.stdout)["format"]["tags"]["AIGC"]) == json.loads(inner)
    reps = [json.loads(x) for x in run("verify", "--json", "--layers", "metadata,c2pa", out).stdout.splitlines()]
    assert len(reps) == 4
    for rep in reps:
        assert rep["layers"]["metadata"]["status"] == "ok", rep
        assert rep["layers"]["metadata"]["details"]["aigc"]["ProduceID"] == "foreign-0001", rep
        assert rep["layers"]["c2pa"]["status"] == "ok", rep


def test_c2pa_off_says_what_becomes_of_the_inputs_manifest(tmp_path):
    """Labeling a signed input with ``--no-c2pa`` dropped its manifest without a word (found
    by QA helper): now a warning says it is not carried over, or, where the file's own bytes
    took new metadata, that it is left there and no longer validates (c2pa's Reader agrees:
    dataHash mismatch). A file that comes out unchanged gets no warning."""
    once = tmp_path / "once"
    assert run("label", SAMPLES / "scene.jpg", SAMPLES / "tone.wav", "-o", once, "-j", "2").returncode == 0

    def c2pa_notes(*args):
        r = run("label", *args, "--no-c2pa", "--json")
        assert r.returncode == 0, r.stderr
        return {Path(rec["source"]).name: [w for w in rec["warnings"] if w.startswith("c2pa:")]
                for rec in map(json.loads, r.stdout.splitlines())}

    notes = c2pa_notes(once / "scene.jpg", once / "tone.wav", "-o", tmp_path / "twice", "-j", "2")
    for name in ("scene.jpg", "tone.wav"):
        assert len(notes[name]) == 1 and "not carried over" in notes[name][0], notes
    rep = json.loads(run("verify", "--json", tmp_path / "twice" / "scene.jpg").stdout)
    assert rep["layers"]["c2pa"]["status"] == "missing", rep
    pixels_kept = ("--no-explicit", "--no-watermark")
    assert c2pa_notes(once / "scene.jpg", "-o", tmp_path / "same", *pixels_kept) == {"scene.jpg": []}
    assert (tmp_path / "same" / "scene.jpg").read_bytes() == (once / "scene.jpg").read_bytes()
    notes = c2pa_notes(once / "scene.jpg", "-o", tmp_path / "moved", *pixels_kept, "--producer", "OtherCo")
    assert len(notes["scene.jpg"]) == 1 and "no longer validates" in notes["scene.jpg"][0], notes
    rep = json.loads(run("verify", "--json", tmp_path / "moved" / "scene.jpg").stdout)
    assert rep["layers"]["c2pa"]["status"] == "invalid" and "dataHash" in rep["layers"]["c2pa"]["summary"]


def test_a_labeled_input_keeps_its_visible_label_and_gets_no_second(tmp_path):
    """A labeled picture or video labeled again got a second plate: over the first (the plate
    darker: its brightness fell from 103 to 70 in a picture, 56 to 22 in a video frame) or,
    with another --position, beside it (two labels; found by QA helper). Now the label it
    shows is kept, said, and nothing is drawn: a PNG's pixels come out as they went in."""
    import av

    once = tmp_path / "once"
    assert run("label", SAMPLES / "scene.png", SAMPLES / "clip.mp4", "-o", once, "-j", "2").returncode == 0
    r = run("label", once / "scene.png", once / "clip.mp4", "-o", tmp_path / "twice", "--position",
            "top-left", "--json", "-j", "2")
    assert r.returncode == 0, r.stderr
    for rec in map(json.loads, r.stdout.splitlines()):
        # the output carries it, kept as a kept mark is: listed (it was left out, while a kept
        # watermark was listed)
        assert rec["layers"][0] == "explicit", rec
        medium = "picture" if rec["source"].endswith(".png") else "video"
        assert (f"explicit: the {medium} shows a visible label already (at bottom-right); it is kept "
                "and no second one is drawn") in rec["warnings"], rec
    assert np.array_equal(np.asarray(Image.open(once / "scene.png")),
                          np.asarray(Image.open(tmp_path / "twice" / "scene.png")))

    def frame(path, n=10):
        with av.open(str(path)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i == n:
                    return f.to_ndarray(format="gray").astype(float)

    a, b = frame(once / "clip.mp4"), frame(tmp_path / "twice" / "clip.mp4")
    h, w = a.shape
    for region in (np.s_[-h // 6:, -w // 3:], np.s_[:h // 6, :w // 3]):     # the label's corner, and the asked one
        assert abs(a[region].mean() - b[region].mean()) < 3, (a[region].mean(), b[region].mean())
    reps = [json.loads(x) for x in run("verify", "--json", tmp_path / "twice").stdout.splitlines()]
    assert [rep["layers"]["explicit"]["status"] for rep in reps] == ["ok", "ok"]


def test_a_replaced_label_is_recorded_in_the_new_manifest(tmp_path, credentials):
    """Labeling an input another producer labeled replaces its AIGC label (one label per
    file), and nothing recorded the one it held (found by QA helper): the new manifest now
    carries it in its own assertion, read by c2pa's Reader, and verify names it. The same
    label written again (ours, relabeled) is no replacement and is not recorded."""
    import synthlabel
    from synthlabel.models import LabelSpec
    from synthlabel.provenance.c2pa_io import REPLACED_AIGC_ASSERTION

    other = synthlabel.label_image(synthetic_photo(360, 480, 6), format="png", credentials=credentials,
                                   spec=LabelSpec(producer="OtherCo", c2pa=False, watermark=False))
    (tmp_path / "in.png").write_bytes(other.data)
    for name, src in (("new.png", tmp_path / "in.png"), ("again.png", tmp_path / "new.png")):
        synthlabel.label_file(src, tmp_path / name, credentials=credentials)
    replaced = [a["data"] for a in _active(tmp_path / "new.png", "image/png")["assertions"]
                if a["label"] == REPLACED_AIGC_ASSERTION]
    assert len(replaced) == 1 and replaced[0]["ContentProducer"] == "OtherCo"
    assert replaced[0]["ProduceID"] == other.content_id.hex
    rep = synthlabel.verify_file(tmp_path / "new.png", credentials=credentials)
    assert f"replaced the AIGC label of producer OtherCo (ProduceID {other.content_id.hex})" in \
        rep.layers["c2pa"].summary and rep.ok(), rep.layers["c2pa"].summary
    assert not [a for a in _active(tmp_path / "again.png", "image/png")["assertions"]
                if a["label"] == REPLACED_AIGC_ASSERTION]


def test_usage_errors_name_the_option_and_the_way_on(tmp_path):
    """From a new user's review: "no files to verify in t.c2pa" spoke of a sidecar as a folder;
    --layers "" said "unknown layer(s) (none given)"; --cue middle did not name --cue; a CRF
    above H.264's range failed each video of a batch instead of the command; an Opus file's
    sidecar was said to be for "OGG"."""
    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "in"
    src.mkdir()
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=d=2", "-c:a", "libopus",
                    src / "t.opus"], check=True)
    r = run("label", src, "-o", tmp_path / "out")
    assert r.returncode == 0 and "(c2pa cannot embed into Ogg)" in r.stderr, r.stderr
    r = run("verify", tmp_path / "out" / "t.c2pa")
    assert r.returncode == 2 and "t.c2pa is a C2PA sidecar: verify the media file of the same " \
        "name (t.opus beside it)" in r.stderr, r.stderr
    assert "no layer given; choose from" in run("verify", "--layers", "", tmp_path / "out").stderr
    r = run("label", src, "-o", tmp_path / "o2", "--cue", "middle")
    assert r.returncode == 2 and "cue position (--cue) must be" in r.stderr, r.stderr
    r = run("label", src, "-o", tmp_path / "o3", "--codec", "h264", "--crf", "55")
    assert r.returncode == 2 and "CRF (--crf) must be 0..51 for h264" in r.stderr, r.stderr
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()


def test_a_spoken_label_declared_in_a_trusted_manifest_is_not_checked_not_missing(tmp_path):
    """--spoken-label files failed their own verify ("explicit missing: no rhythm cue"): words
    cannot be checked here, so no such file could ever pass. The signed manifest now declares
    the spoken label, and verify reports the layer as not checked, saying where to listen;
    without trust in the manifest it stays missing."""
    import soundfile as sf

    rng = np.random.default_rng(3)
    t = np.arange(int(1.2 * 16000)) / 16000
    voice = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
             + 0.02 * rng.standard_normal(len(t))).astype(np.float32)   # stands for TTS "AI生成"
    clip = tmp_path / "spoken.wav"
    sf.write(clip, voice, 16000)
    r = run("label", SAMPLES / "tone.wav", "-o", tmp_path / "out", "--spoken-label", clip, "--cue", "both")
    assert r.returncode == 0, r.stderr
    labeled = tmp_path / "out" / "tone.wav"
    r = run("verify", "--json", labeled)
    rep = json.loads(r.stdout)
    ex = rep["layers"]["explicit"]
    assert r.returncode == 0 and rep["status"] == "ok", r.stdout + r.stderr
    assert ex["status"] == "skipped" and "declares a spoken label (1.2 s) at 0.25 s and 1" in ex["summary"], ex
    assert len(ex["details"]["spoken_label"]["at"]) == 2 and ex["details"]["spoken_label"]["seconds"] == 1.2
    r = run("verify", "--json", "--no-default-trust", labeled)
    assert json.loads(r.stdout)["layers"]["explicit"]["status"] == "missing" and r.returncode == 1


def test_the_library_keeps_its_error_contract(credentials, tmp_path):
    """From a generation service's review: a picture too wide for WebP failed with a plain
    ValueError after all the labeling work; an empty float array was "got float32"; a wrong
    type was a LabelError here, a nameless pathlib TypeError there; LabelingError and
    LabelError were unrelated, and LabelResult not exported."""
    import time

    import synthlabel
    from synthlabel.models import LabelError

    assert issubclass(synthlabel.LabelingError, LabelError) and issubclass(LabelError, ValueError)
    assert synthlabel.LabelResult.__name__ == "LabelResult" and synthlabel.LabeledAudio
    wide = np.zeros((64, 17000, 3), np.uint8)
    t0 = time.perf_counter()
    with pytest.raises(synthlabel.LabelingError, match="WEBP holds at most 16383 px a side"):
        synthlabel.label_image(wide, format="webp", credentials=credentials)
    assert time.perf_counter() - t0 < 5          # refused before the label and the mark
    for empty in (np.zeros((0, 0, 3), np.float32), np.zeros((0, 40), np.uint8)):
        with pytest.raises(synthlabel.LabelingError, match="the image is empty"):
            synthlabel.label_image(empty, credentials=credentials)
    for kw in ({"jpeg_quality": "90"}, {"explicit": "yes"}, {"output_format": None}):
        with pytest.raises(TypeError) as ei:
            synthlabel.LabelSpec(**kw)
        assert isinstance(ei.value, LabelError) and next(iter(kw)) in str(ei.value)
    with pytest.raises(LabelError, match="output_format must be one of"):
        synthlabel.LabelSpec(output_format="tiff")               # a value: not a TypeError
    with pytest.raises(TypeError, match="sample_rate must be an int, got float"):
        synthlabel.label_audio(np.zeros((16000, 1), np.float32), 16000.0, credentials=credentials)
    png = (SAMPLES / "scene.png").read_bytes()
    with pytest.raises(TypeError, match="layers must be"):
        synthlabel.verify_bytes(png, layers=None)
    with pytest.raises(TypeError, match="turns must be a str"):
        synthlabel.verify_bytes(png, turns=None)
    with pytest.raises(TypeError, match="src must be a path"):
        synthlabel.label_file(None, tmp_path / "x.png")
    with pytest.raises(TypeError, match="dst must be a path"):
        synthlabel.label_file(SAMPLES / "scene.png", 5)
    with pytest.raises(TypeError, match="home must be a path"):
        synthlabel.load_credentials(home=5)
