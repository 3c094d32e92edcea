"""synthlabel: label AI-generated media with every layer the rules ask for.

One call labels an image held in memory::

    import synthlabel
    labeled = synthlabel.label_image(rgb, format="jpeg")   # rgb: uint8 H×W×3, or a PIL image
    labeled.data          # JPEG bytes: visible label, watermark, AIGC/IPTC XMP, signed C2PA
    synthlabel.verify_bytes(labeled.data).ok()

The watermark alone, for pipelines that only need it: :mod:`synthlabel.watermark`.
Credentials: development ones are created on first use under ``$SYNTHLABEL_HOME``
(``~/.synthlabel``); pass :func:`load_credentials` results for production.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .labeling import LabeledMedia, LabelingError, label_image  # noqa: E402
from .models import (  # noqa: E402
    AIGCLabel,
    ContentID,
    LabelError,
    LabelSpec,
    Position,
    VerificationReport,
)
from .provenance.credentials import Credentials, load_credentials  # noqa: E402


def verify_bytes(data: bytes, *, credentials: Credentials | None = None,
                 layers: tuple[str, ...] = ("explicit", "metadata", "watermark", "c2pa"),
                 path: str = "<bytes>") -> VerificationReport:
    """Verify every layer of an encoded file held in memory, with the configured (by default
    development) watermark key and trust anchors."""
    from .verify import verify_bytes as _verify

    creds = credentials or load_credentials()
    return _verify(data, key=creds.watermark_key, trust_anchors_pem=creds.trust_anchors_pem,
                   layers=layers, path=path)


def verify_file(path, *, credentials: Credentials | None = None,
                layers: tuple[str, ...] = ("explicit", "metadata", "watermark", "c2pa")) -> VerificationReport:
    """Verify every layer of a file on disk (see :func:`verify_bytes`)."""
    from .verify import verify_file as _verify

    creds = credentials or load_credentials()
    return _verify(path, key=creds.watermark_key, trust_anchors_pem=creds.trust_anchors_pem,
                   layers=layers)


__all__ = [
    "AIGCLabel", "ContentID", "Credentials", "LabelError", "LabelSpec", "LabeledMedia",
    "LabelingError", "Position", "VerificationReport", "label_image", "load_credentials",
    "verify_bytes", "verify_file", "__version__",
]
