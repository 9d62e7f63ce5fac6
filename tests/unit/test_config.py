from __future__ import annotations

import pytest

from chatcore.config import Config, ConfigError


def test_defaults_match_the_documented_ones() -> None:
    config = Config.from_env({})
    assert (config.message_retention_days, config.connection_ttl_seconds) == (30, 7200)
    assert (config.max_text_length, config.max_room_length, config.history_page_limit) == (
        4000,
        64,
        100,
    )
    assert (config.send_rate_per_second, config.fanout_concurrency) == (20, 32)
    assert config.fanout_chunk_size == 500
    assert config.jwt_algorithm == "HS256"
    assert config.allowed_origins == ()


def test_every_variable_is_read() -> None:
    env = {
        "CONNECTIONS_TABLE": "conns",
        "MESSAGES_TABLE": "msgs",
        "FANOUT_QUEUE_URL": "http://q",
        "MANAGEMENT_ENDPOINT": "https://api.example/dev/",
        "JWT_ALGORITHM": "rs256",
        "JWT_SECRET_PARAMETER": "/chat/jwt",
        "JWT_SECRET": " keep spaces ",
        "JWT_JWKS_URL": "https://jwks",
        "JWT_ISSUER": "iss",
        "JWT_AUDIENCE": "aud",
        "ALLOWED_ORIGINS": "https://a.example, https://b.example/ ,",
        "MESSAGE_RETENTION_DAYS": "7",
        "CONNECTION_TTL_SECONDS": "60",
        "MAX_TEXT_LENGTH": "10",
        "MAX_ROOM_LENGTH": "20",
        "HISTORY_PAGE_LIMIT": "5",
        "SEND_RATE_PER_SECOND": "2",
        "FANOUT_CONCURRENCY": "8",
        "FANOUT_CHUNK_SIZE": "50",
    }
    config = Config.from_env(env)
    assert config.connections_table == "conns" and config.messages_table == "msgs"
    assert config.management_endpoint == "https://api.example/dev"
    assert config.jwt_algorithm == "RS256"
    assert config.jwt_secret == " keep spaces "
    assert config.allowed_origins == ("https://a.example", "https://b.example")
    assert (config.max_text_length, config.fanout_chunk_size) == (10, 50)


def test_explicit_arguments_beat_variables() -> None:
    config = Config.from_env({"MAX_TEXT_LENGTH": "10"}, max_text_length=99)
    assert config.max_text_length == 99
    with pytest.raises(TypeError):
        Config.from_env({}, no_such_option=1)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAX_TEXT_LENGTH", "abc"),
        ("MAX_TEXT_LENGTH", "0"),
        ("FANOUT_CHUNK_SIZE", "-5"),
        ("JWT_ALGORITHM", "none"),
        ("JWT_ALGORITHM", "HS512"),
    ],
)
def test_invalid_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Config.from_env({variable: value})


def test_invalid_explicit_argument_is_refused() -> None:
    with pytest.raises(ConfigError):
        Config.from_env({}, fanout_concurrency=0)


def test_text_limit_must_fit_a_128_kb_post() -> None:
    assert Config.from_env({"MAX_TEXT_LENGTH": "32000"}).max_text_length == 32000
    with pytest.raises(ConfigError, match="MAX_TEXT_LENGTH"):
        Config.from_env({"MAX_TEXT_LENGTH": "32001"})


def test_attachment_settings_are_read_and_checked() -> None:
    config = Config.from_env(
        {
            "ATTACHMENTS_BUCKET": " files ",
            "MAX_ATTACHMENT_BYTES": "1048576",
            "ATTACHMENT_TYPES": "image/*, Text/Plain,",
            "UPLOAD_URL_SECONDS": "120",
        }
    )
    assert config.attachments_bucket == "files"
    assert config.max_attachment_bytes == 1048576
    assert config.attachment_types == ("image/*", "text/plain")
    assert (config.upload_url_seconds, config.download_url_seconds) == (120, 300)
    assert "image/png" in Config.from_env({}).attachment_types
    with pytest.raises(ConfigError, match="MAX_ATTACHMENT_BYTES"):
        Config.from_env({"MAX_ATTACHMENT_BYTES": "0"})
