"""dbt Cloud: `push --dbt-cloud-run` reads a run's artifacts from the Admin API v2, and
`listen` pushes what a run built when dbt Cloud's signed job-run-completed webhook arrives."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dbt_revsync import commands, webhook
from dbt_revsync.config import Settings
from tests.integration.conftest import Project, _env
from tests.integration.dbt_cloud_standin import DbtCloudStandIn

pytestmark = pytest.mark.integration

ACCOUNT, TOKEN, SECRET = "70403", "dbtc_standin-service-token", "webhook-secret-token-0123"
BLOCK = {"destination": "freshsales", "object": "sales_accounts", "primary_key": "account_id", "fields": {"name": "name"}}


@pytest.fixture
def cloud(project: Project) -> Iterator[DbtCloudStandIn]:
    """A dbt Cloud stand-in whose run 4242 is a `dbt build` of the project that built
    `pushed` but not `skipped`; the project's own target/ then holds no run results."""
    project.seed("raw", ["account_id", "name"], [[1, "One"], [2, "Two"]])
    project.model("pushed", "select * from {{ ref('raw') }}", BLOCK)
    project.model("skipped", "select account_id + 100 as account_id, name from {{ ref('raw') }}", BLOCK)
    project.dbt("build", "--select", "raw", "pushed")  # the cloud run: its run_results name these nodes
    run_dir = project.root.parent / "cloud_run_4242"
    run_dir.mkdir()
    for name in ("manifest.json", "run_results.json"):
        shutil.copy(project.root / "target" / name, run_dir / name)
    (project.root / "target" / "run_results.json").unlink()
    project.env.update({"DBT_CLOUD_ACCOUNT_ID": ACCOUNT, "DBT_CLOUD_API_TOKEN": TOKEN, "DBT_CLOUD_WEBHOOK_SECRET": SECRET})
    with DbtCloudStandIn(ACCOUNT, TOKEN) as standin:
        standin.add_run("4242", run_dir)
        project.env["DBT_CLOUD_API_URL"] = standin.url
        yield standin


def names(project: Project) -> list[str]:
    return sorted(r["name"] for r in project.sandbox.emulator("freshsales").records("sales_accounts"))


def test_push_takes_a_dbt_cloud_runs_artifacts(project: Project, cloud: DbtCloudStandIn) -> None:
    assert project.push().code == 2  # no local run results: the plain form has nothing to go by
    result = project.push("--dbt-cloud-run", "4242")
    assert result.code == 0, result.err
    assert names(project) == ["One", "Two"] and "pushed -> freshsales" in result.out and "skipped ->" not in result.out
    assert [path.rsplit("/", 1)[-1] for path, status in cloud.requests] == ["manifest.json", "run_results.json"]
    assert all(f"/accounts/{ACCOUNT}/runs/4242/artifacts/" in path for path, _ in cloud.requests)
    unknown = project.push("--dbt-cloud-run", "999")
    assert unknown.code == 2 and "dbt Cloud answered 404 for manifest.json of run 999" in unknown.err
    project.env["DBT_CLOUD_API_TOKEN"] = "dbtc_wrong-token"
    refused = project.push("--dbt-cloud-run", "4242")
    assert refused.code == 2 and "dbt Cloud refused manifest.json of run 4242" in refused.err
    assert "dbtc_wrong-token" not in refused.err + refused.out
    del project.env["DBT_CLOUD_ACCOUNT_ID"]
    with _env({"DBT_CLOUD_ACCOUNT_ID": ""}):
        missing = project.push("--dbt-cloud-run", "4242")
    assert missing.code == 2 and "DBT_CLOUD_ACCOUNT_ID is not set" in missing.err


def event(event_type: str, run_id: str, event_id: str) -> bytes:
    payload = {
        "accountId": int(ACCOUNT), "eventId": event_id, "timestamp": "2026-01-31T19:29:35.789265936Z",
        "eventType": event_type, "webhookName": "revsync",
        "data": {"jobId": "123", "jobName": "Daily build", "runId": run_id, "environmentId": "1234",
                 "environmentName": "Production", "runStatus": "Success", "runStatusMessage": "None"},
    }
    return json.dumps(payload).encode()


def post(url: str, body: bytes, authorization: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json", **({"Authorization": authorization} if authorization is not None else {})}
    return requests.post(url, data=body, headers=headers, timeout=10)


def wait_for(listener: webhook.Listener, count: int, seconds: float = 120.0) -> list[webhook.Outcome]:
    deadline = time.monotonic() + seconds
    while len(listener.outcomes) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return list(listener.outcomes)


def test_listen_verifies_the_signature_and_pushes_what_the_run_built(project: Project, cloud: DbtCloudStandIn) -> None:
    settings = Settings(project_dir=project.root, profiles_dir=project.root)
    seen: list[tuple[str, Any]] = []
    with _env(project.env):
        listener = commands.listener(settings, "127.0.0.1", 0, lambda run_id, reports: seen.append((run_id, reports))).start()
        try:
            body = event("job.run.completed", "4242", "wev_good")
            # A missing signature, a wrong one, and one over other bytes: 401, and nothing runs.
            assert post(listener.url, body, None).status_code == 401
            assert post(listener.url, body, "0" * 64).status_code == 401
            assert post(listener.url, body, webhook.signature("another-secret", body)).status_code == 401
            assert post(listener.url, body + b" ", webhook.signature(SECRET, body)).status_code == 401
            time.sleep(0.5)
            assert listener.outcomes == [] and cloud.requests == []
            assert project.sandbox.stats()["freshsales"]["requests"] == 0
            # Other events are acknowledged and ignored.
            started = event("job.run.started", "4242", "wev_started")
            answer = post(listener.url, started, webhook.signature(SECRET, started))
            assert (answer.status_code, answer.json()) == (200, {"ignored": "job.run.started"})
            # A good signature: accepted at once, pushed by the worker.
            answer = post(listener.url, body, webhook.signature(SECRET, body))
            assert (answer.status_code, answer.json()) == (202, {"accepted": "4242"})
            (outcome,) = wait_for(listener, 1)
            assert (outcome.run_id, outcome.ok, outcome.error) == ("4242", True, None)
            assert names(project) == ["One", "Two"]
            assert [r.spec.node.name for r in seen[0][1]] == ["pushed"]
            # dbt Cloud's retry of the same delivery is not pushed twice.
            again = post(listener.url, body, webhook.signature(SECRET, body).upper())
            assert again.status_code == 200 and again.json()["duplicate"] == "wev_good"
            # A completed run whose artifacts cannot be read is logged; the listener goes on.
            missing = event("job.run.completed", "5555", "wev_missing")
            assert post(listener.url, missing, webhook.signature(SECRET, missing)).status_code == 202
            outcomes = wait_for(listener, 2)
            assert outcomes[1].run_id == "5555" and not outcomes[1].ok and "404" in (outcomes[1].error or "")
        finally:
            listener.stop()
    assert len(project.runs()) == 1


def test_listen_needs_its_secret(project: Project, cloud: DbtCloudStandIn) -> None:
    del project.env["DBT_CLOUD_WEBHOOK_SECRET"]
    with _env({"DBT_CLOUD_WEBHOOK_SECRET": ""}):
        result = project.revsync("listen", "--port", "0")
    assert result.code == 2 and "DBT_CLOUD_WEBHOOK_SECRET is not set" in result.err


def test_listen_command_serves_refuses_unsigned_posts_and_stops_on_sigterm(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DBT_CLOUD_WEBHOOK_SECRET": SECRET, "DBT_CLOUD_ACCOUNT_ID": ACCOUNT, "DBT_CLOUD_API_TOKEN": TOKEN}
    cli = str(Path(sys.executable).parent / "dbt-revsync")
    process = subprocess.Popen([cli, "listen", "--port", str(port), "--project-dir", str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert f"http://127.0.0.1:{port}" in (process.stdout.readline() if process.stdout else "")
        body = event("job.run.completed", "1", "wev_x")
        assert post(f"http://127.0.0.1:{port}/", body, "not-a-signature").status_code == 401
        busy = subprocess.run([cli, "listen", "--port", str(port)], capture_output=True, text=True, env=env, check=False)
        assert busy.returncode == 2 and "cannot listen" in busy.stderr and "Traceback" not in busy.stderr
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
