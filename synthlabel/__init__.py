"""synthlabel: label AI-generated media with every layer the rules ask for.

One call labels an image held in memory::

    import synthlabel
    labeled = synthlabel.label_image(rgb, format="jpeg")   # rgb: uint8 H×W×3, or a PIL image
    labeled.data          # JPEG bytes: visible label, watermark, AIGC/IPTC XMP, signed C2PA
    synthlabel.verify_bytes(labeled.data).ok()

An encoded image held in memory (an upload): :func:`label_image_bytes`, which keeps its EXIF,
ICC profile, XMP and C2PA manifest. Audio held in memory: :func:`label_audio` (float samples
shaped (frames, channels)). A file of
any supported kind, sniffed by content: :func:`label_file` (audio and video stream from file
to file in bounded memory).

The watermark alone, for pipelines that only need it: :mod:`synthlabel.watermark`.
Credentials: development ones are created on first use under ``$SYNTHLABEL_HOME``
(``~/.synthlabel``); pass :func:`load_credentials` results for production.
"""
from __future__ import annotations

import os

__version__ = "0.1.0"

# The labeling engine (OpenCV, the watermark, c2pa) loads on first use, so that importing
# the package, and the command line's --help, stay fast.
_LAZY = {"LabeledMedia", "LabelingError", "label_image", "label_image_bytes"}


def __getattr__(name: str):
    if name in _LAZY:
        from . import labeling

        return getattr(labeling, name)
    if name == "LabeledAudio":      # (label_audio's result: its info part)
        from .labeling_audio import LabeledAudio

        return LabeledAudio
    raise AttributeError(f"module 'synthlabel' has no attribute {name!r}")
from .models import (  # noqa: E402
    AIGCLabel,
    ContentID,
    LabelError,
    LabelResult,
    LabelSpec,
    Position,
    VerificationReport,
)
from .provenance.credentials import Credentials, load_credentials, resolved as resolved_credentials  # noqa: E402


def label_audio(samples, sample_rate: int, *, format: str = "wav", spec: LabelSpec | None = None,
                credentials: Credentials | None = None, subtype: str | None = None):
    """Label audio held in memory: ``samples`` float32/float64 shaped (frames, channels) or
    (frames,), in [-1, 1] (beyond is clipped, with a warning), or integer PCM (scaled from
    full scale). Returns ``(data, sidecar, info)``: the encoded file's bytes, the C2PA
    sidecar's bytes for Ogg/Opus (else None), and what was done (``info.warnings``).
    ``format``: wav, flac, mp3, ogg, opus or m4a. ``subtype``: the sample format of a WAV or
    FLAC (``PCM_16``, the default, and ``PCM_24`` for int32 samples; ``FLOAT`` for WAV).
    Integer PCM: int16, int32 (full scale) or uint8 (offset by 128).
    Raises :class:`LabelingError` for audio it cannot label (no samples, NaN, more than 8
    channels, a rate outside 8-384 kHz, a format it cannot write) and ``TypeError`` for an
    argument of the wrong type (``sample_rate`` is an int)."""
    from .labeling_audio import label_audio as _label

    return _label(samples, sample_rate, format=format, spec=spec, credentials=credentials,
                  subtype=subtype)


def label_file(src, dst=None, *, spec: LabelSpec | None = None,
               credentials: Credentials | None = None, overwrite: bool = False,
               in_place: bool = False, skip_labeled: bool = False):
    """Label one image, audio or video file (recognised by content) into ``dst``, written
    atomically (a folder as ``dst``, existing or named with a trailing "/": into it, under
    ``src``'s name); ``dst``'s suffix is corrected to the format written
    (``LabelResult.output`` says where it went). ``in_place=True`` (and no ``dst``) replaces
    ``src`` instead.
    Returns the :class:`~synthlabel.models.LabelResult` (warnings included); raises
    :class:`LabelingError` with a one-line reason naming ``src`` when the file cannot be
    labeled. ``skip_labeled``: leave a file that already carries an AIGC label alone
    (``result.skipped`` says so)."""
    from pathlib import Path

    from .labeling import LabelingError, checked_spec
    from .pipeline import Job, label_one

    for name, value in (("src", src), ("dst", dst)):
        if not (isinstance(value, (str, os.PathLike)) or value is None and name == "dst"):
            # (pathlib's "expected str, bytes or os.PathLike object, not NoneType" named
            # neither; bytes are a file's content here, which label_image_bytes takes)
            raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    if in_place == (dst is not None):
        raise ValueError("give either dst or in_place=True")
    spec = checked_spec(spec)
    if dst is not None and (Path(dst).is_dir() or str(dst).endswith(("/", os.sep))):
        # a folder (one named with a trailing slash may not exist yet: it is made), and the
        # file goes into it under its own name
        dst = Path(dst) / Path(src).name
    job = Job(source=Path(src), target=None if in_place else Path(dst), in_place=in_place)
    res = label_one(job, spec, resolved_credentials(credentials, signing=True), overwrite,
                    skip_labeled)
    if res.error:
        raise LabelingError(f"{src}: {res.error}")
    return res


def _keys(watermark_keys, creds: Credentials):
    """The keys to try: ``watermark_keys`` when given (an empty sequence is an error, not
    "use the configured key": a rotation list that loaded nothing must not pass silently);
    None when neither they nor ``creds`` hold one (verifying credentials without a key)."""
    if watermark_keys is None:
        return creds.watermark_key
    from .watermark import watermark_keys as _check

    return _check(watermark_keys)


def _verifying_credentials(credentials: Credentials | None) -> Credentials:
    """What to verify with: ``credentials``; else the configured ones, the development ones
    only where they exist (verify never creates them, as the README and the CLI say: a key
    made now cannot have marked anything; the library made them). Without any: the watermark
    key and trust anchors the environment names, if any (no key: the watermark is left
    unchecked)."""
    if credentials is not None:
        return resolved_credentials(credentials)
    from .provenance import credentials as credmod

    try:
        return credmod.load_credentials(create=False, signing=False)
    except credmod.HomeUnavailableError:
        return credmod.verifying_without_home()


def _key_and_layers(watermark_keys, creds: Credentials, layers) -> tuple:
    """The watermark key(s) and the layers to check: without any key (credentials loaded for
    verifying, ``signing=False``, with none configured) the watermark is left unchecked
    (SKIPPED), and asking for it alone is an error."""
    from .provenance.credentials import CredentialError
    from .verify import wanted_layers

    layers = wanted_layers(layers)
    key = _keys(watermark_keys, creds)
    if key is None and "watermark" in layers:
        layers = tuple(name for name in layers if name != "watermark")
        if not layers:
            raise CredentialError("the watermark cannot be checked: no watermark key is "
                                  "configured (pass watermark_keys=, or set SYNTHLABEL_WATERMARK_KEY)")
    return key, layers


def verify_bytes(data: bytes, *, credentials: Credentials | None = None,
                 layers: tuple[str, ...] = ("explicit", "metadata", "watermark", "c2pa"),
                 path: str = "<bytes>", watermark_keys=None,
                 sidecar: bytes | None = None, label_text=None, turns: str = "auto") -> VerificationReport:
    """Verify every layer of an encoded file held in memory, with the configured (by default
    development) watermark key and trust anchors; development credentials are used where
    they exist, never created (without any the watermark is left unchecked).
    ``watermark_keys``: a sequence of keys to try instead (e.g. the current and the retired
    ones), the report naming the one that matched by fingerprint; p-values are corrected for
    the number of keys. ``sidecar``: the ``.c2pa`` bytes of an Ogg/Opus/MKV/WebM file (``label_audio`` returns them), or a
    picture's detached manifest (read when none is embedded).
    ``label_text``: the visible label's text (or several), looked for before the standard
    phrasings (``models.STANDARD_LABEL_TEXTS``); needed for a label made with another text.
    ``turns``: which quarter turns of a picture the visible label and watermark are looked for
    in: "auto" (all four when the file declares a label, else as displayed), "all" (every
    picture: a turned screenshot declares nothing; four times the watermark search) or
    "upright"."""
    from .verify import unchecked_layers
    from .verify import verify_bytes as _verify

    if not isinstance(path, str):          # a report's path (an int was stored as given)
        raise TypeError(f"path must be a str, got {type(path).__name__}")
    creds = _verifying_credentials(credentials)
    key, layers = _key_and_layers(watermark_keys, creds, layers)
    report = _verify(data, key=key,
                     trust_anchors_pem=creds.trust_anchors_pem, layers=layers, path=path,
                     sidecar=sidecar, label_text=label_text, turns=turns)
    # empty or unrecognised bytes: every layer all the same, as verify_file gives
    return unchecked_layers(report, layers)


def verify_file(path, *, credentials: Credentials | None = None,
                layers: tuple[str, ...] = ("explicit", "metadata", "watermark", "c2pa"),
                watermark_keys=None, label_text=None, turns: str = "auto") -> VerificationReport:
    """Verify every layer of a file on disk (see :func:`verify_bytes`, ``turns`` included). A
    file that cannot be read or decoded never raises: the report's ``error`` says why, and its
    layers are ERROR (those asked for) or SKIPPED, as in the CLI's JSON."""
    from .models import label_texts
    from .verify import turn_mode, verify_file_safe, wanted_layers

    if not isinstance(path, (str, os.PathLike)):     # else an "internal error" report
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    layers = wanted_layers(layers)            # unknown names raise ValueError, as documented
    turns = turn_mode(turns)
    if label_text is not None:                # a bad one failed every file's report instead
        label_texts(label_text)
    creds = _verifying_credentials(credentials)
    key, layers = _key_and_layers(watermark_keys, creds, layers)
    return verify_file_safe(path, key=key,
                            trust_anchors_pem=creds.trust_anchors_pem, layers=layers,
                            label_text=label_text, turns=turns)


__all__ = [
    "AIGCLabel", "ContentID", "Credentials", "LabelError", "LabelResult", "LabelSpec",
    "LabeledAudio", "LabeledMedia", "LabelingError", "Position", "VerificationReport",
    "label_audio", "label_file", "label_image", "label_image_bytes", "load_credentials",
    "verify_bytes", "verify_file", "__version__",
]
