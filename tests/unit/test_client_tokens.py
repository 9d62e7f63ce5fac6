"""Dev tokens: what they contain, and where the secret comes from."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from client.tokens import TokenError, load_dev_settings, mint_token

SECRET = "a-dev-secret-that-is-long-enough-0123"


def decode(token: str, secret: str = SECRET, **kwargs: str) -> dict[str, object]:
    return jwt.decode(token, secret, algorithms=["HS256"], **kwargs)  # type: ignore[arg-type]


def test_minted_token_carries_user_name_rooms_and_expiry(tmp_path: Path) -> None:
    settings = load_dev_settings(environ={}, cwd=tmp_path, secret=SECRET)
    token = mint_token(
        user="alice", name="Alice A.", rooms=["private:ops", "team"], settings=settings, now=1000
    )
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["sub"] == "alice"
    assert claims["name"] == "Alice A."
    assert claims["rooms"] == ["private:ops", "private:team"]
    assert claims["exp"] > claims["iat"] == 1000


def test_issuer_and_audience_are_included_when_configured(tmp_path: Path) -> None:
    settings = load_dev_settings(
        environ={"CHAT_JWT_ISSUER": "chat-local", "CHAT_JWT_AUDIENCE": "chat"},
        cwd=tmp_path,
        secret=SECRET,
    )
    claims = decode(mint_token(user="bob", settings=settings), issuer="chat-local", audience="chat")
    assert claims["sub"] == "bob"


def test_secret_precedence_flag_then_environment_then_local_yaml(tmp_path: Path) -> None:
    (tmp_path / "local.yaml").write_text(
        "parameter_overrides:\n"
        "  JwtSecretParameterName: /chat/dev/jwt-secret\n"
        "  JwtIssuer: from-yaml\n"
        "ssm_parameters:\n"
        "  /chat/dev/jwt-secret: yaml-secret-that-is-long-enough-0123456\n"
    )
    nested = tmp_path / "sub" / "dir"
    nested.mkdir(parents=True)
    from_yaml = load_dev_settings(environ={}, cwd=nested)
    assert from_yaml.secret == "yaml-secret-that-is-long-enough-0123456"
    assert from_yaml.issuer == "from-yaml"
    from_env = load_dev_settings(environ={"CHAT_JWT_SECRET": SECRET}, cwd=nested)
    assert from_env.secret == SECRET
    from_flag = load_dev_settings(
        environ={"CHAT_JWT_SECRET": SECRET}, cwd=nested, secret="flag-secret-long-enough-0123456789"
    )
    assert from_flag.secret == "flag-secret-long-enough-0123456789"


def test_no_secret_anywhere_is_a_clear_error(tmp_path: Path) -> None:
    settings = load_dev_settings(environ={}, cwd=tmp_path)
    with pytest.raises(TokenError, match="CHAT_JWT_SECRET"):
        mint_token(user="alice", settings=settings)


def test_short_secret_is_refused_like_the_authorizer_does(tmp_path: Path) -> None:
    settings = load_dev_settings(environ={}, cwd=tmp_path, secret="short")
    with pytest.raises(TokenError, match="32 bytes"):
        mint_token(user="alice", settings=settings)
