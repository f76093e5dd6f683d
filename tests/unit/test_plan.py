from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest

from dbt_revsync import plan
from dbt_revsync.model import Change, ChangeRow
from tests.factories import accounts_sync


def row(status: str, **values: Any) -> ChangeRow:
    return ChangeRow(
        1,
        status,
        "99" if status != "new" else None,
        "7",
        "h",
        "7",
        None,
        {"id": 7.0, "name": "N", "score": None, **values},
    )


@pytest.mark.parametrize(
    "mode, status, op",
    [
        ("append", "new", "create"),
        ("append", "changed", None),
        ("append", "removed", None),
        ("update", "new", "update"),
        ("update", "changed", "update"),
        ("update", "removed", None),
        ("upsert", "new", "upsert"),
        ("upsert", "changed", "upsert"),
        ("upsert", "removed", None),
        ("delete", "new", "delete"),
        ("delete", "changed", None),
        ("delete", "removed", None),
        ("mirror", "new", "upsert"),
        ("mirror", "changed", "upsert"),
        ("mirror", "removed", "delete"),
    ],
)
def test_insert_mode_table(mode: str, status: str, op: str | None) -> None:
    decided = plan.decide(accounts_sync(mode), row(status))
    assert (decided.op if isinstance(decided, Change) else decided) == op


def test_a_removed_row_deletes_by_the_remembered_id() -> None:
    decided = plan.decide(accounts_sync("mirror"), row("removed"))
    assert isinstance(decided, Change) and decided.remote_id == "99" and decided.fields == {}


@pytest.mark.parametrize(
    "status, code",
    [
        ("reject_null_key", "null_primary_key"),
        ("reject_duplicate_key", "duplicate_primary_key"),
        ("reject_null_upsert_key", "null_upsert_key"),
        ("reject_duplicate_upsert_key", "duplicate_upsert_key"),
    ],
)
def test_diff_rejects_carry_a_code_and_a_reason(status: str, code: str) -> None:
    decided = plan.decide(accounts_sync(), row(status))
    assert isinstance(decided, plan.PlannedReject) and decided.code == code and decided.message


def test_payload_nests_dotted_paths_and_key_columns_travel_as_key_text() -> None:
    decided = plan.decide(accounts_sync(), row("new", name="  Acme  ", score=decimal.Decimal("4.50")))
    assert isinstance(decided, Change)
    assert decided.fields == {
        "name": "  Acme  ",
        "custom_field": {"cf_id": "7", "cf_score": 4.5},
    }  # text as the model holds it
    assert decided.upsert_value == "7"


def test_nulls_skip_leaves_out_nulls_and_blanks_overwrite_sends_them() -> None:
    values = {"id": 1, "name": "   ", "score": None}
    assert plan.payload(accounts_sync(), values) == {"custom_field": {"cf_id": "1"}}
    assert plan.payload(accounts_sync(nulls="overwrite"), values) == {
        "name": None,
        "custom_field": {"cf_id": "1", "cf_score": None},
    }


@pytest.mark.parametrize(
    "value, text",
    [
        (12345.0, "12345"),
        (" 12345 ", "12345"),
        ("12345.000", "12345"),
        ("-7.0", "-7"),
        (decimal.Decimal("10.00"), "10"),
        ("AbC", "AbC"),
        ("1.5", "1.5"),
        (12.5, "12.5"),
        ("", None),
        ("  ", None),
        (None, None),
        (42, "42"),
        ("v1.0", "v1.0"),
    ],
)
def test_key_text(value: Any, text: str | None) -> None:
    assert plan.key_text(value) == text


@pytest.mark.parametrize(
    "value, text",
    [
        ("\tA1", "A1"),
        ("A1\r\n", "A1"),
        (" \t\r\n A1 \n", "A1"),
        ("A\tB", "A B"),
        ("A\r\nB", "A  B"),
        ("\t10042.0\n", "10042"),
        ("-3.00", "-3"),
        ("007", "007"),
        ("007.0", "007"),
        ("-0.0", "-0"),
        ("3.", "3."),
        (".0", ".0"),
        ("+3.0", "+3.0"),
        ("O'Brien", "O'Brien"),
        ("back\\slash", "back\\slash"),
        ("trailing\\", "trailing\\"),
        ("\u00a0A1\u00a0", "\u00a0A1\u00a0"),
        ("\u2003A1", "\u2003A1"),
        ("\x0bA1", "\x0bA1"),
        ("\u0661.0", "\u0661.0"),
        ("\t\r\n", None),
        (10042.0, "10042"),
    ],
)
def test_key_text_treats_tabs_and_line_breaks_as_spaces_and_trims_nothing_else(value: Any, text: str | None) -> None:
    """The diff SQL's normalisation (``revsync_key_text``; compared on real warehouses in test_diff)."""
    assert plan.key_text(value) == text


@pytest.mark.parametrize(
    "value, cleaned",
    [
        (dt.date(2024, 1, 2), "2024-01-02"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (decimal.Decimal("3"), 3),
        (float("nan"), None),
        (True, True),
        ([" a ", None], [" a ", None]),
        (" b ", " b "),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (b"\x00\x01", "AAE="),
    ],
)
def test_values_become_json(value: Any, cleaned: Any) -> None:
    assert plan.payload(accounts_sync(nulls="overwrite"), {"id": "1", "name": value})["name"] == cleaned


def test_text_values_are_sent_untrimmed_only_keys_are_trimmed() -> None:
    values = {"id": " 1 ", "name": "  Acme  ", "score": "  "}
    assert plan.payload(accounts_sync(), values) == {"name": "  Acme  ", "custom_field": {"cf_id": "1"}}
    assert plan.payload(accounts_sync(nulls="overwrite"), values) == {
        "name": "  Acme  ",
        "custom_field": {"cf_id": "1", "cf_score": None},
    }


@pytest.mark.parametrize("empty", [[], [None], ["", "  "], ()])
def test_nulls_skip_leaves_out_an_empty_list(empty: Any) -> None:
    values = {"id": 1, "name": "N", "score": list(empty)}
    assert plan.payload(accounts_sync(), values) == {"name": "N", "custom_field": {"cf_id": "1"}}
    assert plan.payload(accounts_sync(nulls="overwrite"), values)["custom_field"]["cf_score"] == []
    assert plan.payload(accounts_sync(nulls="skip_until_linked"), values, linked=False) == {
        "name": "N",
        "custom_field": {"cf_id": "1"},
    }
    assert plan.payload(accounts_sync(nulls="skip_until_linked"), values, linked=True)["custom_field"]["cf_score"] == []
