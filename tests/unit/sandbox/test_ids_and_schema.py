"""The sandbox's ids across restarts, its schema file, declared fields and its port errors."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import requests

from dbt_revsync.errors import ConfigError, UsageError
from dbt_revsync.sandbox import (
    DeclaredField,
    Emulator,
    PortUnavailable,
    RecordStore,
    SandboxRequest,
    SandboxResponse,
    SandboxServer,
    SchemaRefused,
    json_response,
    route,
)
from dbt_revsync.sandbox.ids import FLOOR_EPOCH, IdLedger, SandboxStateError, time_floor
from dbt_revsync.sandbox.schema import load_schema

NOW = FLOOR_EPOCH + 1000.0  # the floor is 10 000 ids above first_id at this time


class FieldsEmulator(Emulator):
    """Takes string and number fields on ``people``, one unique field at most; forgets them on reset."""

    prefix = "acme"
    resources = ("people", "deals")
    first_id = 100

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.custom: dict[str, DeclaredField] = {}

    def declare_field(self, declared: DeclaredField) -> None:
        if declared.object != "people":
            raise SchemaRefused(f"{declared.object} takes no custom field")
        if declared.type not in ("string", "number"):
            raise SchemaRefused(f"unknown type {declared.type!r}; use string or number")
        if declared.name in self.custom:
            raise SchemaRefused(f"{declared.name} exists")
        if declared.unique and any(f.unique for f in self.custom.values()):
            raise SchemaRefused("one unique field at most")
        self.custom[declared.name] = declared

    def reset(self) -> None:
        super().reset()
        self.custom = {}

    @route("POST", r"/people", "people.create")
    def create(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(201, self.store.insert("people", self.json_object(request)))


def fields_server(**options: Any) -> SandboxServer:
    return SandboxServer(emulators=[FieldsEmulator()], **options)


# -- ids -------------------------------------------------------------------------


def test_a_store_without_a_reservation_counts_from_first_id_as_before() -> None:
    store = RecordStore(["a"], first_id=5)
    assert [store.insert("a", {})["id"] for _ in range(3)] == [5, 6, 7]
    store.reset()
    assert store.insert("a", {})["id"] == 8


def test_ids_are_never_given_twice_across_restarts(tmp_path: Path) -> None:
    given: list[int] = []
    for _ in range(3):  # three runs on one state directory, at the same instant (no help from the floor)
        ledger = IdLedger.open(tmp_path, block=4, clock=lambda: NOW)
        store = RecordStore(["a"], first_id=1)
        store.persist_ids(ledger.reservation("toy"))
        given += [store.insert("a", {})["id"] for _ in range(6)]
        ledger.close()  # as a killed process: nothing is written at the end of a run
    assert len(given) == len(set(given)) == 18
    assert given[0] == 1 + time_floor(NOW)


def test_ledger_reserves_before_it_hands_out_an_id(tmp_path: Path) -> None:
    ledger = IdLedger.open(tmp_path, block=10, clock=lambda: FLOOR_EPOCH)
    store = RecordStore(["a", "b"], first_id=1)
    store.persist_ids(ledger.reservation("toy"))
    first = store.insert("a", {})["id"]
    on_disk = json.loads((tmp_path / "ids.json").read_text())
    assert on_disk == {"version": 1, "ceilings": {"toy": {"a": first + 10}}}
    assert [store.insert("a", {})["id"] for _ in range(10)][-1] == first + 10
    assert json.loads((tmp_path / "ids.json").read_text())["ceilings"]["toy"]["a"] == first + 20
    assert not list(tmp_path.glob(".ids-*"))  # no temporary file left behind
    ledger.close()


def test_time_floor_keeps_a_fresh_state_directory_clear_of_an_earlier_run(tmp_path: Path) -> None:
    earlier = IdLedger.open(tmp_path / "one", clock=lambda: NOW)
    store = RecordStore(["a"], first_id=1)
    store.persist_ids(earlier.reservation("toy"))
    earlier_ids = {store.insert("a", {})["id"] for _ in range(50)}
    earlier.close()
    later = IdLedger.open(tmp_path / "two", clock=lambda: NOW + 60)  # the ledger is lost; a minute went by
    fresh = RecordStore(["a"], first_id=1)
    fresh.persist_ids(later.reservation("toy"))
    assert fresh.insert("a", {})["id"] > max(earlier_ids)
    later.close()


def test_a_state_directory_in_use_is_refused(tmp_path: Path) -> None:
    first = IdLedger.open(tmp_path)
    with pytest.raises(SandboxStateError, match="in use by another sandbox"):
        IdLedger.open(tmp_path)
    first.close()
    IdLedger.open(tmp_path).close()


@pytest.mark.parametrize(
    "content, key",
    [
        ("{not json", "not valid JSON"),
        ('{"ceilings": []}', "ceilings"),
        ('{"ceilings": {"toy": {"a": "x"}}}', "ceilings.toy.a"),
    ],
)
def test_a_damaged_ledger_is_a_clear_error(tmp_path: Path, content: str, key: str) -> None:
    (tmp_path / "ids.json").write_text(content)
    with pytest.raises(SandboxStateError, match=key) as caught:
        IdLedger.open(tmp_path)
    assert str(tmp_path / "ids.json") in str(caught.value)
    IdLedger.open(tmp_path / "elsewhere").close()


def test_sandbox_server_with_a_state_dir_never_reuses_ids_after_a_restart(tmp_path: Path) -> None:
    seen: list[int] = []
    for _ in range(2):
        with fields_server(state_dir=tmp_path) as server:
            for _ in range(3):
                seen.append(requests.post(f"{server.url}/acme/people", json={"n": 1}, timeout=5).json()["id"])
            server.reset()
            seen.append(requests.post(f"{server.url}/acme/people", json={"n": 1}, timeout=5).json()["id"])
    assert len(seen) == len(set(seen)) == 8


def test_every_registered_emulator_takes_its_ids_from_the_ledger(tmp_path: Path) -> None:
    server = SandboxServer(state_dir=tmp_path)
    try:
        for name in server.prefixes:
            store = server.emulator(name).store
            for resource in store.resources:
                assert store.next_id(resource) >= server.emulator(name).first_id + time_floor(FLOOR_EPOCH + 1)
    finally:
        server.stop()


# -- declared fields ---------------------------------------------------------------


def test_base_emulator_refuses_declarations() -> None:
    class Plain(Emulator):
        prefix = "plain"
        resources = ("things",)

    with pytest.raises(SchemaRefused, match="no custom fields"):
        Plain().declare(DeclaredField("things", "tier"))


def test_declared_fields_are_listed_by_describe_and_kept_through_a_server_reset() -> None:
    with fields_server(
        schema={"acme": {"people": [{"name": "tier"}, {"name": "ext", "type": "number", "unique": True}]}}
    ) as server:
        emulator = server.emulator("acme")
        assert [f["name"] for f in emulator.describe()["declared_fields"]] == ["tier", "ext"]
        assert emulator.declared_fields[1] == DeclaredField("people", "ext", "number", True)
        server.reset()
        assert set(emulator.custom) == {"tier", "ext"}  # the emulator forgot them; the server declared them again
        emulator.declare(DeclaredField("people", "tier"))  # the same declaration twice: a no-op


def test_schema_file_errors_name_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.yml"
    path.write_text(
        "nosuchcrm:\n  people: []\nacme:\n  nosuchobject: []\n  people:\n"
        "    - {type: string}\n    - {name: x, colour: red}\n    - {name: y, unique: maybe}\n"
    )
    with pytest.raises(ConfigError) as caught:
        fields_server(schema=path)
    text = str(caught.value)
    for expected in (
        "5 configuration errors",
        f"{path}, key 'nosuchcrm': unknown CRM; the sandbox serves acme",
        "key 'acme.nosuchobject': unknown object; acme has people, deals",
        "key 'acme.people[0]': a field needs a name",
        "key 'acme.people[1]': unknown key(s) colour",
        "key 'acme.people[2]': unique must be true or false",
    ):
        assert expected in text


def test_schema_refusals_by_the_emulator_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.yml"
    path.write_text("acme:\n  deals: [amount_band]\n  people:\n    - {name: tier, type: colour}\n    - ok\n")
    with pytest.raises(ConfigError) as caught:
        fields_server(schema=str(path))
    text = str(caught.value)
    assert "key 'acme.deals[0]': field 'amount_band' refused by the acme emulator: deals takes no custom field" in text
    assert "key 'acme.people[0]': field 'tier' refused by the acme emulator: unknown type 'colour'" in text
    assert "people[1]" not in text


def test_an_unknown_crm_and_a_refused_field_are_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.yml"
    path.write_text("zoho:\n  people: []\nacme:\n  people:\n    - {name: tier, type: colour}\n")
    with pytest.raises(ConfigError) as caught:
        fields_server(schema=str(path))
    text = str(caught.value)
    assert "2 configuration errors" in text and "key 'zoho': unknown CRM" in text
    assert "key 'acme.people[0]': field 'tier' refused by the acme emulator: unknown type 'colour'" in text


@pytest.mark.parametrize(
    "content, message",
    [
        ("a: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("acme: [1]\n", "must be a mapping: object"),
    ],
)
def test_a_malformed_schema_file_is_a_config_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "s.yml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_schema(path, {"acme": FieldsEmulator()})
    with pytest.raises(ConfigError, match="cannot read"):
        load_schema(tmp_path / "missing.yml", {"acme": FieldsEmulator()})


def test_an_empty_schema_file_declares_nothing(tmp_path: Path) -> None:
    (tmp_path / "s.yml").write_text("# nothing yet\n")
    assert load_schema(tmp_path / "s.yml", {"acme": FieldsEmulator()}) == ()


def test_admin_api_declares_and_lists_fields() -> None:
    with fields_server() as server:
        url = f"{server.url}/_admin/fields"
        answer = requests.post(
            url, json={"prefix": "acme", "object": "people", "name": "tier", "type": "number"}, timeout=5
        )
        assert answer.status_code == 201
        assert answer.json()["acme"] == [{"object": "people", "name": "tier", "type": "number", "unique": False}]
        refused = requests.post(
            url, json=[{"prefix": "acme", "object": "people", "name": "x", "type": "colour"}], timeout=5
        )
        assert refused.status_code == 400 and "unknown type 'colour'" in refused.json()["error"]
        assert requests.post(url, json={"prefix": "acme", "object": "people"}, timeout=5).status_code == 400
        assert (
            requests.post(url, json={"prefix": "nope", "object": "people", "name": "x"}, timeout=5).status_code == 404
        )
        assert [f["name"] for f in requests.get(url, timeout=5).json()["acme"]] == ["tier"]
        emulators = requests.get(f"{server.url}/_admin/emulators", timeout=5).json()["emulators"]
        assert emulators[0]["declared_fields"][0]["name"] == "tier"


# -- ports ---------------------------------------------------------------------------


def test_a_busy_port_is_a_usage_error_naming_the_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = fields_server(port=port)
        with pytest.raises(PortUnavailable, match=f"port {port} on 127.0.0.1 is already in use") as caught:
            server.start()
        assert isinstance(caught.value, UsageError)


def test_port_zero_picks_a_free_port() -> None:
    with fields_server(port=0) as server:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
