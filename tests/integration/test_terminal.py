"""What a person sees at a terminal during `dbt-revsync push`, and how a push ends.

A real push runs inside tmux (an 80x24 terminal), its screen captured; a real push process
gets SIGINT mid-push against a slow sandbox; a sync whose every request fails one same way
stops early and says it is the configuration.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

BLOCK = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "insert_mode": "upsert",
    "primary_key": "account_id",
    "upsert_key": "cf_account_id",
    "batch_size": 1,
    "fields": {"name": "name", "custom_field.cf_account_id": "account_id"},
}
LONG_MODEL = "accounts_with_a_rather_long_model_name_for_the_terminal"
BAR = "━"


def accounts(project: Project, rows: int, model: str = "accounts") -> None:
    project.model(model, f"select i as account_id, 'Account ' || i as name from range(1, {rows + 1}) t(i)", BLOCK)


def push_command(project: Project, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dbt_revsync",
        "push",
        *extra,
        "--project-dir",
        str(project.root),
        "--profiles-dir",
        str(project.root),
    ]


def crm_requests(project: Project) -> int:
    return int(project.sandbox.stats()["freshsales"]["requests"])


# ---- tmux: the screen of an 80-column terminal ---------------------------------------------


def tmux_or_skip() -> str:
    """tmux's path; the project's setup (scripts/test_tools.sh, run by `make test`) installs it."""
    found = shutil.which("tmux")
    if found:
        return found
    reason = "tmux is not installed (scripts/test_tools.sh installs it with apt-get)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def tmux() -> Iterator[list[str]]:
    """A tmux server of this test's own (its own socket), killed afterwards."""
    base = [tmux_or_skip(), "-L", f"revsync-test-{os.getpid()}", "-f", "/dev/null"]
    yield base
    subprocess.run([*base, "kill-server"], capture_output=True, check=False)


def screen(tmux: list[str]) -> list[str]:
    """The pane with its history, wrapped lines joined (a line wider than the pane shows as such)."""
    text = subprocess.run(
        [*tmux, "capture-pane", "-p", "-J", "-S", "-", "-t", "push"], capture_output=True, text=True, check=True
    ).stdout
    return [line.rstrip() for line in text.splitlines()]


def run_in_tmux(tmux: list[str], project: Project, script: str, done: str, timeout: float = 180) -> list[str]:
    env = " ".join(
        f"{k}={shlex.quote(v)}" for k, v in {**project.env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}.items()
    )
    command = f"cd {shlex.quote(str(project.root))} && export {env} && {script}; echo {done}=$?; sleep 600"
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "push", "-x", "80", "-y", "24", "bash", "-c", command], check=True
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = screen(tmux)
        if any(line.startswith(f"{done}=") for line in lines):
            return lines
        time.sleep(0.3)
    raise AssertionError("the push did not finish in tmux:\n" + "\n".join(screen(tmux)))


def test_a_push_in_an_80_column_terminal_fits_it_and_leaves_one_line_per_sync(
    project: Project, tmux: list[str]
) -> None:
    accounts(project, 40)
    accounts(project, 12, LONG_MODEL)
    project.build()
    project.sandbox.add_fault("delay", seconds=0.05, prefix="freshsales")  # slow enough to redraw many times
    push = " ".join(shlex.quote(a) for a in push_command(project))
    lines = run_in_tmux(tmux, project, f"{push}; echo FIRST=$?; {push}", "SECOND")
    shown = "\n".join(lines)
    assert "FIRST=0" in shown and "SECOND=0" in shown, shown
    too_wide = [line for line in lines if len(line) > 80]
    assert too_wide == [], shown
    first = lines[: next(i for i, line in enumerate(lines) if line.startswith("FIRST="))]
    bars = [line for line in first if BAR in line or re.search(r"\d+/\d+\s", line)]
    # one line per sync that sent something, each at its full count: no stacked half-drawn bars
    assert len(bars) == 2, shown
    assert any("40/40" in line for line in bars), shown
    assert any("12/12" in line for line in bars), shown
    assert all("reading changes" not in line for line in first), shown  # the phase line was redrawn into the bar
    # the summary: a header, and every sync named in full (a name too long for the table gets
    # its own line, wrapped when longer than the terminal)
    assert any(line.startswith("sync") for line in first), shown
    assert any(line.startswith("accounts -> freshsales.sales_accounts") for line in first), shown
    assert any(line.startswith(f"{LONG_MODEL} ->") for line in first), shown
    # the second push changes nothing: no bar at all (no 0/0), only the summary
    second = lines[next(i for i, line in enumerate(lines) if line.startswith("FIRST=")) :]
    assert not [line for line in second if BAR in line or "0/0" in line], shown
    assert any("success" in line for line in second), shown


# ---- Ctrl-C --------------------------------------------------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_sending_within_a_second_commits_what_came_back_and_exits_so(
    project: Project, signum: int, code: int
) -> None:
    accounts(project, 60)
    project.build()
    project.connections({"freshsales": project.freshsales_connection(max_concurrency=2)})
    project.sandbox.add_fault("delay", seconds=0.25, prefix="freshsales")
    process = subprocess.Popen(
        push_command(project),
        cwd=project.root,
        env={**os.environ, **project.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while crm_requests(project) < 8 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the push ended before it could be interrupted"
    process.send_signal(signum)
    interrupted_at = time.monotonic()
    time.sleep(1.0)
    seen_a_second_later = crm_requests(project)
    out, err = process.communicate(timeout=60)
    took = time.monotonic() - interrupted_at
    assert process.returncode == code, out + err
    time.sleep(0.5)
    assert crm_requests(project) == seen_a_second_later, "requests were still sent a second after Ctrl-C"
    assert took < 10, took
    (run,) = project.runs()
    committed = project.state()
    assert run["status"] == "interrupted" and "interrupted" in (run["message"] or "")
    assert len(committed) == run["created"] < 60  # true counts, all committed
    assert f"interrupted, {run['created']}/60 change(s) answered" in err, err  # true counts, never drawn as full
    figures = next(
        line for line in out.splitlines() if line.startswith("accounts -> freshsales.sales_accounts ")
    ).split()
    header = out.splitlines()[0].split()
    row = dict(zip(header[1:], figures[3:]))  # the wide table on a pipe: the name (3 words), then its figures
    assert (row["status"], row["created"], row["left"]) == (
        "interrupted",
        str(run["created"]),
        str(60 - run["created"]),
    ), out
    status = project.revsync("status")
    assert "interrupted" in status.out, status.out
    # the next push resumes: every row in the CRM once
    project.sandbox.clear_faults()
    again = project.push()
    assert again.code == 0, again.out + again.err
    names = [
        r["custom_field"]["cf_account_id"] for r in project.sandbox.emulator("freshsales").records("sales_accounts")
    ]
    assert sorted(map(int, names)) == list(range(1, 61))


# ---- a sync whose every request fails the same way -----------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_request_refused_fails_the_sync_naming_host_and_port(project: Project) -> None:
    accounts(project, 101)
    project.build()
    port = free_port()
    project.connections(
        {
            "freshsales": project.freshsales_connection(
                base_url=f"http://127.0.0.1:{port}/freshsales", max_retries=1, max_retry_time=2
            )
        }
    )
    result = project.push("--no-progress")
    assert result.code == 2, result.out + result.err
    (run,) = project.runs()
    assert run["status"] == "failed" and run["created"] == 0
    assert f"every request to 127.0.0.1:{port} was refused" in run["message"] and "base_url" in run["message"]
    assert f"127.0.0.1:{port} was refused" in result.out
    assert run["requests"] <= 2 * 2 * 2  # the first batches in flight, each tried twice: then it stopped


def test_every_row_rejected_the_same_way_stops_the_sync_as_a_configuration_problem(project: Project) -> None:
    accounts(project, 100)
    project.build()
    project.sandbox.add_fault("status", status=400, prefix="freshsales")
    result = project.push("--no-progress")
    assert result.code == 2, result.out + result.err
    (run,) = project.runs()
    assert run["status"] == "failed" and run["created"] == 0
    assert 10 <= run["rejected"] < 20 and run["requests"] < 20  # stopped early, not 100 requests
    assert "the same way" in run["message"] and "configuration" in run["message"]
    assert "failed" in result.out and "success" not in result.out


def test_some_rows_rejected_make_the_status_rejected_and_exit_1(project: Project) -> None:
    accounts(project, 3)
    project.build()
    project.sandbox.add_fault("status", status=400, prefix="freshsales", times=1)
    result = project.push("--no-progress")
    assert result.code == 1, result.out + result.err
    (run,) = project.runs()
    assert (run["status"], run["created"], run["rejected"]) == ("rejected", 2, 1), run


def test_a_pipe_gets_one_line_per_sync_and_no_redraws(project: Project, tmp_path: Path) -> None:
    accounts(project, 5)
    project.build()
    process = subprocess.run(
        push_command(project),
        cwd=project.root,
        env={**os.environ, **project.env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    assert "\r" not in process.stderr and "\x1b" not in process.stderr
    assert "accounts -> freshsales.sales_accounts: success, 5/5 change(s) answered in" in process.stderr
