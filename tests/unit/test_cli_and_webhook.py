"""Pure parts of `run` (argument split) and `listen` (signature, payload, dedupe)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from dbt_revsync import cli, webhook
from dbt_revsync.errors import UsageError


def test_run_arguments_shared_with_dbt_go_to_both_and_own_ones_stay_home() -> None:
    args, dbt_args = cli.split_run_args(
        ["build", "-s", "tag:crm", "--project-dir", "/p", "--target=prod", "--connections-file", "c.yml",
         "--state-schema=rs", "--full-refresh", "--log-format", "json", "--no-progress", "--target-path", "out"]
    )
    assert dbt_args == ["build", "-s", "tag:crm", "--project-dir", "/p", "--target", "prod", "--full-refresh",
                        "--log-format", "json", "--target-path", "out"]
    assert (args.project_dir, args.target, args.connections_file, args.state_schema) == ("/p", "prod", "c.yml", "rs")
    assert (args.log_format, args.no_progress, args.target_path) == ("json", True, "out")
    with pytest.raises(UsageError, match="needs a value"):
        cli.split_run_args(["build", "--connections-file"])


def test_signature_is_the_hex_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"eventType": "job.run.completed"}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert webhook.signature("s3cret", body) == expected
    assert webhook.verified("s3cret", body, expected) and webhook.verified("s3cret", body, f" {expected.upper()} ")
    assert not webhook.verified("s3cret", body, None) and not webhook.verified("s3cret", body, "")
    assert not webhook.verified("s3cret", body + b"\n", expected) and not webhook.verified("other", body, expected)


def completed(event_id: str, run_id: str = "7") -> bytes:
    return json.dumps({"eventId": event_id, "eventType": "job.run.completed", "data": {"runId": run_id, "jobId": "1", "runStatus": "Success"}}).encode()


def test_listener_accepts_once_refuses_unsigned_and_ignores_other_events() -> None:
    pushed: list[str] = []
    listener = webhook.Listener("s3cret", lambda run_id: pushed.append(run_id) or True, port=0)
    try:
        body = completed("wev_1")
        assert listener.accept(body, None)[0] == 401
        assert listener.accept(body, webhook.signature("s3cret", body)) == (202, {"accepted": "7"})
        assert listener.accept(body, webhook.signature("s3cret", body))[0] == 200  # a redelivery
        started = json.dumps({"eventId": "e", "eventType": "job.run.started", "data": {"runId": "7"}}).encode()
        assert listener.accept(started, webhook.signature("s3cret", started)) == (200, {"ignored": "job.run.started"})
        assert listener.accept(b"[]", webhook.signature("s3cret", b"[]"))[0] == 400
        assert listener.jobs.qsize() == 1 and pushed == []  # nothing runs until the worker does
    finally:
        listener.server.server_close()
