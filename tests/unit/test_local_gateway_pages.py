"""Plain GETs on the gateway port: static files, page config, dev tokens."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import jwt

from local.devtokens import DevTokenSettings, dev_token_settings, mint_dev_token
from local.gateway.pages import answer_get

SECRET = "a-local-only-secret-of-at-least-32-bytes"


def mint(user: str, name: str | None, rooms: Sequence[str], scopes: Sequence[str] = ()) -> str:
    settings = DevTokenSettings(SECRET, "iss", "aud")
    return mint_dev_token(settings, user=user, name=name, rooms=rooms, scopes=scopes)


def test_static_files_and_nothing_outside(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<html>hi</html>")
    (tmp_path / "app.js").write_text("let x;")
    (tmp_path.parent / "secret.txt").write_text("no")
    page = answer_get("/", {}, static_dir=tmp_path, config={}, mint=None)
    assert (page.status, page.body) == (200, b"<html>hi</html>")
    assert page.content_type.startswith("text/html")
    script = answer_get("/app.js", {}, static_dir=tmp_path, config={}, mint=None)
    assert script.status == 200 and "javascript" in script.content_type
    for path in ("/../secret.txt", "/./../secret.txt", "/missing.css"):
        assert answer_get(path, {}, static_dir=tmp_path, config={}, mint=None).status == 404
    assert answer_get("/", {}, static_dir=None, config={}, mint=None).status == 404


def test_config_endpoint() -> None:
    answer = answer_get(
        "/_local/config", {}, static_dir=None, config={"wsUrl": "ws://x/dev"}, mint=None
    )
    assert json.loads(answer.body) == {"wsUrl": "ws://x/dev"}


def test_token_endpoint_mints_what_the_authorizer_checks() -> None:
    query = {"user": "ada", "name": "Ada", "rooms": "private:a,private:b"}
    answer = answer_get("/_local/token", query, static_dir=None, config={}, mint=mint)
    token = json.loads(answer.body)["token"]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="aud", issuer="iss")
    assert claims["sub"] == "ada" and claims["name"] == "Ada"
    assert claims["rooms"] == ["private:a", "private:b"]
    assert claims["exp"] - claims["iat"] == 3600


def test_token_endpoint_mints_service_scopes_for_the_http_api() -> None:
    query = {"user": "billing", "scope": "chat/notify chat/admin"}
    answer = json.loads(
        answer_get("/_local/token", query, static_dir=None, config={}, mint=mint).body
    )
    claims = jwt.decode(answer["token"], SECRET, algorithms=["HS256"], audience="aud")
    assert claims["scope"] == "chat/notify chat/admin"
    assert answer["scope"] == "chat/notify chat/admin"
    # Without scope= a token has no scope claim at all, as before.
    plain = answer_get("/_local/token", {"user": "ada"}, static_dir=None, config={}, mint=mint)
    assert "scope" not in jwt.decode(
        json.loads(plain.body)["token"], SECRET, ["HS256"], audience="aud"
    )


def test_token_endpoint_needs_a_user_and_a_minter() -> None:
    assert answer_get("/_local/token", {}, static_dir=None, config={}, mint=mint).status == 400
    missing = answer_get("/_local/token", {"user": "a"}, static_dir=None, config={}, mint=None)
    assert missing.status == 404
    assert b"local.yaml" in missing.body


def test_dev_token_settings_follow_local_yaml() -> None:
    ssm = {"/chat/local/jwt-secret": SECRET}
    params = {"JwtSecretParameterName": "/chat/local/jwt-secret", "JwtIssuer": "chat-local"}
    from_param = dev_token_settings({}, ssm, params)
    assert from_param == DevTokenSettings(SECRET, "chat-local", None, 3600)
    explicit = dev_token_settings(
        {"secret_parameter": "/other", "audience": "chat", "ttl_seconds": 60},
        {"/other": SECRET},
        params,
    )
    assert explicit == DevTokenSettings(SECRET, "chat-local", "chat", 60)
    assert dev_token_settings({}, {}, params) is None


def test_live_view_page_and_its_stats() -> None:
    page = answer_get("/_local/", {}, static_dir=None, config={}, mint=None)
    assert page.status == 200 and page.content_type.startswith("text/html")
    assert b"/_local/stats" in page.body
    assert answer_get("/_local", {}, static_dir=None, config={}, mint=None).body == page.body
    stats = answer_get(
        "/_local/stats", {}, static_dir=None, config={}, mint=None, stats=lambda: {"at": 1.0}
    )
    assert (stats.status, json.loads(stats.body)) == (200, {"at": 1.0})
    missing = answer_get("/_local/stats", {}, static_dir=None, config={}, mint=None)
    assert missing.status == 404 and "live figures" in json.loads(missing.body)["message"]
