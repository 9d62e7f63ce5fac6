"""The local CA, and the CLI's refusals that need no stack."""

from __future__ import annotations

import io
import ssl
from pathlib import Path

import pytest

from local.cli import build_parser, main
from local.tls import ensure_certificates


def test_certificate_verifies_for_127_0_0_1_and_is_reused(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    client = files.client_context()
    server = files.server_context()
    # A TLS handshake in memory: the client verifies the server's certificate for 127.0.0.1.
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname="127.0.0.1")
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (c, s):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    assert c.getpeercert()["subjectAltName"][0] == ("IP Address", "127.0.0.1")
    first = files.cert.read_bytes()
    again = ensure_certificates(tmp_path)
    assert again.cert.read_bytes() == first  # made once, reused
    bundle = again.bundle.read_text()
    assert files.ca_cert.read_text() in bundle and bundle.count("BEGIN CERTIFICATE") > 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--parameter-overrides", "NoEquals"], "is not KEY=VALUE"),
        (["--config", "/nonexistent/local.yaml"], "file not found"),
        (["--static", "/nonexistent/dir"], "not a directory"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_defaults_are_the_documented_ones() -> None:
    args = build_parser().parse_args([])
    assert (args.port, args.management_port, args.https_port) == (3001, 3002, 3443)
    assert (args.idle_timeout, args.max_duration) == (600.0, 7200.0)
    assert args.template == "template.yaml" and args.log_format == "text"
