"""The evidence bundle: one zip file a newsroom can keep and check offline.

Members, in this order::

    README.txt                   how to verify (fixed text: checked too)
    manifest.json                the manifest (monitor.evidence.manifest), as stamped
    archive/evidence.warc.gz     the raw captures, WARC records concatenated
    timestamps/<authority>.tsr   one RFC 3161 token per authority, over manifest.json

The zip is written canonically (members stored uncompressed, fixed dates and
permissions, nothing else), so a verifier rebuilds it from its members and any
changed byte of the container shows, not only a changed member.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .manifest import WARC_NAME

__all__ = ["MANIFEST_NAME", "README_NAME", "README_TEXT", "Bundle", "BundleError",
           "authority_name", "read", "write"]

MANIFEST_NAME = "manifest.json"
README_NAME = "README.txt"
_TOKEN_DIR = "timestamps/"
_DATE = (1980, 1, 1, 0, 0, 0)
_MODE = 0o100644 << 16
#: The largest bundle :func:`read` opens (a hostile file is refused, not read).
MAX_BUNDLE_BYTES = 2_000_000_000
_NAME = re.compile(r"[^A-Za-z0-9._-]+")

README_TEXT = """\
Takedown Monitor evidence bundle (format takedown-evidence/1)

manifest.json             the event, its cause and the rule that decided it, the
                          observation timeline with the SHA-256 of every body, the
                          captures below (each a byte range of the WARC file, with
                          its SHA-256), and the hash-chain entries of every row named
archive/evidence.warc.gz  the raw HTTP captures (request and response), WARC 1.1
timestamps/*.tsr          RFC 3161 timestamp tokens over manifest.json, one per
                          timestamp authority (absent: not stamped yet)

Check it offline:

    takedown evidence verify BUNDLE.zip --tsa-ca AUTHORITY-CA.pem

Without the tool, check a timestamp with OpenSSL:

    openssl ts -verify -token_in -in timestamps/NAME.tsr -data manifest.json -CAfile CA.pem

and each capture: its bytes (offset, length in the manifest) of the WARC file
hash (sha256sum) to its warc_sha256; any WARC tool reads the file.
Any changed byte of this zip makes `takedown evidence verify` reject it.
"""


class BundleError(ValueError):
    """The file is not a readable evidence bundle; the message says what is wrong."""


@dataclass
class Bundle:
    """A bundle's members."""

    manifest: bytes
    warc: bytes
    #: Authority name → token bytes.
    tokens: dict[str, bytes] = field(default_factory=dict)
    readme: str = README_TEXT


def authority_name(url: str) -> str:
    """A file-safe name for an authority: its host (and port), e.g.
    ``freetsa.org`` or ``127.0.0.1_8080``."""
    parts = urlsplit(url)
    host = parts.hostname or "authority"
    name = f"{host}_{parts.port}" if parts.port else host
    return _NAME.sub("_", name)[:80] or "authority"


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = _MODE
    info.create_system = 3
    return info


def write(bundle: Bundle) -> bytes:
    """The bundle's canonical zip bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(_info(README_NAME), bundle.readme.encode("utf-8"))
        zf.writestr(_info(MANIFEST_NAME), bundle.manifest)
        zf.writestr(_info(WARC_NAME), bundle.warc)
        for name in sorted(bundle.tokens):
            zf.writestr(_info(f"{_TOKEN_DIR}{_NAME.sub('_', name)}.tsr"), bundle.tokens[name])
    return out.getvalue()


def read(data: bytes) -> Bundle:
    """The members of a bundle's bytes; :class:`BundleError` when it is not one.
    (Whether it is canonical and intact is :mod:`monitor.evidence.verify`'s job.)"""
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(f"the file is larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            if len(names) != len(set(names)):
                raise BundleError("the zip names a member twice")
            for required in (README_NAME, MANIFEST_NAME, WARC_NAME):
                if required not in names:
                    raise BundleError(f"the zip has no {required}: not an evidence bundle")
            strays = [n for n in names if n not in (README_NAME, MANIFEST_NAME, WARC_NAME)
                      and not (n.startswith(_TOKEN_DIR) and n.endswith(".tsr")
                               and "/" not in n[len(_TOKEN_DIR):])]
            if strays:
                raise BundleError(f"the zip holds members a bundle never has: {strays[:3]}")
            for info in zf.infolist():  # before reading: no bomb is ever inflated
                if info.flag_bits & 0x1:
                    raise BundleError(f"{info.filename} is encrypted; a bundle never is")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise BundleError(f"{info.filename} is compressed; a bundle stores its "
                                      "members as they are")
                if info.file_size > MAX_BUNDLE_BYTES:
                    raise BundleError(f"{info.filename} claims {info.file_size} bytes")
            tokens = {n[len(_TOKEN_DIR):-4]: zf.read(n) for n in names
                      if n.startswith(_TOKEN_DIR)}
            return Bundle(manifest=zf.read(MANIFEST_NAME), warc=zf.read(WARC_NAME),
                          tokens=tokens, readme=zf.read(README_NAME).decode("utf-8"))
    except BundleError:
        raise
    except Exception as exc:  # noqa: BLE001 (hostile input: zipfile raises many kinds)
        # A changed byte in a member fails its CRC-32 here (BadZipFile).
        raise BundleError(f"the zip cannot be read ({type(exc).__name__}: {exc})") from None


def tokens_from(stamps: Mapping[str, bytes]) -> dict[str, bytes]:
    """Authority URL → token, as the bundle names them."""
    return {authority_name(url): token for url, token in stamps.items()}
