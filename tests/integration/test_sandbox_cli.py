"""`dbt-revsync sandbox` as a user runs it: real processes, killed and started again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).parent / "dbt-revsync")
FRESHSALES = {"Authorization": "Token token=sandbox-freshsales-key"}
HUBSPOT = {"Authorization": "Bearer sandbox-hubspot-token"}


class Sandbox:
    """A `dbt-revsync sandbox` process and the URL its first line printed."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process, self.url = process, url

    def create_accounts(self, count: int) -> list[int]:
        url = f"{self.url}/freshsales/sales_accounts"
        answers = [
            requests.post(url, json={"sales_account": {"name": f"A{n}"}}, headers=FRESHSALES, timeout=5)
            for n in range(count)
        ]
        return [answer.json()["sales_account"]["id"] for answer in answers]


def start(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Sandbox:
    process = subprocess.Popen(
        [CLI, "sandbox", "--port", "0", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    first = process.stdout.readline() if process.stdout else ""
    if "listening on " not in first:
        process.kill()
        raise AssertionError(f"the sandbox did not start: {first!r} {process.communicate(timeout=10)}")
    return Sandbox(process, first.rsplit("listening on ", 1)[1].strip())


@pytest.fixture
def sandboxes() -> Iterator[list[Sandbox]]:
    started: list[Sandbox] = []
    yield started
    for sandbox in started:
        if sandbox.process.poll() is None:
            sandbox.process.kill()
        sandbox.process.communicate(timeout=10)


def test_port_zero_prints_the_url_it_listens_on(tmp_path: Path, sandboxes: list[Sandbox]) -> None:
    sandboxes.append(sandbox := start(tmp_path))
    assert sandbox.url.startswith("http://127.0.0.1:") and not sandbox.url.endswith(":0")
    assert requests.get(f"{sandbox.url}/_admin/emulators", timeout=5).status_code == 200
    assert (tmp_path / ".revsync-sandbox" / "lock").exists()  # the default state directory, under the current one


def test_a_killed_and_restarted_sandbox_never_gives_an_id_twice(tmp_path: Path, sandboxes: list[Sandbox]) -> None:
    given: list[int] = []
    for stop in (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL):
        sandboxes.append(sandbox := start(tmp_path))
        given += sandbox.create_accounts(3)
        hubspot = requests.post(
            f"{sandbox.url}/hubspot/crm/v3/objects/contacts",
            headers=HUBSPOT,
            timeout=5,
            json={"properties": {"email": f"p{len(given)}@example.com"}},
        )
        given.append(int(hubspot.json()["id"]))
        sandbox.process.send_signal(stop)
        sandbox.process.wait(timeout=10)
    assert len(given) == len(set(given)), given
    assert (tmp_path / ".revsync-sandbox" / "ids.json").exists()


def test_a_new_state_directory_still_keeps_clear_of_an_earlier_run(tmp_path: Path, sandboxes: list[Sandbox]) -> None:
    sandboxes.append(first := start(tmp_path, "--state-dir", "one"))
    earlier = first.create_accounts(3)
    first.process.kill()
    first.process.wait(timeout=10)
    time.sleep(1)  # the floor rises by 10 ids a second
    sandboxes.append(second := start(tmp_path, "--state-dir", "two"))
    assert min(second.create_accounts(3)) > max(earlier)  # the time floor, more than a second later


def test_a_second_sandbox_on_the_same_state_directory_is_refused(tmp_path: Path, sandboxes: list[Sandbox]) -> None:
    sandboxes.append(start(tmp_path))
    result = subprocess.run(
        [CLI, "sandbox", "--port", "0"], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "is in use by another sandbox" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_port_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [CLI, "sandbox", "--port", str(port)], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 2, result
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr and "--port 0" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run(
        [CLI, "sandbox", "--port", "70000"], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "--port must lie between 0 and 65535" in result.stderr


def test_a_bad_schema_file_exits_2_naming_the_file_and_key(tmp_path: Path) -> None:
    schema = tmp_path / "sandbox.yml"
    schema.write_text("hubspot:\n  contacts:\n    - {type: string}\n  tickets_x: []\nzoho:\n  leads: []\n")
    result = subprocess.run(
        [CLI, "sandbox", "--port", "0", "--schema", str(schema)],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{schema}, key 'hubspot.contacts[0]': a field needs a name" in result.stderr
    assert "key 'hubspot.tickets_x': unknown object" in result.stderr
    assert "key 'zoho': unknown CRM" in result.stderr
    result = subprocess.run(
        [CLI, "sandbox", "--port", "0", "--schema", str(tmp_path / "none.yml")],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "none.yml" in result.stderr and "cannot read" in result.stderr


def test_a_field_the_emulator_refuses_exits_2_with_its_reason(tmp_path: Path) -> None:
    schema = tmp_path / "sandbox.yml"
    schema.write_text("echo:\n  requests:\n    - {name: tier}\n")  # the echo endpoint has no custom fields
    result = subprocess.run(
        [CLI, "sandbox", "--port", "0", "--schema", str(schema)],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "key 'echo.requests[0]': field 'tier' refused by the echo emulator" in result.stderr


PLUGIN = """
from dbt_revsync.crms import Crm
from dbt_revsync.sandbox import DeclaredField, Emulator, SchemaRefused


class AcmeEmulator(Emulator):
    prefix = "acme"
    resources = ("people",)

    def declare_field(self, declared: DeclaredField) -> None:
        if declared.type not in ("string", "number"):
            raise SchemaRefused(f"unknown type {declared.type!r}")


CRM = Crm(name="acme", destination="acme_crm:Nothing", emulator="acme_crm:AcmeEmulator",
          sandbox_prefix="acme", docs="destinations/acme.md")
"""


def test_schema_file_declares_fields_on_a_plugin_emulator_and_describe_lists_them(
    tmp_path: Path, sandboxes: list[Sandbox]
) -> None:
    plugins = tmp_path / "plugins"
    (plugins / "acme_crm-0.1.dist-info").mkdir(parents=True)
    (plugins / "acme_crm.py").write_text(textwrap.dedent(PLUGIN))
    (plugins / "acme_crm-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-crm\nVersion: 0.1\n"
    )
    (plugins / "acme_crm-0.1.dist-info" / "entry_points.txt").write_text("[dbt_revsync.crms]\nacme = acme_crm:CRM\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")]))
    schema = tmp_path / "sandbox.yml"
    schema.write_text(
        "acme:\n  people:\n    - {name: tier, type: string}\n    - {name: ext, type: number, unique: true}\n"
    )
    sandboxes.append(sandbox := start(tmp_path, "--schema", str(schema), env=env))
    fields = requests.get(f"{sandbox.url}/_admin/fields", timeout=5).json()["acme"]
    assert [(f["name"], f["type"], f["unique"]) for f in fields] == [("tier", "string", False), ("ext", "number", True)]
    added = requests.post(
        f"{sandbox.url}/_admin/fields", json={"prefix": "acme", "object": "people", "name": "band"}, timeout=5
    )
    assert added.status_code == 201 and len(added.json()["acme"]) == 3
    refused = requests.post(
        f"{sandbox.url}/_admin/fields",
        timeout=5,
        json={"prefix": "acme", "object": "people", "name": "x", "type": "colour"},
    )
    assert refused.status_code == 400 and "unknown type 'colour'" in refused.json()["error"]
    described = {e["prefix"]: e for e in requests.get(f"{sandbox.url}/_admin/emulators", timeout=5).json()["emulators"]}
    assert [f["name"] for f in described["acme"]["declared_fields"]] == ["tier", "ext", "band"]
    schema.write_text("acme:\n  people:\n    - {name: tier, type: colour}\n")
    sandbox.process.kill()
    sandbox.process.wait(timeout=10)
    result = subprocess.run(
        [CLI, "sandbox", "--port", "0", "--schema", str(schema)],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        result.returncode == 2
        and "key 'acme.people[0]': field 'tier' refused by the acme emulator: unknown type" in result.stderr
    )


# -- records kept across restarts -------------------------------------------------


def create_contacts(sandbox: Sandbox, count: int) -> list[int]:
    answers = [
        requests.post(
            f"{sandbox.url}/freshsales/contacts",
            headers=FRESHSALES,
            timeout=5,
            json={"contact": {"first_name": "C", "email": f"c{n}-{time.time_ns()}@example.com"}},
        )
        for n in range(count)
    ]
    return [answer.json()["contact"]["id"] for answer in answers]


def view_contact(sandbox: Sandbox, record_id: int) -> requests.Response:
    return requests.get(f"{sandbox.url}/freshsales/contacts/{record_id}", headers=FRESHSALES, timeout=5)


def stop(sandbox: Sandbox, how: signal.Signals) -> int:
    sandbox.process.send_signal(how)
    return sandbox.process.wait(timeout=20)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_a_restarted_sandbox_still_has_its_records_and_gives_higher_ids(
    tmp_path: Path, sandboxes: list[Sandbox], how: signal.Signals
) -> None:
    sandboxes.append(first := start(tmp_path))
    kept = create_contacts(first, 3)
    declared = requests.post(
        f"{first.url}/_admin/fields", timeout=5, json={"prefix": "hubspot", "object": "contacts", "name": "tier"}
    )
    assert declared.status_code == 201
    assert stop(first, how) == 0
    sandboxes.append(second := start(tmp_path))
    for record_id in kept:
        answer = view_contact(second, record_id)
        assert answer.status_code == 200 and answer.json()["contact"]["id"] == record_id
    assert [f["name"] for f in requests.get(f"{second.url}/_admin/fields", timeout=5).json()["hubspot"]] == ["tier"]
    assert min(create_contacts(second, 2)) > max(kept)
    banner = []
    for line in second.process.stdout or ():
        banner.append(line)
        if "admin:" in line:  # the banner's last line
            break
    assert any("3 record(s) and 1 field(s) restored" in line for line in banner), banner


def test_fresh_starts_with_no_records_and_ids_still_above_the_old_ones(
    tmp_path: Path, sandboxes: list[Sandbox]
) -> None:
    sandboxes.append(first := start(tmp_path))
    old = create_contacts(first, 3)
    assert stop(first, signal.SIGTERM) == 0
    sandboxes.append(second := start(tmp_path, "--fresh"))
    assert all(view_contact(second, record_id).status_code == 404 for record_id in old)
    assert requests.get(f"{second.url}/_admin/freshsales/contacts", timeout=5).json() == []
    assert min(create_contacts(second, 2)) > max(old)


def test_a_corrupt_snapshot_exits_2_naming_the_file(tmp_path: Path) -> None:
    snapshot = tmp_path / ".revsync-sandbox" / "records.json"
    snapshot.parent.mkdir()
    snapshot.write_text('{"version": 1, "emulators": {"freshs')
    result = subprocess.run(
        [CLI, "sandbox", "--port", "0"], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: {snapshot}: not valid JSON" in result.stderr and "--fresh" in result.stderr


def test_sigkill_loses_at_most_the_last_second_of_writes_and_never_half_a_snapshot(
    tmp_path: Path, sandboxes: list[Sandbox]
) -> None:
    acknowledged: list[tuple[float, int]] = []  # (when the answer came, id)
    for run_for in (1.3, 2.2, 2.9):
        sandboxes.append(sandbox := start(tmp_path))
        session, url = requests.Session(), f"{sandbox.url}/freshsales/contacts"
        began = time.monotonic()
        while time.monotonic() - began < run_for:  # writes without a pause, then SIGKILL mid-run
            answer = session.post(
                url,
                headers=FRESHSALES,
                timeout=5,
                json={"contact": {"first_name": "K", "email": f"k{len(acknowledged)}@example.com"}},
            )
            acknowledged.append((time.monotonic(), answer.json()["contact"]["id"]))
        sandbox.process.kill()
        killed = time.monotonic()
        sandbox.process.wait(timeout=10)
        snapshot = json.loads((tmp_path / ".revsync-sandbox" / "records.json").read_text())  # whole, never half
        kept = {record["id"] for record in snapshot["emulators"]["freshsales"]["records"]["contacts"]}
        lost = [when for when, record_id in acknowledged if record_id not in kept]
        assert not lost or killed - min(lost) <= 1.5, f"lost writes from {killed - min(lost):.2f} s before the kill"
        assert len(kept) >= len([1 for when, _ in acknowledged if killed - when > 1.5])
        acknowledged = [
            (when, record_id) for when, record_id in acknowledged if record_id in kept
        ]  # the next run's base
    sandboxes.append(last := start(tmp_path))
    assert all(view_contact(last, record_id).status_code == 200 for _, record_id in acknowledged[-5:])
