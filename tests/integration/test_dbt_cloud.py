"""dbt Cloud: `push --dbt-cloud-run` reads a run's artifacts from the Admin API v2, and
`listen` pushes what a run built when dbt Cloud's signed job-run-completed webhook arrives."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dbt_revsync import commands, webhook
from dbt_revsync.model import Settings
from tests.integration.conftest import Project, _env
from tests.integration.dbt_cloud_standin import CANCELLED, DbtCloudStandIn, Run, dbt_step, job_steps

pytestmark = pytest.mark.integration

ACCOUNT, TOKEN, SECRET = "70403", "dbtc_standin-service-token", "webhook-secret-token-0123"
BLOCK = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "primary_key": "account_id",
    "fields": {"name": "name"},
}


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
    project.env.update(
        {"DBT_CLOUD_ACCOUNT_ID": ACCOUNT, "DBT_CLOUD_API_TOKEN": TOKEN, "DBT_CLOUD_WEBHOOK_SECRET": SECRET}
    )
    with DbtCloudStandIn(ACCOUNT, TOKEN) as standin:
        standin.add_run("4242", run_dir)  # steps 1-3 (clone, profile, deps), then 4: `dbt build`
        project.env["DBT_CLOUD_API_URL"] = standin.url
        yield standin


def names(project: Project) -> list[str]:
    return sorted(r["name"] for r in project.sandbox.emulator("freshsales").records("sales_accounts"))


def test_push_takes_a_dbt_cloud_runs_artifacts(project: Project, cloud: DbtCloudStandIn) -> None:
    assert project.push().code == 2  # no local run results: the plain form has nothing to go by
    result = project.push("--dbt-cloud-run", "4242")
    assert result.code == 0, result.err
    assert names(project) == ["One", "Two"] and "pushed -> freshsales" in result.out and "skipped ->" not in result.out
    assert [path for path, _ in cloud.requests] == [
        f"/api/v2/accounts/{ACCOUNT}/runs/4242/?include_related=%5B%22run_steps%22%5D",
        f"/api/v2/accounts/{ACCOUNT}/runs/4242/artifacts/run_results.json?step=4",
        f"/api/v2/accounts/{ACCOUNT}/runs/4242/artifacts/manifest.json?step=4",
    ]
    unknown = project.push("--dbt-cloud-run", "999")
    assert unknown.code == 2 and "dbt Cloud answered 404 for the steps of run 999" in unknown.err
    project.env["DBT_CLOUD_API_TOKEN"] = "dbtc_wrong-token"
    refused = project.push("--dbt-cloud-run", "4242")
    assert refused.code == 2 and "dbt Cloud refused the steps of run 4242" in refused.err
    assert "dbtc_wrong-token" not in refused.err + refused.out
    del project.env["DBT_CLOUD_ACCOUNT_ID"]
    with _env({"DBT_CLOUD_ACCOUNT_ID": ""}):
        missing = project.push("--dbt-cloud-run", "4242")
    assert missing.code == 2 and "DBT_CLOUD_ACCOUNT_ID is not set" in missing.err


def test_the_dbt_cloud_access_url_is_required(project: Project, cloud: DbtCloudStandIn) -> None:
    del project.env["DBT_CLOUD_API_URL"]
    with _env({"DBT_CLOUD_API_URL": ""}):
        result = project.push("--dbt-cloud-run", "4242")
    assert result.code == 2 and "DBT_CLOUD_API_URL is not set" in result.err and "us1.dbt.com" in result.err
    assert "Traceback" not in result.err and cloud.requests == []


def copy_target(project: Project, name: str) -> Path:
    folder = project.root.parent / name
    folder.mkdir()
    for file in ("manifest.json", "run_results.json"):
        shutil.copy(project.root / "target" / file, folder / file)
    return folder


def test_push_takes_the_run_results_of_every_building_step_not_the_last_steps(
    project: Project, cloud: DbtCloudStandIn
) -> None:
    """A job `dbt seed`, `dbt run -s pushed`, `dbt test`: the last step's run results name
    tests alone; what the run built is in steps 4 and 5."""
    project.models["pushed"]["columns"] = [{"name": "account_id", "data_tests": ["not_null"]}]
    project.model("skipped", "select account_id + 100 as account_id, name from {{ ref('raw') }}", BLOCK)
    project.dbt("seed")
    seed_step = copy_target(project, "step_seed")
    project.dbt("run", "--select", "pushed")
    run_step = copy_target(project, "step_run")
    project.dbt("test")
    test_step = copy_target(project, "step_test")
    steps = job_steps(
        dbt_step("dbt seed", seed_step), dbt_step("dbt run --select pushed", run_step), dbt_step("dbt test", test_step)
    )
    cloud.add_run("5000", Run(steps))
    only_tests = project.push("--dbt-cloud-run", "5000", "--dbt-cloud-step", "6")
    assert only_tests.code == 2 and "written by `dbt test`" in only_tests.err  # step 6 built nothing
    assert names(project) == []
    result = project.push("--dbt-cloud-run", "5000")
    assert result.code == 0, result.err
    assert names(project) == ["One", "Two"] and "pushed -> freshsales" in result.out and "skipped ->" not in result.out
    read = [path.split("artifacts/")[-1] for path, _ in cloud.requests if "artifacts/" in path][2:]
    assert read == ["run_results.json?step=4", "run_results.json?step=5", "manifest.json?step=5"]


def test_a_building_step_that_wrote_no_run_results_is_left_out(
    project: Project, cloud: DbtCloudStandIn, tmp_path: Path
) -> None:
    run_dir = project.root.parent / "cloud_run_4242"
    cloud.add_run("5001", Run(job_steps(dbt_step("dbt build", run_dir), dbt_step("dbt run --select broken", None, 20))))
    result = project.push("--dbt-cloud-run", "5001")
    assert result.code == 0, result.err
    assert names(project) == ["One", "Two"]
    cloud.add_run("5002", Run(job_steps(dbt_step("dbt test", run_dir), dbt_step("dbt docs generate", run_dir))))
    nothing = project.push("--dbt-cloud-run", "5002")
    assert nothing.code == 2 and "has no step that builds" in nothing.err


def event(
    event_type: str, run_id: str, event_id: str, *, job: str = "123", code: int = 10, status: str = "Success"
) -> bytes:
    payload = {
        "accountId": int(ACCOUNT),
        "webhooksID": "wsu_revsync",
        "eventId": event_id,
        "timestamp": "2026-01-31T19:29:35.789265936Z",
        "eventType": event_type,
        "webhookName": "revsync",
        "data": {
            "jobId": job,
            "jobName": "Daily build",
            "runId": run_id,
            "environmentId": "1234",
            "environmentName": "Production",
            "runStatus": status,
            "runStatusCode": code,
            "runStatusMessage": "None",
        },
    }
    return json.dumps(payload).encode()


def post(url: str, body: bytes, authorization: str | None) -> requests.Response:
    headers = {
        "Content-Type": "application/json",
        **({"Authorization": authorization} if authorization is not None else {}),
    }
    return requests.post(url, data=body, headers=headers, timeout=10)


def signed(listener: webhook.Listener, body: bytes) -> requests.Response:
    return post(listener.url, body, webhook.signature(SECRET, body))


def wait_for(listener: webhook.Listener, count: int, seconds: float = 120.0) -> list[webhook.Outcome]:
    deadline = time.monotonic() + seconds
    while len(listener.outcomes) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return list(listener.outcomes)


PRODUCTION = commands.ListenOptions(host="127.0.0.1", port=0, job_ids=("123",))


def listen_runs(project: Project) -> list[tuple[str, str]]:
    return [
        (r["run_id"], r["status"]) for r in project.query("select * from revsync.revsync_listen_runs order by run_id")
    ]


def test_listen_verifies_the_signature_and_pushes_what_the_run_built(project: Project, cloud: DbtCloudStandIn) -> None:
    settings = Settings(project_dir=project.root, profiles_dir=project.root)
    seen: list[tuple[str, Any]] = []
    with _env(project.env):
        listener = commands.listener(
            settings, PRODUCTION, lambda run_id, reports: seen.append((run_id, reports))
        ).start()
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
            answer = signed(listener, event("job.run.started", "4242", "wev_started", code=3, status="Running"))
            assert (answer.status_code, answer.json()) == (200, {"ignored": "event job.run.started", "run_id": "4242"})
            # A good signature: accepted at once (well within dbt Cloud's 10 seconds), pushed by the worker.
            started = time.monotonic()
            answer = signed(listener, body)
            assert (answer.status_code, answer.json()) == (202, {"accepted": "4242"}) and time.monotonic() - started < 2
            (outcome,) = wait_for(listener, 1)
            assert (outcome.run_id, outcome.ok, outcome.error) == ("4242", True, None)
            assert names(project) == ["One", "Two"]
            assert [r.spec.node.name for r in seen[0][1]] == ["pushed"]
            # dbt Cloud's retry of the same delivery, or the run under another event id: not pushed twice.
            again = post(listener.url, body, webhook.signature(SECRET, body).upper())
            assert again.status_code == 200 and again.json()["duplicate"] == "4242"
            assert signed(listener, event("job.run.completed", "4242", "wev_other")).json()["duplicate"] == "4242"
            # A completed run whose artifacts cannot be read is logged; the listener goes on.
            assert signed(listener, event("job.run.completed", "5555", "wev_missing")).status_code == 202
            outcomes = wait_for(listener, 2)
            assert outcomes[1].run_id == "5555" and not outcomes[1].ok and "404" in (outcomes[1].error or "")
        finally:
            listener.stop()
    assert len(project.runs()) == 1
    assert listen_runs(project) == [("4242", "pushed"), ("5555", "failed")]


def test_the_ci_jobs_webhook_and_a_cancelled_run_push_nothing(project: Project, cloud: DbtCloudStandIn) -> None:
    """The webhook is account-wide: the CI job's run (which built a pull request's schema)
    arrives too, and so do cancelled runs; neither reaches the CRM."""
    settings = Settings(project_dir=project.root, profiles_dir=project.root)
    with _env(project.env):
        listener = commands.listener(settings, PRODUCTION).start()
        try:
            ci = signed(listener, event("job.run.completed", "4242", "wev_ci", job="777"))
            assert ci.status_code == 200 and ci.json()["ignored"] == "job 777 is not in the job allowlist"
            cancelled = signed(
                listener, event("job.run.completed", "4242", "wev_cancel", code=CANCELLED, status="Cancelled")
            )
            assert cancelled.status_code == 200 and "Cancelled is not pushed" in cancelled.json()["ignored"]
            errored = signed(listener, event("job.run.completed", "4242", "wev_err", code=20, status="Errored"))
            assert errored.status_code == 200 and "Errored is not pushed" in errored.json()["ignored"]
            time.sleep(1.0)
            assert listener.outcomes == [] and cloud.requests == [] and listener.ledger.waiting() == 0
        finally:
            listener.stop()
    assert project.sandbox.stats()["freshsales"]["requests"] == 0 and listen_runs(project) == []


@pytest.mark.warehouses
def test_a_restart_of_listen_loses_no_accepted_run(project: Project, cloud: DbtCloudStandIn) -> None:
    """Runs accepted and not pushed when the listener dies are pushed by the next one,
    and a run it holds is still known (not pushed twice) after the restart."""
    settings = Settings(project_dir=project.root, profiles_dir=project.root)
    cloud.add_run("4243", project.root.parent / "cloud_run_4242")
    release = threading.Event()
    with _env(project.env):
        first = commands.listener(settings, PRODUCTION)
        first.push_run = lambda run_id: release.wait(60) and False  # the process dies mid-push
        first.start()
        try:
            assert signed(first, event("job.run.completed", "4242", "wev_a")).status_code == 202
            assert signed(first, event("job.run.completed", "4243", "wev_b")).status_code == 202
            deadline = time.monotonic() + 10
            while first.ledger.waiting() and time.monotonic() < deadline:  # 4242 taken by the worker, 4243 waiting
                time.sleep(0.05)
            first.server.shutdown()
            first.server.server_close()
            first.stopping.set()  # ... and the process is gone: nothing recorded that either run finished
            first.ledger.finish = lambda *args, **kwargs: None  # type: ignore[method-assign]
            first.record = lambda: None
            second = commands.listener(settings, PRODUCTION).start()
            try:
                outcomes = wait_for(second, 2)
                assert sorted((o.run_id, o.ok) for o in outcomes) == [("4242", True), ("4243", True)]
                assert names(project) == ["One", "Two"]
                assert signed(second, event("job.run.completed", "4242", "wev_c")).json()["duplicate"] == "4242"
            finally:
                second.stop()
        finally:
            release.set()
    assert listen_runs(project) == [("4242", "pushed"), ("4243", "pushed")]
    with _env(project.env):
        third = commands.listener(settings, PRODUCTION)
        try:
            assert third.ledger.waiting() == 0 and {"4242", "4243"} <= third.ledger.known
        finally:
            third.server.server_close()


def test_listen_needs_its_secret_and_an_allowlist(project: Project, cloud: DbtCloudStandIn) -> None:
    no_list = project.revsync("listen", "--port", "0")
    assert no_list.code == 2 and "listen needs --job-id and/or --environment-id" in no_list.err
    bad_id = project.revsync("listen", "--port", "0", "--job-id", "daily")
    assert bad_id.code == 2 and "--job-id takes dbt Cloud ids" in bad_id.err
    del project.env["DBT_CLOUD_WEBHOOK_SECRET"]
    with _env({"DBT_CLOUD_WEBHOOK_SECRET": ""}):
        result = project.revsync("listen", "--port", "0", "--job-id", "123")
    assert result.code == 2 and "DBT_CLOUD_WEBHOOK_SECRET is not set" in result.err


def test_listen_command_serves_refuses_unsigned_posts_and_stops_on_sigterm(
    project: Project, cloud: DbtCloudStandIn
) -> None:
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, **project.env}
    cli = str(Path(sys.executable).parent / "dbt-revsync")
    where = ["--project-dir", str(project.root), "--profiles-dir", str(project.root), "--job-id", "123"]
    process = subprocess.Popen([cli, "listen", "--port", str(port), *where], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert f"http://127.0.0.1:{port}" in (process.stdout.readline() if process.stdout else "")
        body = event("job.run.completed", "1", "wev_x")
        assert post(f"http://127.0.0.1:{port}/", body, "not-a-signature").status_code == 401
        busy = subprocess.run(
            [cli, "listen", "--port", str(port), *where], capture_output=True, text=True, env=env, check=False
        )
        assert busy.returncode == 2 and "cannot listen" in busy.stderr and "Traceback" not in busy.stderr
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
