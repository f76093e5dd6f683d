"""Hostile answers and bad input, over a scripted transport and on config text alone:
bounded holds, which 429s slow the rate, header values no request can carry, every form
of a secret redacted, number settings bounded, the connections file's encoding, userinfo
in a base_url, and the command line's last-resort error path."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from dbt_revsync import cli, logs
from dbt_revsync.connections import check_base_url, load_connections, parse_connection
from dbt_revsync.delivery import RateLimiter, RetryPolicy
from dbt_revsync.destinations import catalog
from dbt_revsync.errors import FatalDestinationError, TransientDestinationError
from tests.unit.http_fakes import URL, Clock, Script, client

KEY = "fd-9c1e4f0b7a2d"


# ---- 10: every hold is bounded by the retry budget ---------------------------------------------


def test_a_long_retry_after_holds_the_connection_no_longer_than_the_retry_budget() -> None:
    http = client(Script((429, {"Retry-After": "36000"}, b"")), [], policy=RetryPolicy(max_attempts=5, max_seconds=30))
    with pytest.raises(TransientDestinationError):
        http.request("GET", URL)
    assert http.limiter.not_before <= http.clock() + 30


def test_a_far_rate_limit_reset_holds_no_longer_than_the_retry_budget() -> None:
    far = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "7200"}
    http = client(Script((200, far, b"")), [], policy=RetryPolicy(max_attempts=3, max_seconds=10))
    http.request("GET", URL)
    assert http.limiter.not_before <= 10
    failing = client(Script((429, far, b"")), [], policy=RetryPolicy(max_attempts=3, max_seconds=10))
    with pytest.raises(TransientDestinationError):
        failing.request("GET", URL)
    assert failing.limiter.not_before <= failing.clock() + 10


# ---- 11: only 429s that track our own pace slow the rate ---------------------------------------


def storm(every: int, retry_after: str | None) -> Script:
    """Every ``every``-th answer a 429 (with ``Retry-After`` when given), the rest 200."""
    throttled = (429, {"Retry-After": retry_after} if retry_after else {}, b"")
    return Script(*([(200, {}, b"")] * (every - 1) + [throttled]) * 40)


def test_429s_with_retry_after_drawn_by_someone_else_do_not_slow_the_rate() -> None:
    sleeps: list[float] = []
    http = client(storm(9, "1"), sleeps, rate_limit=10.0)
    for _ in range(60):
        http.request("POST", URL, json={})
    assert http.limiter.rate == 10.0
    assert sleeps.count(max(sleeps)) >= 1 and max(sleeps) >= 1  # each Retry-After was waited


def test_429s_without_retry_after_slow_the_rate() -> None:
    http = client(Script((429, {}, b""), (200, {}, b"")), [], rate_limit=10.0)
    http.request("POST", URL, json={})
    assert http.limiter.rate < 10.0


def test_a_429_right_after_a_wait_slows_the_rate() -> None:
    throttled = (429, {"Retry-After": "1"}, b"")
    http = client(Script(throttled, throttled, (200, {}, b"")), [], rate_limit=10.0)
    http.request("POST", URL, json={})
    assert http.limiter.rate == pytest.approx(5.0 * 1.05)  # the second 429, sent after the wait, halved it


def test_concurrent_429s_lower_the_rate_once_per_round() -> None:
    clock = Clock()
    limiter = RateLimiter(8.0, clock=clock, sleep=clock.sleep)
    sent = clock()
    clock.now += 0.5
    for _ in range(4):  # four requests in flight together, all answered 429
        limiter.slow_down(sent)
    assert limiter.rate == 4.0
    limiter.slow_down(clock())  # one sent after the decrease counts again
    assert limiter.rate == 2.0


# ---- 13: values no request can carry; no secret in any output ----------------------------------


@pytest.mark.parametrize("value", [f"{KEY}\n", f"{KEY}\r\nX-Injected: 1", f"{KEY}\u2019"])
def test_a_header_value_no_request_can_carry_is_fatal_names_the_header_and_is_never_sent(value: str) -> None:
    script = Script((200, {}, b""))
    http = client(script, [])
    with pytest.raises(FatalDestinationError) as raised:
        http.request("GET", URL, headers={"Authorization": f"Token token={value}"})
    assert "Authorization header" in str(raised.value) and KEY not in str(raised.value)
    assert script.calls == []


@pytest.mark.parametrize("value, problem", [(f"{KEY}\n", "line break"), (f"{KEY}\u2019", "not latin-1")])
def test_a_bad_secret_value_is_a_config_error_naming_connection_and_key_never_the_value(
    tmp_path: Path, value: str, problem: str
) -> None:
    path = tmp_path / "revsync.yml"
    path.write_text(
        "connections:\n  fs:\n    type: freshsales\n    domain: acme\n    api_key: \"{{ env_var('K') }}\"\n",
        encoding="utf-8",
    )
    conns, issues = load_connections(path, {"K": value}, destinations=catalog())
    assert conns == {} and len(issues) == 1
    text = str(issues[0])
    assert "connection 'fs'" in text and "connections.fs.api_key" in text and problem in text
    assert KEY not in text


def test_the_last_resort_error_path_prints_no_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.REDACTOR.add([KEY])

    def crash(args: Any) -> int:
        raise ValueError(f"Invalid header value b'Token token={KEY}\\n'")

    monkeypatch.setitem(cli.HANDLERS, "status", crash)
    code = cli.main(["status"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_FAILED
    assert "unexpected ValueError" in err and "Traceback" in err and KEY not in err


# ---- 14: every derived form of a secret is redacted ----------------------------------------------


def test_every_derived_form_of_a_secret_is_redacted() -> None:
    basic_x = base64.b64encode(f"{KEY}:X".encode()).decode()
    basic_api = base64.b64encode(f"api:{KEY}".encode()).decode()
    odd = "s3cr/t+v@lue=9"
    echoed = (
        f"Authorization: Basic {basic_x} / Basic {basic_api} / Bearer {KEY} / "
        f"https://x/hooks/{quote(odd, safe='')}?t={quote(odd)} / repr {odd!r}"
    )
    text = logs.redact(echoed, logs.secret_forms(KEY) | logs.secret_forms(odd))
    for form in (KEY, basic_x, basic_api, odd, quote(odd, safe=""), quote(odd)):
        assert form not in text
    assert "Basic ***" in text and "Bearer ***" in text


def test_secrets_in_an_http_connections_url_are_secrets_in_every_form() -> None:
    raw = {"type": "http", "url": "https://hooks.example.com/hooks/{{ env_var('HOOK') }}/{object}"}
    conn, issues = parse_connection("hook", raw, "revsync.yml", {"HOOK": "hk/9f3b2c71+d4e8"}, destinations=catalog())
    assert issues == [] and conn is not None
    assert {"hk/9f3b2c71+d4e8", "hk%2F9f3b2c71%2Bd4e8"} <= conn.secrets


def test_a_connections_secrets_hold_the_basic_pair_its_destination_sends() -> None:
    conn, issues = parse_connection(
        "fd", {"type": "freshdesk", "api_key": KEY, "domain": "acme"}, "revsync.yml", {}, destinations=catalog()
    )
    assert issues == [] and conn is not None
    assert base64.b64encode(f"{KEY}:X".encode()).decode() in conn.secrets


# ---- 17: bounds on numbers, the file's encoding, the base_url's real host ----------------------


@pytest.mark.parametrize(
    "key, value",
    [
        ("timeout", math.nan),
        ("timeout", math.inf),
        ("timeout", ".nan"),
        ("timeout", 1e9),
        ("max_concurrency", 100_000_000),
        ("max_concurrency", 2.5),
        ("max_concurrency", True),
        ("rate_limit", -math.inf),
        ("max_retry_time", math.inf),
        ("max_retries", 10**12),
        ("breaker_threshold", "many"),
    ],
)
def test_every_number_setting_is_bounded_and_named_when_wrong(key: str, value: Any) -> None:
    raw = {"type": "freshsales", "api_key": KEY, "domain": "acme", key: value}
    conn, issues = parse_connection("fs", raw, "revsync.yml", {}, destinations=catalog())
    assert conn is None and [i.key for i in issues] == [f"connections.fs.{key}"]
    assert "connection 'fs'" in str(issues[0])


def test_sane_numbers_are_kept() -> None:
    raw = {
        "type": "freshsales",
        "api_key": KEY,
        "domain": "acme",
        "timeout": "2.5",
        "max_concurrency": 8.0,
        "max_retries": 0,
    }
    conn, issues = parse_connection("fs", raw, "revsync.yml", {}, destinations=catalog())
    assert issues == [] and conn is not None
    assert (conn.timeout, conn.max_concurrency, conn.max_retries) == (2.5, 8, 0)
    assert isinstance(conn.max_concurrency, int)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "latin-1"])
def test_a_connections_file_that_is_not_utf8_is_a_clear_error_naming_the_file(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "revsync.yml"
    path.write_bytes("connections:\n  fs:\n    type: freshsales\n    api_key: clé-secrète\n".encode(encoding))
    conns, issues = load_connections(path, {}, destinations=catalog())
    if encoding == "latin-1":
        assert issues and "not UTF-8" in str(issues[0]) and str(path) in str(issues[0])
        return
    assert conns == {} and len(issues) == 1 and "not UTF-8" in str(issues[0]) and str(path) in str(issues[0])


def test_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "revsync.yml"
    path.write_bytes(
        "connections:\n  fs:\n    type: freshsales\n    domain: acme\n    api_key: k1234567\n".encode("utf-8-sig")
    )
    conns, issues = load_connections(path, {}, destinations=catalog())
    assert issues == [] and "fs" in conns


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:80@203.0.113.9/",
        "http://127.0.0.1@evil.example.com/x",
        "https://user:pass@crm.example.com/api",
        "http://localhost\\@203.0.113.9/",
        "http://127.0.0.1:99999/x",
        "http://127.0.0.1 .evil.com/",
    ],
)
def test_a_base_url_with_userinfo_or_a_disguised_host_is_refused(url: str) -> None:
    assert check_base_url(url) != []


def test_a_base_url_error_never_repeats_the_url() -> None:
    problems = check_base_url(f"https://api:{KEY}@crm.example.com/") + check_base_url(f"ftp://{KEY}.example.com/")
    assert problems and not any(KEY in p for p in problems)
