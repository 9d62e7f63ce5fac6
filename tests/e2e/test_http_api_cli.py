"""``python -m local`` with a template that has only HTTP APIs: banner, requests, clean stop."""

from __future__ import annotations

import signal
import urllib.parse

from local.cli import build_parser
from local.testing import http_request
from tests.e2e.harness import TIMEOUT
from tests.e2e.test_cli import lines_of, run_local, wait_for_line
from tests.e2e.test_http_api import APP


def test_the_http_port_defaults_to_3003() -> None:
    assert build_parser().parse_args([]).http_port == 3003


def test_the_banner_names_the_http_api_and_it_answers_until_ctrl_c() -> None:
    proc = run_local(
        "--template",
        str(APP / "template.yaml"),
        "--config",
        str(APP / "local.yaml"),
        "--http-port",
        "0",
        "--no-prewarm",
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        out = lines_of(proc.stdout)
        seen: list[str] = []
        url = wait_for_line(out, r"^  HTTP API\s+(http://127\.0\.0\.1:\d+)\s*$", seen).group(1)
        issuer = wait_for_line(out, r"OIDC issuer\s+(http://\S+/_local/oidc)", seen).group(1)
        token_url = wait_for_line(out, r"HTTP tokens\s+(http://\S+)", seen).group(1)
        wait_for_line(out, r"Ctrl-C", seen)
        assert not any("WebSocket" in line for line in seen), seen
        assert issuer == url + "/_local/oidc"

        minted = http_request(token_url.replace("NAME", "ada").replace("SCOPES", "x"))
        token = minted.json()["token"]
        me = http_request(url + "/me", token=token, timeout=3 * TIMEOUT)
        assert me.status == 200, me
        claims = me.json()["requestContext"]["authorizer"]["jwt"]["claims"]
        assert (claims["sub"], claims["scope"]) == ("ada", "x")
        assert http_request(url + "/me", timeout=TIMEOUT).status == 401
        assert urllib.parse.urlsplit(url).port != 3003

        proc.send_signal(signal.SIGINT)
        assert proc.wait(6 * TIMEOUT) == 0
        log = proc.stderr.read()
        assert "http GET /me 200" in log and "Traceback" not in log
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_the_projects_template_serves_both_apis_with_one_token_url() -> None:
    # What `make run` starts (template.yaml and local.yaml from the project root), on free ports.
    proc = run_local(
        *("--port", "0", "--management-port", "0", "--https-port", "0", "--http-port", "0"),
        "--no-prewarm",
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        out = lines_of(proc.stdout)
        seen: list[str] = []
        ws_url = wait_for_line(out, r"^  WebSocket\s+(ws://\S+)", seen).group(1)
        http_url = wait_for_line(out, r"^  HTTP API\s+(http://127\.0\.0\.1:\d+)\s*$", seen).group(1)
        token_url = wait_for_line(out, r"more at (http://\S+/_local/token)\?user=NAME", seen).group(
            1
        )
        wait_for_line(out, r"Ctrl-C", seen)
        page = "http://" + urllib.parse.urlsplit(ws_url).netloc
        assert http_request(page + "/_local/config").json()["httpUrl"] == http_url

        # The WebSocket port's token URL gives a service token the HTTP API accepts.
        minted = http_request(token_url + "?user=billing&scope=chat/notify").json()
        assert minted["scope"] == "chat/notify"
        sent = http_request(
            http_url + "/notifications",
            "POST",
            token=minted["token"],
            json_body={"targets": {"users": ["nobody"]}, "payload": {"n": 1}},
            timeout=3 * TIMEOUT,
        )
        assert sent.status == 202, sent
        user = http_request(token_url + "?user=ada").json()["token"]
        me = http_request(http_url + "/me", token=user, timeout=3 * TIMEOUT)
        assert (me.status, me.json()["id"]) == (200, "ada")

        proc.send_signal(signal.SIGINT)
        assert proc.wait(6 * TIMEOUT) == 0
        log = proc.stderr.read()
        assert "http POST /notifications 202" in log and "Traceback" not in log
        assert minted["token"] not in log and user not in log
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
