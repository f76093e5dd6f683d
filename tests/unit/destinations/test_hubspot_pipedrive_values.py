"""How the HubSpot and Pipedrive connectors word values and read rate-limit headers (pure)."""

from __future__ import annotations

import pytest

from dbt_revsync.crms.hubspot import connector as hubspot
from dbt_revsync.crms.pipedrive import connector as pipedrive
from dbt_revsync.crms.pipedrive.connector import CustomField, custom_name, custom_value


@pytest.mark.parametrize(
    ("value", "kind", "sent"),
    [
        (None, "string", ""),
        (True, "bool", "true"),
        (False, "bool", "false"),
        (12, "number", "12"),
        (12.0, "number", "12"),
        (12.5, "number", "12.5"),
        (["golf", None, "tea"], "enumeration", "golf;tea"),
        ("2024-03-05", "date", "1709596800000"),  # midnight UTC
        ("2024-03-05T10:30:00", "datetime", "1709634600000"),  # no offset: UTC
        ("2024-03-05T10:30:00+01:00", "datetime", "1709631000000"),
        ("Acme", "string", "Acme"),
        ("2024-03-05 is a date", "date", "2024-03-05 is a date"),
        ({"b": 1, "a": 2}, "string", '{"a": 2, "b": 1}'),
    ],
)
def test_hubspot_property_values_are_strings(value: object, kind: str, sent: str) -> None:
    assert hubspot.property_value(value, kind) == sent


@pytest.mark.parametrize("kind", ["string", "enumeration", "number", None])
@pytest.mark.parametrize("text", ["2024-03-05", "2024-03-05T10:30:00Z", "2023-02-29"])
def test_a_date_shaped_value_of_a_text_property_travels_as_its_text(text: str, kind: str | None) -> None:
    """Only date and date-time properties take epoch milliseconds; a property of another type
    (or one whose type is unknown: the property list could not be read) keeps the text."""
    assert hubspot.property_value(text, kind) == text
    assert hubspot.properties({"code": text, "since": "2024-03-05"}, {"code": kind or "string", "since": "date"}) == {
        "code": text,
        "since": "1709596800000",
    }


def test_hubspot_waits_a_window_only_when_none_is_left() -> None:
    assert (
        hubspot.HubSpotDestination.throttle_hint(
            {"X-HubSpot-RateLimit-Remaining": "3", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
        )
        is None
    )
    assert (
        hubspot.HubSpotDestination.throttle_hint(
            {"x-hubspot-ratelimit-remaining": "0", "x-hubspot-ratelimit-interval-milliseconds": "10000"}
        )
        == 10.0
    )
    assert hubspot.HubSpotDestination.throttle_hint({}) is None


def test_pipedrive_waits_for_the_reset_only_when_none_is_left() -> None:
    assert (
        pipedrive.PipedriveDestination.throttle_hint({"x-ratelimit-remaining": "5", "x-ratelimit-reset": "2"}) is None
    )
    assert pipedrive.PipedriveDestination.throttle_hint({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2"}) == 2.0
    assert pipedrive.PipedriveDestination.throttle_hint({}) is None


SET = CustomField("Regions", "f" * 40, "set", {"emea": 1, "apac": 2})
ENUM = CustomField("Tier", "e" * 40, "enum", {"gold": 1, "silver": 2})


@pytest.mark.parametrize(
    ("field", "value", "sent"),
    [
        (SET, ["EMEA", "apac"], [1, 2]),
        (SET, "EMEA, APAC", [1, 2]),
        (SET, [], None),  # [] is a validation error in v2: null clears
        (SET, None, None),
        (SET, [2], [2]),
        (ENUM, "Silver", 2),
        (ENUM, 1, 1),
        (ENUM, None, None),
        (CustomField("Note", "n" * 40, "varchar", {}), "as is", "as is"),
    ],
)
def test_pipedrive_option_labels_become_ids(field: CustomField, value: object, sent: object) -> None:
    assert custom_value(field, value) == sent


def test_pipedrive_an_unknown_option_is_a_reason_to_reject() -> None:
    with pytest.raises(ValueError, match="'Bronze' is not an option of the Pipedrive field 'Tier'"):
        custom_value(ENUM, "Bronze")


def test_pipedrive_custom_field_names_in_yaml() -> None:
    standard = {"name", "owner_id"}
    assert custom_name(("custom_fields", "Account ID"), standard) == "Account ID"
    assert custom_name(("custom_fields", "v1", "2"), standard) == "v1.2"  # a name with a dot
    assert custom_name(("Account ID",), standard) == "Account ID"
    assert custom_name(("name",), standard) is None
    assert custom_name(("address", "locality"), standard) is None


def test_hubspot_batch_that_fails_as_a_whole_leaves_each_of_its_records_for_next_time() -> None:
    import json
    from types import MappingProxyType

    from dbt_revsync.delivery import HttpClient, RetryPolicy
    from dbt_revsync.model import Change, Connection, FieldMap, NodeRef, SyncSpec

    def answers(
        method: str, url: str, headers: object, body: bytes | None, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        inputs = json.loads(body or b"{}")["inputs"]
        if url.endswith("/batch/create"):  # a 207: the first input created, the second not mentioned
            first = {"id": "1", "objectWriteTraceId": inputs[0]["objectWriteTraceId"], "properties": {}}
            return 207, {}, json.dumps({"status": "COMPLETE", "results": [first]}).encode()
        return 503, {}, b"{}"

    conn = Connection("hs", "hubspot", MappingProxyType({"access_token": "t"}), base_url="http://127.0.0.1:1")
    node = NodeRef("model.p.m", "m", "model", "models/s.yml", None, "main", "m")
    sync = SyncSpec("s", node, conn, "companies", "upsert", ("id",), (FieldMap("name", "name"),), upsert_key="domain")
    dest = hubspot.HubSpotDestination(
        conn, HttpClient(transport=answers, sleep=lambda s: None, policy=RetryPolicy(max_attempts=2))
    )
    created = [Change("create", k, {"name": k}) for k in ("a", "b")]
    upserts = [Change("upsert", k, {"name": k}, upsert_value=f"{k}.example") for k in ("c", "d", "e")]
    result = dest.send(sync, created + upserts)
    assert [a.key for a in result.acked] == ["a"]
    assert [record.key for record in result.left] == ["b", "c", "d", "e"]  # each row, so the run counts rows
