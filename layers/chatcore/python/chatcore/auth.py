"""Who is connecting: JWT verification, the Origin allowlist, the authorizer's answer.

Algorithms are pinned by configuration (``HS256`` with a key of at least 32 bytes, or ``RS256``
with keys from a JWKS through PyJWT's caching ``PyJWKClient``); ``exp`` and ``sub`` are required,
``iss`` and ``aud`` are checked when configured, with a small leeway for clock skew. The audience
check accepts ``client_id`` when a token has no ``aud``, as API Gateway's JWT authorizer does
(Cognito access tokens, user or client-credentials, carry ``client_id`` only), so one token works
on both APIs. Only ``verify`` sees the token and nothing here logs it. The identity travels to
every later event through the authorizer context, whose values API Gateway requires to be
strings; ``identity_from_claims`` reads the same identity from claims a JWT authorizer passed on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chatcore.config import ConfigError
from chatcore.rooms import PRIVATE_PREFIX, ROOM_PATTERN, USER_PATTERN

if TYPE_CHECKING:
    import jwt

__all__ = [
    "LEEWAY_SECONDS",
    "MIN_HS256_KEY_BYTES",
    "MODERATOR_ROLE",
    "AuthError",
    "Identity",
    "TokenVerifier",
    "Unauthorized",
    "build_policy",
    "check_origin",
    "identity_from_claims",
    "mint_token",
    "parse_scopes",
]

MIN_HS256_KEY_BYTES = 32
LEEWAY_SECONDS = 30
MAX_NAME_LENGTH = 64
MODERATOR_ROLE = "moderator"
KNOWN_ROLES = frozenset({MODERATOR_ROLE})


class AuthError(Exception):
    """The token or the origin is not acceptable; ``reason`` is safe to log (no token in it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unauthorized(Exception):
    """Raised by the authorizer: a Lambda error whose message is exactly "Unauthorized" makes
    API Gateway refuse the connection with 401 (a Deny policy gives 403)."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


@dataclass(frozen=True, kw_only=True)
class Identity:
    """The authenticated user, as every handler after the authorizer sees it."""

    user_id: str
    name: str
    rooms: tuple[str, ...] = field(default=())
    # OAuth scopes of the token (``chat/notify`` ...): what a service may do on the HTTP API.
    scopes: tuple[str, ...] = field(default=())
    # ``roles`` claim: "moderator" may edit, delete and moderate in every room it can use.
    roles: tuple[str, ...] = field(default=())
    # The token's ``exp`` (epoch seconds): the chat function closes the socket after it. Not
    # part of equality: two tokens of the same user name the same identity.
    exp: int | None = field(default=None, compare=False)

    @property
    def is_moderator(self) -> bool:
        return MODERATOR_ROLE in self.roles

    def to_context(self) -> dict[str, str]:
        context = {"userId": self.user_id, "name": self.name, "rooms": ",".join(self.rooms)}
        if self.scopes:
            context["scope"] = " ".join(self.scopes)
        if self.roles:
            context["roles"] = ",".join(self.roles)
        return context

    def to_socket_context(self) -> dict[str, str]:
        """The ``$connect`` context: ``to_context`` plus the token's ``exp``, which the chat
        function needs to close the socket when the token ends (``chatcore.sessions``)."""
        context = self.to_context()
        if self.exp is not None:
            context["exp"] = str(self.exp)
        return context

    @classmethod
    def from_context(cls, context: Mapping[str, Any] | None) -> Identity:
        """Read the identity from ``requestContext.authorizer``; raise ``AuthError`` when absent."""
        context = context or {}
        user_id = context.get("userId") or context.get("principalId")
        if not isinstance(user_id, str) or not user_id:
            raise AuthError("the request carries no authorizer identity")
        name = context.get("name")
        rooms = context.get("rooms") or ""
        return cls(
            user_id=user_id,
            name=name if isinstance(name, str) and name else user_id,
            rooms=tuple(r for r in str(rooms).split(",") if r),
            scopes=parse_scopes(context.get("scope")),
            roles=tuple(r for r in str(context.get("roles") or "").split(",") if r),
            exp=_int_or_none(context.get("exp")),
        )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _check_hs256_key(key: str | bytes) -> bytes:
    raw = key.encode("utf-8") if isinstance(key, str) else key
    if len(raw) < MIN_HS256_KEY_BYTES:
        # PyJWT only warns about short HMAC keys; a guessable key is a forged token.
        raise ConfigError(f"the HS256 key must be at least {MIN_HS256_KEY_BYTES} bytes")
    return raw


class TokenVerifier:
    """Verify tokens with one pinned algorithm; build it once per cold start and reuse it."""

    def __init__(
        self,
        *,
        algorithm: str,
        secret: str | bytes | None = None,
        jwks_client: jwt.PyJWKClient | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: int = LEEWAY_SECONDS,
    ) -> None:
        self.algorithm = algorithm
        self._issuer = issuer or None
        # A comma list: one app client for users, one per service (Cognito: their client ids).
        self._audiences = frozenset(a.strip() for a in (audience or "").split(",") if a.strip())
        self._leeway = leeway
        self._secret: bytes | None = None
        self._jwks: jwt.PyJWKClient | None = None
        if algorithm == "HS256":
            if secret is None:
                raise ConfigError("HS256 needs JWT_SECRET or JWT_SECRET_PARAMETER")
            self._secret = _check_hs256_key(secret)
        elif algorithm == "RS256":
            if jwks_client is None:
                import jwt

                if not jwks_url:
                    raise ConfigError("RS256 needs JWT_JWKS_URL")
                # Keys are cached for their lifespan, so a warm authorizer fetches the JWKS rarely.
                jwks_client = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)
            self._jwks = jwks_client
        else:
            raise ConfigError(f"unsupported JWT algorithm {algorithm!r}")

    def verify(self, token: str) -> Identity:
        if not token:
            raise AuthError("no token")
        # PyJWT (and cryptography under it) only where tokens are verified: the other functions
        # use Identity from this module and should not pay for it at cold start.
        import jwt

        try:
            key: Any
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
            else:
                key = self._secret
            claims = jwt.decode(
                token,
                key,
                algorithms=[self.algorithm],
                issuer=self._issuer,
                leeway=self._leeway,
                options={
                    "require": ["exp", "sub"],
                    # Checked below: PyJWT knows only "aud", and Cognito access tokens lack it.
                    "verify_aud": False,
                    "verify_iss": self._issuer is not None,
                },
            )
        except jwt.PyJWTError as exc:
            # The exception class names the failure (ExpiredSignatureError, ...) without the token.
            raise AuthError(f"invalid token: {type(exc).__name__}") from None
        if self._audiences and not _audience_matches(claims, self._audiences):
            raise AuthError("invalid token: InvalidAudienceError")
        return _identity(claims)


def _audience_matches(claims: Mapping[str, Any], audiences: frozenset[str]) -> bool:
    """``aud`` (a string or a list) names an audience; without ``aud``, ``client_id`` must."""
    aud = claims.get("aud")
    if aud is None:
        return claims.get("client_id") in audiences
    if isinstance(aud, str):
        return aud in audiences
    return isinstance(aud, list) and any(a in audiences for a in aud)


def parse_scopes(value: Any) -> tuple[str, ...]:
    """OAuth scopes from a ``scope`` claim ("a b"), a ``scp`` list, or the string API Gateway
    makes of a list claim ("[a b]")."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        text = str(value).strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        items = text.replace(",", " ").split()
    return tuple(dict.fromkeys(i for i in items if i))


def _claim_list(value: Any) -> Any:
    """A list claim as API Gateway's JWT authorizer passes it on: ``"[a b]"`` (or JSON)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return []
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
        except ValueError:
            return text[1:-1].split()
        return parsed if isinstance(parsed, list) else [parsed]
    return text.split(",")


def identity_from_claims(claims: Mapping[str, Any]) -> Identity:
    """The identity from claims the HTTP API's JWT authorizer already verified.

    API Gateway passes every claim as a string (a list becomes ``"[a b]"``); the same rules as
    ``TokenVerifier.verify`` then apply, so a token names the same user on both APIs.
    """
    plain = dict(claims)
    if "rooms" in plain:
        plain["rooms"] = _claim_list(plain["rooms"])
    return _identity(plain)


def _identity(claims: Mapping[str, Any]) -> Identity:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not USER_PATTERN.fullmatch(sub):
        raise AuthError("the token's sub is not a usable user id")
    name = (
        claims.get("name")
        or claims.get("preferred_username")
        or claims.get("cognito:username")
        or claims.get("username")
    )
    if not isinstance(name, str) or not name.strip():
        name = sub
    raw_rooms = claims.get("rooms") or []
    if not isinstance(raw_rooms, list):
        raise AuthError("the token's rooms claim must be a list")
    rooms = tuple(
        r
        for r in raw_rooms
        if isinstance(r, str) and r.startswith(PRIVATE_PREFIX) and ROOM_PATTERN.fullmatch(r)
    )
    scopes = parse_scopes(claims.get("scope")) or parse_scopes(claims.get("scp"))
    raw_roles = _claim_list(claims.get("roles") or [])
    # Only the roles this service knows; anything else in the claim means nothing here.
    roles = tuple(r for r in raw_roles if isinstance(r, str) and r in KNOWN_ROLES)
    return Identity(
        user_id=sub,
        name=name.strip()[:MAX_NAME_LENGTH],
        rooms=rooms,
        scopes=scopes,
        roles=roles,
        exp=_int_or_none(claims.get("exp")),
    )


def _normal_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def check_origin(origin: str | None, allowed: Collection[str]) -> None:
    """Raise ``AuthError`` when an ``Origin`` is sent and is not allowed (empty list = any)."""
    if not allowed or origin is None:
        return
    if _normal_origin(origin) not in {_normal_origin(a) for a in allowed}:
        raise AuthError("origin not allowed")


def build_policy(
    *, principal_id: str, effect: str, method_arn: str, context: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The REQUEST authorizer's answer: an IAM policy on ``methodArn`` plus the context."""
    if effect not in ("Allow", "Deny"):
        raise ValueError("effect is 'Allow' or 'Deny'")
    answer: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}
            ],
        },
    }
    if context:
        answer["context"] = dict(context)
    return answer


def mint_token(
    secret: str | bytes,
    *,
    sub: str,
    name: str | None = None,
    rooms: Collection[str] = (),
    ttl_seconds: int = 3600,
    issuer: str | None = None,
    audience: str | None = None,
    scopes: Collection[str] = (),
    roles: Collection[str] = (),
    now: float | None = None,
) -> str:
    """An HS256 development token, as the local stack and ``chat token`` hand out; ``scopes``
    become the OAuth ``scope`` claim a service token carries."""
    key = _check_hs256_key(secret)
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": sub, "iat": issued, "exp": issued + ttl_seconds}
    if name:
        claims["name"] = name
    if rooms:
        claims["rooms"] = list(rooms)
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    if scopes:
        claims["scope"] = " ".join(scopes)
    if roles:
        claims["roles"] = list(roles)
    import jwt

    return jwt.encode(claims, key, algorithm="HS256")
