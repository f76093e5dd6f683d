"""Every registered CRM is whole: a connector, an emulator, a docs page and a conformance
module that runs the destination conformance suite against that emulator."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from dbt_revsync.crms import Crm, destination_class, emulator_class, registry
from dbt_revsync.destinations.base import Destination
from dbt_revsync.sandbox import Emulator
from dbt_revsync.testing import DestinationConformance

REPO = Path(__file__).resolve().parents[2]
CRMS = sorted(registry().values(), key=lambda record: record.name)


def test_the_registry_holds_every_crm_the_product_ships() -> None:
    assert {"freshdesk", "freshsales", "freshsuccess", "http", "hubspot", "pipedrive", "salesforce"} <= set(registry())


@pytest.mark.parametrize("record", CRMS, ids=[r.name for r in CRMS])
def test_a_registered_crm_has_a_connector_for_its_connection_type(record: Crm) -> None:
    cls = destination_class(record.name)
    assert inspect.isclass(cls) and issubclass(cls, Destination), record.destination
    assert cls.type_name == record.name


@pytest.mark.parametrize("record", CRMS, ids=[r.name for r in CRMS])
def test_a_registered_crm_has_an_emulator_served_under_its_prefix(record: Crm) -> None:
    cls = emulator_class(record.sandbox_prefix)
    assert inspect.isclass(cls) and issubclass(cls, Emulator), record.emulator
    assert cls.prefix == record.sandbox_prefix
    assert cls.default_api_keys, "the emulator accepts a sandbox credential"


@pytest.mark.parametrize("record", CRMS, ids=[r.name for r in CRMS])
def test_a_registered_crm_has_its_docs_page(record: Crm) -> None:
    page = REPO / "docs" / record.docs
    assert page.is_file(), f"{record.name}: no docs page docs/{record.docs}"
    assert page.read_text(encoding="utf-8").strip(), f"docs/{record.docs} is empty"


@pytest.mark.parametrize("record", CRMS, ids=[r.name for r in CRMS])
def test_a_registered_crm_runs_the_conformance_suite(record: Crm) -> None:
    path = Path(__file__).with_name(f"test_{record.name}.py")
    assert path.is_file(), f"{record.name}: no conformance module tests/conformance/{path.name}"
    module = importlib.import_module(f"{__package__}.test_{record.name}")
    suites = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, DestinationConformance) and value is not DestinationConformance
    ]
    assert [suite.crm for suite in suites if suite.__module__ == module.__name__] == [record.name], (
        f"{path.name} subclasses DestinationConformance once, for {record.name}"
    )
