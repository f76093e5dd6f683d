"""The sandbox's records and declared fields, kept across restarts in its state directory."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from dbt_revsync.sandbox import DeclaredField, RecordStore, SandboxServer
from dbt_revsync.sandbox.ids import SandboxStateError
from dbt_revsync.sandbox.snapshot import SNAPSHOT_FILE, SnapshotWriter

FRESHSALES = {"Authorization": "Token token=sandbox-freshsales-key"}
FRESHDESK = ("sandbox-freshdesk-key", "X")


def create_contact(server: SandboxServer, email: str, **fields: Any) -> dict[str, Any]:
    answer = requests.post(
        f"{server.url}/freshsales/contacts",
        headers=FRESHSALES,
        timeout=5,
        json={"contact": {"first_name": "A", "email": email, **fields}},
    )
    assert answer.status_code in (200, 201), answer.text
    return answer.json()["contact"]


def view_contact(server: SandboxServer, record_id: int) -> requests.Response:
    return requests.get(f"{server.url}/freshsales/contacts/{record_id}", headers=FRESHSALES, timeout=5)


def test_a_server_with_a_state_dir_keeps_records_and_declared_fields_across_a_restart(tmp_path: Path) -> None:
    with SandboxServer(emulators=["freshsales", "hubspot"], state_dir=tmp_path) as server:
        server.declare_field("hubspot", DeclaredField("contacts", "tier", "string"))
        first = create_contact(server, "a@x.io")
        second = create_contact(server, "b@x.io")
        assert requests.delete(
            f"{server.url}/freshsales/contacts/{second['id']}", headers=FRESHSALES, timeout=5
        ).status_code in (200, 204)
    with SandboxServer(emulators=["freshsales", "hubspot"], state_dir=tmp_path) as server:
        assert view_contact(server, first["id"]).json()["contact"]["email"] == "a@x.io"
        assert view_contact(server, second["id"]).status_code == 404  # a deletion is kept too
        assert server.declared_fields()["hubspot"] == [
            {"object": "contacts", "name": "tier", "type": "string", "unique": False}
        ]
        assert (server.restored.records, server.restored.fields) == (1, 1)
        assert create_contact(server, "c@x.io")["id"] > second["id"]


def test_fresh_starts_with_no_records_nor_fields_and_still_never_repeats_an_id(tmp_path: Path) -> None:
    with SandboxServer(emulators=["freshsales", "hubspot"], state_dir=tmp_path) as server:
        server.declare_field("hubspot", DeclaredField("contacts", "tier"))
        old = create_contact(server, "a@x.io")
    with SandboxServer(emulators=["freshsales", "hubspot"], state_dir=tmp_path, fresh=True) as server:
        assert server.state()["freshsales"]["contacts"] == [] and server.declared_fields()["hubspot"] == []
        assert create_contact(server, "a@x.io")["id"] > old["id"]
    with SandboxServer(emulators=["freshsales"], state_dir=tmp_path, fresh=True) as server:
        pass
    with SandboxServer(emulators=["freshsales"], state_dir=tmp_path) as server:  # fresh replaced the snapshot
        assert server.state()["freshsales"]["contacts"] == []


def test_a_fresh_start_replaces_the_snapshot_before_serving(tmp_path: Path) -> None:
    with SandboxServer(emulators=["freshsales"], state_dir=tmp_path) as server:
        create_contact(server, "a@x.io")
    server = SandboxServer(emulators=["freshsales"], state_dir=tmp_path, fresh=True)
    try:  # as if killed now: the old records must not come back
        assert (
            json.loads((tmp_path / SNAPSHOT_FILE).read_text())["emulators"]["freshsales"]["records"]["contacts"] == []
        )
    finally:
        server.stop()


def test_an_in_process_server_without_a_state_dir_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with SandboxServer(emulators=["freshsales"]) as server:
        create_contact(server, "a@x.io")
        assert server.snapshot is None and server.ledger is None
    assert list(tmp_path.iterdir()) == []


def test_a_reset_is_kept_too(tmp_path: Path) -> None:
    with SandboxServer(emulators=["freshsales"], state_dir=tmp_path) as server:
        create_contact(server, "a@x.io")
        requests.post(f"{server.url}/_admin/reset", timeout=5)
    with SandboxServer(emulators=["freshsales"], state_dir=tmp_path) as server:
        assert server.state()["freshsales"]["contacts"] == []


def test_a_reset_is_in_the_snapshot_when_it_is_answered_so_a_killed_sandbox_brings_nothing_back(tmp_path: Path) -> None:
    with SandboxServer(emulators=["freshsales"], state_dir=tmp_path) as server:
        create_contact(server, "a@x.io")
        assert server.snapshot is not None and server.snapshot.flush()
        assert requests.post(f"{server.url}/_admin/reset", timeout=5).status_code == 200
        kept = json.loads((tmp_path / SNAPSHOT_FILE).read_text())  # as SIGKILL would leave it, now
        assert kept["emulators"]["freshsales"]["records"]["contacts"] == []


def test_restored_freshdesk_records_are_searchable_at_once(tmp_path: Path) -> None:
    with SandboxServer(emulators=["freshdesk"], state_dir=tmp_path) as server:
        made = requests.post(
            f"{server.url}/freshdesk/contacts", auth=FRESHDESK, timeout=5, json={"name": "Ann", "email": "ann@x.io"}
        )
        assert made.status_code == 201
    with SandboxServer(emulators=["freshdesk"], state_dir=tmp_path) as server:
        found = requests.get(
            f"{server.url}/freshdesk/search/contacts",
            auth=FRESHDESK,
            timeout=5,
            params={"query": "\"email:'ann@x.io'\""},
        ).json()
        assert [c["id"] for c in found["results"]] == [made.json()["id"]]


@pytest.mark.parametrize(
    "content, key",
    [
        ("{not json", "not valid JSON"),
        ('{"version": 7, "emulators": {}}', "key 'version' is not 1"),
        ('{"version": 1, "emulators": []}', "key 'emulators'"),
        (
            '{"version": 1, "emulators": {"freshsales": {"records": {"contacts": {}}}}}',
            "key 'emulators.freshsales.records.contacts'",
        ),
        (
            '{"version": 1, "emulators": {"freshsales": {"records": {"contacts": [{"name": "x"}]}}}}',
            "key 'emulators.freshsales.records.contacts[0].id'",
        ),
        (
            '{"version": 1, "emulators": {"freshsales": {"records": {"contacts": [{"id": 5}, {"id": 5}]}}}}',
            "id 5 appears twice",
        ),
        (
            '{"version": 1, "emulators": {"freshsales": {"declared_fields": [{"object": "contacts"}]}}}',
            "key 'emulators.freshsales.declared_fields[0]': a field needs a name",
        ),
    ],
)
def test_a_damaged_snapshot_is_a_clear_error_naming_the_file_and_key(tmp_path: Path, content: str, key: str) -> None:
    (tmp_path / SNAPSHOT_FILE).write_text(content)
    with pytest.raises(SandboxStateError, match=re.escape(key)) as caught:
        SandboxServer(emulators=["freshsales"], state_dir=tmp_path)
    assert str(tmp_path / SNAPSHOT_FILE) in str(caught.value) and "--fresh" in str(caught.value)
    SandboxServer(
        emulators=["freshsales"], state_dir=tmp_path, fresh=True
    ).stop()  # the lock was let go; fresh skips it


def test_the_schema_file_wins_over_a_kept_field_and_a_refused_one_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kept = [
        {"object": "contacts", "name": "tier", "type": "string", "unique": False},
        {"object": "contacts", "name": "band", "type": "colour", "unique": False},
    ]
    (tmp_path / SNAPSHOT_FILE).write_text(
        json.dumps({"version": 1, "emulators": {"hubspot": {"declared_fields": kept}}})
    )
    with caplog.at_level(logging.WARNING):
        server = SandboxServer(
            emulators=["hubspot"],
            state_dir=tmp_path,
            schema={"hubspot": {"contacts": [{"name": "tier", "type": "number"}]}},
        )
    try:
        assert [(f["name"], f["type"]) for f in server.declared_fields()["hubspot"]] == [("tier", "number")]
        assert "hubspot.contacts.band is no longer accepted" in caplog.text
    finally:
        server.stop()


def test_the_section_of_an_emulator_not_served_is_written_back_as_it_was(tmp_path: Path) -> None:
    acme = {"declared_fields": [], "records": {"people": [{"id": 7, "name": "kept"}]}}
    (tmp_path / SNAPSHOT_FILE).write_text(json.dumps({"version": 1, "emulators": {"acme": acme}}))
    with SandboxServer(emulators=["freshsales"], state_dir=tmp_path) as server:
        create_contact(server, "a@x.io")
    written = json.loads((tmp_path / SNAPSHOT_FILE).read_text())["emulators"]
    assert written["acme"] == acme and len(written["freshsales"]["records"]["contacts"]) == 1


def test_a_stale_temporary_file_of_a_killed_writer_is_removed_at_start(tmp_path: Path) -> None:
    (tmp_path / ".records-abc.tmp").write_text('{"version": 1, "emu')
    SandboxServer(emulators=["freshsales"], state_dir=tmp_path).stop()
    assert not list(tmp_path.glob("*.tmp"))


class Toy:
    """The least an emulator shows a SnapshotWriter: a store and its declared fields."""

    def __init__(self) -> None:
        self.store = RecordStore(["a", "b"])
        self.declared_fields: tuple[DeclaredField, ...] = ()


def test_the_writer_writes_only_after_a_change_and_encodes_only_the_changed_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toy = Toy()
    writer = SnapshotWriter(tmp_path / SNAPSHOT_FILE, {"toy": toy}, interval=3600)  # type: ignore[dict-item]
    assert not writer.flush() and not (tmp_path / SNAPSHOT_FILE).exists()  # nothing changed since the start
    toy.store.insert("a", {"n": 1})
    toy.store.insert("b", {"n": 2})
    assert writer.flush() and not writer.flush()
    encoded: list[str] = []
    original = RecordStore.encoded
    monkeypatch.setattr(
        RecordStore, "encoded", lambda self, resource: encoded.append(resource) or original(self, resource)
    )
    toy.store.insert("a", {"n": 3})
    assert writer.flush() and encoded == ["a"]
    toy.declared_fields = (DeclaredField("a", "tier"),)
    assert writer.flush() and writer.writes == 3
    data = json.loads((tmp_path / SNAPSHOT_FILE).read_text())["emulators"]["toy"]
    assert [r["n"] for r in data["records"]["a"]] == [1, 3] and data["declared_fields"][0]["name"] == "tier"
    assert not list(tmp_path.glob("*.tmp"))


def test_a_record_json_cannot_hold_is_logged_once_and_the_last_good_snapshot_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    toy = Toy()
    writer = SnapshotWriter(tmp_path / SNAPSHOT_FILE, {"toy": toy}, interval=3600)  # type: ignore[dict-item]
    toy.store.insert("a", {"n": 1})
    assert writer.flush()
    good = (tmp_path / SNAPSHOT_FILE).read_text()
    toy.store.insert("a", {"n": {1, 2}})  # a set: no JSON for it
    with caplog.at_level(logging.ERROR):
        assert not writer.flush() and not writer.flush()
    assert caplog.text.count("cannot write the sandbox snapshot") == 1 and "toy a record" in caplog.text
    assert (tmp_path / SNAPSHOT_FILE).read_text() == good


def test_a_loaded_store_moves_its_counter_above_the_highest_id() -> None:
    store = RecordStore(["a"], first_id=1)
    store.load("a", [{"id": 40, "n": 1}, {"id": 7}])
    assert [r["id"] for r in store.all("a")] == [7, 40] and store.insert("a", {})["id"] == 41
