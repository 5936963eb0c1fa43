"""RFC 3161 trusted timestamps: ask an authority, check what it answered.

A timestamp authority (TSA) signs "these SHA-256 bytes existed at this time".
:func:`request_token` sends a ``TimeStampReq`` (with a nonce, asking for the
authority's certificate) and checks the ``TimeStampResp``; :func:`verify_token`
checks a stored token offline: its imprint against the data, the CMS signature
(signed attributes, message digest, ESS signing certificate) with the
``cryptography`` primitives, the certificate's ``timeStamping`` purpose, and,
given CA certificates, the chain up to one of them. No ``openssl`` binary.

Errors::

    TimestampError            the answer or token cannot be trusted
    └── AuthorityUnavailable  the authority could not be asked (network, HTTP, refusal)
"""

from __future__ import annotations

import hashlib
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

__all__ = ["AuthorityUnavailable", "TimestampError", "TokenInfo", "build_request",
           "load_ca_file", "parse_response", "request_token", "verify_token"]

#: The most a TSA answer may weigh; a real token is a few kilobytes.
MAX_RESPONSE_BYTES = 1_000_000

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
    "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}


class TimestampError(Exception):
    """A timestamp answer or token that cannot be trusted; the message says why."""


class AuthorityUnavailable(TimestampError):
    """The authority could not be asked or refused: try again later."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What a checked token says."""

    gen_time: datetime
    serial: int
    policy: str
    hash_algorithm: str
    imprint: bytes
    nonce: int | None
    #: The signing certificate's subject, as RFC 4514 text.
    signer: str
    #: True when the signer chains to one of the CA certificates given.
    chained: bool


def _digest(name: str, data: bytes) -> bytes:
    if name not in _HASHES:
        raise TimestampError(f"unsupported hash algorithm {name}")
    return hashlib.new(name, data).digest()


def build_request(data: bytes, *, nonce: int | None = None) -> tuple[bytes, int]:
    """A DER ``TimeStampReq`` for SHA-256(``data``) with a 64-bit nonce; returns it and
    the nonce."""
    nonce = secrets.randbits(63) if nonce is None else nonce
    req = tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "hashed_message": hashlib.sha256(data).digest(),
        },
        "nonce": nonce,
        "cert_req": True,
    })
    return req.dump(), nonce


def parse_response(answer: bytes, data: bytes, nonce: int) -> bytes:
    """The token (DER ``ContentInfo``) of a ``TimeStampResp``, checked against the
    request: granted, for ``data``'s SHA-256, with our nonce, signature valid."""
    try:
        # Not tsp.TimeStampResp: asn1crypto wants its token even in a refusal.
        parts = core.Sequence.load(answer, strict=True)
        info_status = tsp.PKIStatusInfo.load(parts[0].dump())
        status = info_status["status"].native
        text = info_status["status_string"].native
        token = parts[1].dump() if len(parts) > 1 else b""
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise TimestampError(f"the answer is not an RFC 3161 TimeStampResp ({exc})") from None
    if status not in ("granted", "granted_with_mods"):
        words = "; ".join(text) if text else "no reason given"
        raise AuthorityUnavailable(f"the authority refused the request: {status} ({words})")
    if not token:
        raise TimestampError("the authority granted the request but sent no token")
    info = verify_token(token, data)
    if info.nonce != nonce:
        raise TimestampError("the token's nonce is not the one we sent (a replayed answer?)")
    return token


def request_token(url: str, data: bytes, *, timeout: float, user_agent: str) -> bytes:
    """Ask the authority at ``url`` to stamp SHA-256(``data``); returns the checked token.

    Raises :class:`AuthorityUnavailable` when it cannot be reached or refuses, and
    :class:`TimestampError` when its answer is not a valid token for ``data``.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise AuthorityUnavailable(f"{url!r} is not an http(s) URL of a timestamp authority")
    body, nonce = build_request(data)
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/timestamp-query",
        "Accept": "application/timestamp-reply",
        "User-Agent": user_agent,
    })
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
            answer = reply.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise AuthorityUnavailable(f"{url} answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:  # URLError, timeouts, resets, bad URL
        raise AuthorityUnavailable(f"cannot reach {url}: {exc}") from None
    if len(answer) > MAX_RESPONSE_BYTES:
        raise TimestampError(f"{url} answered more than {MAX_RESPONSE_BYTES} bytes")
    return parse_response(answer, data, nonce)


def load_ca_file(path: str) -> list[x509.Certificate]:
    """The certificates of a PEM file (or one DER certificate)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        if b"-----BEGIN" in raw:
            return x509.load_pem_x509_certificates(raw)
        return [x509.load_der_x509_certificate(raw)]
    except ValueError as exc:
        raise TimestampError(f"{path} holds no certificate we can read ({exc})") from None


def verify_token(token: bytes, data: bytes,
                 ca_certs: Sequence[x509.Certificate] = ()) -> TokenInfo:
    """Check a token stamps ``data`` and is signed by a timestamping certificate;
    with ``ca_certs``, that the certificate chains to one of them."""
    try:
        return _verify_token(token, data, ca_certs)
    except TimestampError:
        raise
    except Exception as exc:  # noqa: BLE001 (hostile input: any parser failure)
        # asn1crypto parses lazily: a damaged part fails where it is first read.
        raise TimestampError(f"the token cannot be parsed ({exc})") from None


def _verify_token(token: bytes, data: bytes,
                  ca_certs: Sequence[x509.Certificate]) -> TokenInfo:
    content = cms.ContentInfo.load(token, strict=True)
    if content["content_type"].native != "signed_data":
        raise TimestampError("the token is not CMS SignedData")
    signed = content["content"]
    encap = signed["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise TimestampError("the token does not hold a TSTInfo")
    tst_bytes = encap["content"].parsed.dump()
    tst = tsp.TSTInfo.load(tst_bytes)
    algorithm = tst["message_imprint"]["hash_algorithm"]["algorithm"].native
    imprint = tst["message_imprint"]["hashed_message"].native
    signers = list(signed["signer_infos"])
    certs = [c.chosen for c in signed["certificates"] if c.name == "certificate"]
    gen_time = tst["gen_time"].native
    if imprint != _digest(algorithm, data):
        raise TimestampError("the token stamps other data: its imprint is not the "
                             f"{algorithm} of these bytes")
    if len(signers) != 1:
        raise TimestampError(f"the token has {len(signers)} signers; RFC 3161 wants one")
    _check_envelope(signed, signers[0])
    signer_cert = _check_signature(signers[0], tst_bytes, certs)
    _check_purpose(signer_cert, gen_time)
    _check_carried(signer_cert, certs)
    chained = False
    if ca_certs:
        _check_chain(signer_cert, certs, ca_certs, gen_time)
        chained = True
    return TokenInfo(gen_time=gen_time, serial=int(tst["serial_number"].native),
                     policy=tst["policy"].dotted, hash_algorithm=algorithm, imprint=imprint,
                     nonce=tst["nonce"].native, signer=signer_cert.subject.rfc4514_string(),
                     chained=chained)


def _check_envelope(signed: cms.SignedData, signer: cms.SignerInfo) -> None:
    """The parts of a token no signature covers hold exactly what RFC 3161 and 5652
    say, so a changed byte there is caught too."""
    if signed["version"].native != "v3":
        raise TimestampError("the token's SignedData version is not 3")
    wanted = "v1" if signer["sid"].name == "issuer_and_serial_number" else "v3"
    if signer["version"].native != wanted:
        raise TimestampError("the token's SignerInfo version does not match its identifier")
    digest = signer["digest_algorithm"]
    listed = list(signed["digest_algorithms"])
    if [d["algorithm"].dotted for d in listed] != [digest["algorithm"].dotted]:
        raise TimestampError("the token's digest algorithms are not its signer's")
    for algo in (*listed, digest, signer["signature_algorithm"]):
        # Parameters are absent or NULL, except RSASSA-PSS's (checked when verifying).
        if algo["algorithm"].native != "rsassa_pss" and \
                algo["parameters"].dump() not in (b"", b"\x05\x00"):
            raise TimestampError("the token's algorithm parameters are neither absent "
                                 "nor NULL")
    if signer["unsigned_attrs"].native:
        raise TimestampError("the token carries unsigned attributes")


def _find_signer(signer: cms.SignerInfo,
                 certs: Sequence[asn1_x509.Certificate]) -> asn1_x509.Certificate:
    sid = signer["sid"]
    for cert in certs:
        if sid.name == "issuer_and_serial_number":
            if (cert.issuer == sid.chosen["issuer"]
                    and cert.serial_number == sid.chosen["serial_number"].native):
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    raise TimestampError("the token does not carry its signer's certificate "
                         "(the request asks for it: certReq)")


def _check_signature(signer: cms.SignerInfo, tst_bytes: bytes,
                     certs: Sequence[asn1_x509.Certificate]) -> x509.Certificate:
    cert_asn1 = _find_signer(signer, certs)
    cert = x509.load_der_x509_certificate(cert_asn1.dump())
    digest_name = signer["digest_algorithm"]["algorithm"].native
    attrs = signer["signed_attrs"]
    if not attrs.native:
        raise TimestampError("the token's signature has no signed attributes")
    values = {a["type"].native: a["values"] for a in attrs}
    if "message_digest" not in values or "content_type" not in values:
        raise TimestampError("the token's signed attributes lack the content type or digest")
    if values["content_type"][0].native != "tst_info":
        raise TimestampError("the token's signed content type is not TSTInfo")
    if values["message_digest"][0].native != _digest(digest_name, tst_bytes):
        raise TimestampError("the token's TSTInfo does not match its signed digest")
    _check_ess(values, cert_asn1)
    # The signature covers the attributes DER-encoded as a SET OF (RFC 5652 5.4).
    signed_bytes = b"\x31" + attrs.dump()[1:]
    _verify_signature(cert, signer, digest_name, signed_bytes)
    return cert


def _check_ess(values: dict[str, cms.SetOfAny], cert: asn1_x509.Certificate) -> None:
    """The ESS signing-certificate attribute must name the signer's certificate."""
    der = cert.dump()
    if "signing_certificate_v2" in values:
        ids = values["signing_certificate_v2"][0]["certs"]
        first = ids[0]
        name = first["hash_algorithm"]["algorithm"].native
        if first["cert_hash"].native != _digest(name, der):
            raise TimestampError("the token names another signing certificate (ESS v2)")
    elif "signing_certificate" in values:
        first = values["signing_certificate"][0]["certs"][0]
        if first["cert_hash"].native != hashlib.sha1(der).digest():  # noqa: S324 (RFC 2634)
            raise TimestampError("the token names another signing certificate (ESS)")
    else:
        raise TimestampError("the token lacks the ESS signing-certificate attribute")


def _verify_signature(cert: x509.Certificate, signer: cms.SignerInfo, digest_name: str,
                      signed_bytes: bytes) -> None:
    if digest_name not in _HASHES:
        raise TimestampError(f"unsupported hash algorithm {digest_name}")
    algorithm = _HASHES[digest_name]()
    signature = signer["signature"].native
    sig_algo = signer["signature_algorithm"]
    key = cert.public_key()
    _check_algorithm(sig_algo, key, digest_name)
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if sig_algo.signature_algo == "rsassa_pss":
                params = sig_algo["parameters"]
                pss_hash = _HASHES[params["hash_algorithm"]["algorithm"].native]()
                key.verify(signature, signed_bytes,
                           padding.PSS(padding.MGF1(pss_hash), params["salt_length"].native),
                           pss_hash)
            else:
                key.verify(signature, signed_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, signed_bytes)
        else:
            raise TimestampError(f"unsupported signing key {type(key).__name__}")
    except InvalidSignature:
        raise TimestampError("the token's signature does not verify") from None
    except (ValueError, KeyError) as exc:
        raise TimestampError(f"the token's signature cannot be checked ({exc})") from None


_KEY_ALGOS = ((rsa.RSAPublicKey, ("rsassa_pkcs1v15", "rsassa_pss")),
              (ec.EllipticCurvePublicKey, ("ecdsa",)),
              (ed25519.Ed25519PublicKey, ("ed25519",)), (ed448.Ed448PublicKey, ("ed448",)))


def _check_algorithm(sig_algo: algos.SignedDigestAlgorithm, key: object,
                     digest_name: str) -> None:
    """The signature algorithm named is the key's kind, and the hash it names (if it
    names one, as ecdsa-with-SHA256 does) is the signer's digest algorithm."""
    try:
        kind = sig_algo.signature_algo
    except ValueError:
        raise TimestampError("the token names an unknown signature algorithm") from None
    if not any(isinstance(key, cls) and kind in names for cls, names in _KEY_ALGOS):
        raise TimestampError(f"the token's signature algorithm {kind} is not its key's")
    if kind == "rsassa_pss":
        return
    try:
        named = sig_algo.hash_algo
    except ValueError:  # rsaEncryption, Ed25519: no hash in the name
        return
    if named != digest_name:
        raise TimestampError("the token's signature algorithm names another hash")


def _check_purpose(cert: x509.Certificate, at: datetime) -> None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise TimestampError("the signing certificate is not a timestamping certificate "
                             "(no extendedKeyUsage)") from None
    if list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING] or not eku.critical:
        raise TimestampError("the signing certificate's only, critical purpose must be "
                             "timeStamping (RFC 3161 2.3)")
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise TimestampError("the token's time is outside its certificate's validity")


def _check_carried(signer: x509.Certificate,
                   carried: Sequence[asn1_x509.Certificate]) -> None:
    """Every certificate the token carries is its signer or an issuer up the signer's
    chain (self-signed roots verify themselves)."""
    if any(c["signature_value"].contents[:1] != b"\x00" for c in carried):
        # DER: a signature's BIT STRING has no unused bits; libraries ignore them.
        raise TimestampError("the token carries a certificate with a malformed signature")
    pool = [x509.load_der_x509_certificate(c.dump()) for c in carried]
    chain, current = [signer], signer
    while True:
        parents = [c for c in pool if c not in chain and _issued_by(current, c)]
        if not parents:
            break
        current = parents[0]
        chain.append(current)
    root = chain[-1]
    if root.issuer == root.subject and len(chain) > 1 and not _issued_by(root, root):
        raise TimestampError("the token carries a root certificate that does not verify")
    strays = [c for c in pool if c not in chain]
    if strays or len(pool) != len(set(pool)):
        raise TimestampError("the token carries a certificate outside its signer's chain")


def _check_chain(cert: x509.Certificate, carried: Sequence[asn1_x509.Certificate],
                 anchors: Sequence[x509.Certificate], at: datetime) -> None:
    """The signer, and every certificate the token carries, chain to an anchor."""
    for anchor in anchors:
        if not anchor.not_valid_before_utc <= at <= anchor.not_valid_after_utc:
            raise TimestampError("a CA certificate given was not valid at the token's time")
    pool = [x509.load_der_x509_certificate(c.dump()) for c in carried] + [cert]
    trusted = list(anchors)
    grown = True
    while grown:  # trust flows down from the anchors, one issuer link at a time
        grown = False
        for candidate in pool:
            if candidate not in trusted and any(_issued_by(candidate, t) for t in trusted):
                trusted.append(candidate)
                grown = True
    if cert not in trusted:
        raise TimestampError("the signing certificate does not chain to the CA given")
    if any(c not in trusted for c in pool):
        raise TimestampError("the token carries a certificate that does not chain to the CA")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
