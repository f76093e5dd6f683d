"""Pure parts of `run` (argument split) and `listen` (signature, payload, dedupe)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from dbt_revsync import cli, webhook
from dbt_revsync.errors import UsageError
from dbt_revsync.listen_ledger import Ledger


def test_run_arguments_shared_with_dbt_go_to_both_and_own_ones_stay_home() -> None:
    args, dbt_args = cli.split_run_args(
        [
            "build",
            "-s",
            "tag:crm",
            "--project-dir",
            "/p",
            "--target=prod",
            "--connections-file",
            "c.yml",
            "--state-schema=rs",
            "--full-refresh",
            "--log-format",
            "json",
            "--no-progress",
            "--target-path",
            "out",
        ]
    )
    assert dbt_args == [
        "build",
        "-s",
        "tag:crm",
        "--project-dir",
        "/p",
        "--target",
        "prod",
        "--full-refresh",
        "--log-format",
        "json",
        "--target-path",
        "out",
    ]
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


def completed(
    event_id: str,
    run_id: str = "7",
    *,
    job: str = "1",
    environment: str = "50",
    code: int | None = 10,
    status: str = "Success",
    event_type: str = "job.run.completed",
    account: int = 70403,
) -> bytes:
    data = {"runId": run_id, "jobId": job, "environmentId": environment, "runStatus": status}
    if code is not None:
        data["runStatusCode"] = code
    return json.dumps({"accountId": account, "eventId": event_id, "eventType": event_type, "data": data}).encode()


def listener_at(tmp_path: Path, **policy: object) -> webhook.Listener:
    rules = webhook.ListenPolicy("70403", **{"job_ids": frozenset({"1"}), **policy})  # type: ignore[arg-type]
    ledger = Ledger(tmp_path / "journal.jsonl", "revsync")
    return webhook.Listener("s3cret", rules, ledger, lambda run_id: True, port=0)


def answer(listener: webhook.Listener, body: bytes) -> tuple[int, dict[str, object]]:
    return listener.accept(body, webhook.signature("s3cret", body))


def test_listener_accepts_once_refuses_unsigned_and_ignores_other_events(tmp_path: Path) -> None:
    listener = listener_at(tmp_path)
    try:
        body = completed("wev_1")
        assert listener.accept(body, None)[0] == 401
        assert answer(listener, body) == (202, {"accepted": "7"})
        assert answer(listener, body)[0] == 200  # a redelivery
        started = completed("e", event_type="job.run.started", code=3, status="Running")
        assert answer(listener, started) == (200, {"ignored": "event job.run.started", "run_id": "7"})
        assert answer(listener, b"[]")[0] == 400
        assert listener.ledger.waiting() == 1  # nothing runs until the worker does
        assert [json.loads(line)["run_id"] for line in (tmp_path / "journal.jsonl").read_text().splitlines()] == ["7"]
    finally:
        listener.server.server_close()


def test_a_ci_jobs_run_is_not_pushed(tmp_path: Path) -> None:
    listener = listener_at(tmp_path, job_ids=frozenset({"1"}))
    try:
        ci_run = completed("wev_ci", "8", job="99", environment="50")
        assert answer(listener, ci_run) == (200, {"ignored": "job 99 is not in the job allowlist", "run_id": "8"})
        assert listener.ledger.waiting() == 0 and not (tmp_path / "journal.jsonl").exists()
    finally:
        listener.server.server_close()
    by_environment = listener_at(tmp_path, job_ids=frozenset(), environment_ids=frozenset({"50"}))
    try:
        assert (
            answer(by_environment, completed("a", "9", job="99", environment="60"))[1]["ignored"]
            == "environment 60 is not in the environment allowlist"
        )
        assert answer(by_environment, completed("b", "10", job="99", environment="50"))[0] == 202
        other_account = completed("c", "11", account=1)
        assert answer(by_environment, other_account)[1]["ignored"] == "account 1 is not this listener's"
    finally:
        by_environment.server.server_close()
    with pytest.raises(ValueError, match="allowlist"):
        webhook.ListenPolicy("70403")


def test_a_cancelled_run_is_never_pushed_and_an_errored_one_only_when_asked(tmp_path: Path) -> None:
    listener = listener_at(tmp_path)
    try:
        assert (
            answer(listener, completed("c", "20", code=30, status="Cancelled"))[1]["ignored"]
            == "run status Cancelled is not pushed"
        )
        assert (
            answer(listener, completed("e", "21", code=20, status="Errored"))[1]["ignored"]
            == "run status Errored is not pushed"
        )
        assert (
            answer(listener, completed("w", "22", code=None, status="Cancelled"))[0] == 200
        )  # no code: the status word decides
        assert listener.ledger.waiting() == 0
    finally:
        listener.server.server_close()
    errored_too = listener_at(tmp_path, push_errored=True)
    try:
        assert answer(errored_too, completed("e", "21", code=20, status="Errored"))[0] == 202
        assert answer(errored_too, completed("c", "20", code=30, status="Cancelled"))[0] == 200
    finally:
        errored_too.server.server_close()


def test_runs_are_deduplicated_on_run_id_not_event_id(tmp_path: Path) -> None:
    listener = listener_at(tmp_path)
    try:
        assert answer(listener, completed("wev_first", "31"))[0] == 202
        again = answer(listener, completed("wev_resent", "31"))  # the same run under another event id
        assert again == (200, {"duplicate": "31", "event_id": "wev_resent"})
        assert answer(listener, completed("wev_first", "32"))[0] == 202  # a new run, even under a seen event id
        assert listener.ledger.waiting() == 2
    finally:
        listener.server.server_close()


def test_end_of_input_at_a_question_answers_no(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dbt_revsync import cli

    def ctrl_d(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", ctrl_d)
    assert cli.ask("Forget these? [y/N] ") == ""
    monkeypatch.setattr("builtins.input", lambda prompt: " Yes ")
    assert cli.ask("Forget these? [y/N] ") == "yes"
