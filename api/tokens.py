"""Every token Shanzhi signs or checks, and the only module that imports `jose`.

Access tokens: HS256 only, with exp, iat, sub, aud and iss required and a `kid` header looked up in the
server's key ring (the current key plus previous keys still accepted while they rotate out). The chain head:
an ES256 JWS, so anyone holding the public key can check it without being able to forge it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk, jws, jwt
from jose.exceptions import JOSEError

from ledger.core.base import utcnow
from ledger.core.errors import Unauthenticated
from ledger.core.settings import Settings
from ledger.journal.errors import HeadSignatureInvalid

ACCESS_ALGORITHM = "HS256"
HEAD_ALGORITHM = "ES256"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    sub: str  # "user:<id>" or "client:<client_id>"
    role: str  # a user role, or "partner"
    scopes: tuple[str, ...]
    expires_at: datetime
    issued_at: datetime  # to the microsecond: a sign-in ended after it refuses the token (principal.load)


def issue_access_token(settings: Settings, *, sub: str, role: str, scopes: tuple[str, ...] = ()) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds (at most 15 minutes)."""
    now = utcnow()
    lifetime = min(settings.access_token_seconds, 900)
    claims = {
        "sub": sub,
        "role": role,
        "scope": " ".join(scopes),
        "iat": int(now.timestamp()),
        "iat_us": int(now.timestamp() * 1_000_000),  # `iat` is whole seconds; ending sign-ins needs the instant
        "exp": int((now + timedelta(seconds=lifetime)).timestamp()),
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "jti": secrets.token_urlsafe(12),
    }
    token = jwt.encode(
        claims, settings.effective_jwt_secret(), algorithm=ACCESS_ALGORITHM, headers={"kid": settings.jwt_kid}
    )
    return token, lifetime


def read_access_token(settings: Settings, token: str) -> AccessClaims:
    """Check a bearer token. Anything but a current, untampered HS256 token from a known key is refused."""
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError as exc:
        raise Unauthenticated("The access token is malformed.") from exc
    if header.get("alg") != ACCESS_ALGORITHM:
        raise Unauthenticated("The access token is not signed with an accepted algorithm.")
    secret = settings.key_ring().get(str(header.get("kid", "")))
    if not secret:
        raise Unauthenticated("The access token was signed with an unknown or retired key.")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ACCESS_ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={
                "require_exp": True,
                "require_iat": True,
                "require_sub": True,
                "require_aud": True,
                "require_iss": True,
            },
        )
    except JOSEError as exc:
        raise Unauthenticated("The access token is invalid or has expired.") from exc
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int) or exp - iat > 900:
        raise Unauthenticated("The access token lives longer than this server allows.")
    role, scope = claims.get("role"), claims.get("scope", "")
    if not isinstance(role, str) or not isinstance(scope, str) or not isinstance(claims["sub"], str):
        raise Unauthenticated("The access token's claims are malformed.")
    iat_us = claims.get("iat_us")
    issued_us = iat_us if isinstance(iat_us, int) and abs(iat_us - iat * 1_000_000) < 1_000_000 else iat * 1_000_000
    return AccessClaims(
        sub=claims["sub"],
        role=role,
        scopes=tuple(scope.split()),
        expires_at=datetime.fromtimestamp(exp).astimezone(),
        issued_at=datetime.fromtimestamp(issued_us / 1_000_000, UTC),
    )


# --- the signed chain head ---------------------------------------------------------------------------------


_head_keys: dict[Path, ec.EllipticCurvePrivateKey] = {}


def head_signing_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    """The P-256 key that signs chain heads; made on first use and kept on disk (like an SSH host key)."""
    path = Path(settings.head_signing_key_path).resolve()
    if path not in _head_keys:
        _head_keys[path] = _load_or_create(path)
    return _head_keys[path]


def _load_or_create(path: Path) -> ec.EllipticCurvePrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path} does not hold an EC private key")
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return key


def head_public_jwk(settings: Settings) -> dict[str, Any]:
    public_pem = (
        head_signing_key(settings)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    key = jwk.construct(public_pem.decode(), HEAD_ALGORITHM).to_dict()
    key.update({"use": "sig", "alg": HEAD_ALGORITHM, "kid": head_key_id(settings)})
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in key.items()}


def head_key_id(settings: Settings) -> str:
    public_der = (
        head_signing_key(settings)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return "head-" + hashlib.sha256(public_der).hexdigest()[:16]


def sign_head(settings: Settings, payload: dict[str, Any]) -> str:
    private_pem = head_signing_key(settings).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return jws.sign(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode(),
        private_pem.decode(),
        headers={"kid": head_key_id(settings), "typ": "shanzhi-chain-head+jws"},
        algorithm=HEAD_ALGORITHM,
    )


def read_signed_head(public_jwk: dict[str, Any], token: str) -> dict[str, Any]:
    """Check a pinned head against the published public key; returns its payload."""
    try:
        payload = jws.verify(token, public_jwk, algorithms=[HEAD_ALGORITHM])
    except JOSEError as exc:
        raise HeadSignatureInvalid(
            "The chain head's signature does not verify: it was not signed with this service's key, or it was changed."
        ) from exc
    result: dict[str, Any] = json.loads(payload)
    return result
