"""Pure parts of the Salesforce and Freshsuccess connectors: payloads, answers, batching."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from dbt_revsync.crms.freshsuccess.connector import FreshsuccessDestination, epoch_ms, failures, to_record
from dbt_revsync.crms.salesforce.bulk import BulkJob, cell, flatten, parse_error
from dbt_revsync.crms.salesforce.connector import SalesforceDestination, save_error, soql_literal
from dbt_revsync.crms.salesforce.facts import error_of
from dbt_revsync.delivery import HttpClient, Reply
from dbt_revsync.errors import DestinationError
from dbt_revsync.model import Change, Connection
from tests.factories import connection, sync_spec

# ---- Salesforce ---------------------------------------------------------------------------


def test_salesforce_takes_bulk_chunks_only_for_big_pushes() -> None:
    conn = connection("salesforce", access_token="t", bulk_threshold=1000, bulk_batch_size=5000)
    dest = SalesforceDestination(conn, HttpClient())
    assert dest.batch_size_for(sync_spec(conn, "Account"), 1000) == 200
    assert dest.batch_size_for(sync_spec(conn, "Account", batch_size=50), 10) == 50
    assert dest.batch_size_for(sync_spec(conn, "Account"), 1001) == 5000


def test_salesforce_connection_needs_a_way_to_a_token() -> None:
    assert SalesforceDestination.check_connection(connection("salesforce")) != []
    assert SalesforceDestination.check_connection(connection("salesforce", refresh_token="r", client_id="c")) == []
    assert SalesforceDestination.check_connection(connection("salesforce", client_id="c", client_secret="s")) == []
    assert (
        SalesforceDestination.check_connection(connection("salesforce", access_token="t", bulk_threshold="many")) != []
    )


def test_salesforce_token_url_follows_the_api_root() -> None:
    conn = Connection("sf", "salesforce", MappingProxyType({"access_token": "t", "my_domain": "acme"}))
    dest = SalesforceDestination(conn, HttpClient())
    assert dest.root == "https://acme.my.salesforce.com/services/data/v62.0"
    assert dest.token_url == "https://acme.my.salesforce.com/services/oauth2/token"


def test_save_results_and_top_level_errors_read_as_code_and_message() -> None:
    save = {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [Name]",
                "fields": ["Name"],
            }
        ],
    }
    assert save_error(save) == ("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]")
    other = {
        "errors": [{"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Too big", "fields": ["Amount"]}]
    }
    assert save_error(other) == ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Too big (fields: Amount)")
    reply = Reply(400, {}, b'[{"message": "No such column", "errorCode": "INVALID_FIELD"}]')
    assert error_of(reply) == ("INVALID_FIELD", "No such column")
    assert soql_literal("it's \\") == "'it\\'s \\\\'"


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
            ("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]"),
        ),
        (
            "DUPLICATE_EXTERNAL_ID:Ext__c: more than one record found for external id field: [a, b]:Ext__c --",
            ("DUPLICATE_EXTERNAL_ID", "Ext__c: more than one record found for external id field: [a, b]"),
        ),
        (
            "INVALID_EMAIL_ADDRESS:Email: invalid email address: x:Email --",
            ("INVALID_EMAIL_ADDRESS", "Email: invalid email address: x"),
        ),
        ("something odd", ("BULK_ERROR", "something odd")),
    ],
)
def test_bulk_errors_split_into_code_and_message(text: str, expected: tuple[str, str]) -> None:
    assert parse_error(text) == expected


def test_bulk_csv_flattens_relationships_and_marks_nulls() -> None:
    assert flatten({"Name": "A", "Account": {"Ext__c": 7}}) == {"Name": "A", "Account.Ext__c": 7}
    assert [cell({"a": None}, "a"), cell({}, "a"), cell({"a": True}, "a"), cell({"a": ["x", "y"]}, "a")] == [
        "#N/A",
        "",
        "true",
        "x;y",
    ]
    conn = connection("salesforce", access_token="t")
    changes = [
        Change("update", "1", {"Name": 'Quote "q", comma'}, "001A"),
        Change("update", "2", {"BillingCity": "Oslo"}, "001B"),
    ]
    job = BulkJob(SalesforceDestination(conn, HttpClient()), sync_spec(conn, "Account"), "update", changes, None)  # type: ignore[arg-type]
    assert job.csv().decode() == 'Id,Name,BillingCity\n001A,"Quote ""q"", comma",\n001B,,Oslo\n'


# ---- Freshsuccess ----------------------------------------------------------------------------


def test_freshsuccess_records_carry_text_ids_epoch_dates_and_dimension_lists() -> None:
    fields = {
        "account_id": 12345.0,
        "name": "Acme",
        "join_date": "2024-03-01",
        "custom_label_dimensions": {"tier": "gold"},
        "custom_event_dimensions": {"renewal": "2025-01-01T00:00:00"},
        "custom_value_dimensions": {"arr": 12.5},
    }
    record, problem = to_record("accounts", fields)
    assert problem is None
    assert record == {
        "account_id": "12345",
        "name": "Acme",
        "join_date": 1709251200000,
        "custom_label_dimensions": [{"key": "tier", "value": "gold"}],
        "custom_event_dimensions": [{"key": "renewal", "value": 1735689600000}],
        "custom_value_dimensions": [{"key": "arr", "value": 12.5}],
    }
    assert (
        to_record("accounts", {"account_id": "1", "name": "A"})[1]
        == "Missing/invalid required field(s) for accounts: 'join_date'"
    )
    assert epoch_ms("2024-03-01 10:00:00+02:00") == 1709280000000 and epoch_ms(5) == 5


def test_freshsuccess_failures_map_by_index_then_by_key() -> None:
    records = [
        {"account_id": "a", "user_id": "1"},
        {"account_id": "a", "user_id": "2"},
        {"account_id": "b", "user_id": "3"},
    ]
    found = failures(
        [{"message": "Account not found", "account_id": "a", "record": 1}, {"message": "Bad", "user_id": "3"}],
        records,
        "user_id",
    )
    assert found == {1: "Account not found", 2: "Bad"}


def test_freshsuccess_checks_keys_modes_and_required_fields() -> None:
    conn = connection("freshsuccess", api_key="k")
    good = sync_spec(
        conn,
        "accounts",
        fields={"account_id": "id", "name": "n", "join_date": "d", "custom_label_dimensions.tier": "t"},
        upsert_key="account_id",
    )
    assert FreshsuccessDestination.check_spec(good) == []
    wrong = sync_spec(
        conn,
        "accounts",
        "update",
        upsert_key="name",
        fields={"account_id": "id", "name": "n", "custom_label_dimensions": "x"},
    )
    messages = [key for _, key in FreshsuccessDestination.check_spec(wrong)]
    assert messages == ["insert_mode", "upsert_key", "fields", "fields.custom_label_dimensions"]
    assert FreshsuccessDestination.check_spec(sync_spec(conn, "deals")) != []


def test_salesforce_lists_an_objects_fields_from_describe() -> None:
    from dbt_revsync.crms.salesforce.emulator import DEFAULT_TOKEN, SalesforceEmulator
    from dbt_revsync.sandbox import SandboxServer

    with SandboxServer(emulators=[SalesforceEmulator()]) as server:
        conn = Connection(
            "sf",
            "salesforce",
            MappingProxyType({"access_token": DEFAULT_TOKEN}),
            base_url=f"{server.url}/salesforce/services/data/v62.0",
        )
        dest = SalesforceDestination(conn, HttpClient())
        names = dest.list_fields(sync_spec(conn, "Contact"))
        assert names is not None and {"Id", "LastName", "Email", "AccountId", "Account", "Ext_Id__c"} <= names
        assert "Bogus__c" not in names
        with pytest.raises(DestinationError):
            dest.list_fields(sync_spec(conn, "Nope"))
