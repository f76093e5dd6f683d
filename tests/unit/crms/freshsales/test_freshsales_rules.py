"""Freshsales: pacing by plan, upsert keys that must be unique fields, and the sandbox's custom fields."""

from __future__ import annotations

from typing import Any

import pytest

from dbt_revsync.crms.freshsales.connector import FreshsalesDestination, is_unique
from dbt_revsync.crms.freshsales.emulator import FreshsalesEmulator
from dbt_revsync.delivery import BudgetSpent, HttpClient, Window
from dbt_revsync.model import Change, SyncSpec
from dbt_revsync.sandbox import DeclaredField, Limits, SandboxRequest, SchemaRefused
from tests import factories

KEY = "sandbox-freshsales-key"
FS = factories.connection("freshsales", "fs", api_key="k")


def spec(obj: str = "sales_accounts", mode: str = "upsert", upsert_key: str | None = "cf_account_id") -> SyncSpec:
    return factories.sync_spec(FS, obj, mode, {"name": "name", "custom_field.cf_account_id": "id"}, upsert_key)


# ---- pacing by plan -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "hourly"), [(None, 1000), ("free", 1000), ("growth", 1000), ("pro", 2000), ("enterprise", 5000)]
)
def test_windows_follow_the_plan_with_the_strictest_as_default(plan: str | None, hourly: int) -> None:
    conn = factories.connection("freshsales", "fs", api_key="k", **({"plan": plan} if plan else {}))
    assert FreshsalesDestination.windows(conn) == {"": (Window(hourly, 3600), Window(400, 60))}
    assert FreshsalesDestination.check_connection(conn) == []


def test_an_unknown_plan_is_named_with_the_allowed_values() -> None:
    problems = FreshsalesDestination.check_connection(
        factories.connection("freshsales", "fs", api_key="k", plan="Garden")
    )
    wanted = (
        "'plan' must be one of free, growth, pro, enterprise (the Freshsales plan, which sets the "
        "hourly API limit), got 'Garden'"
    )
    assert problems == [wanted]


def test_a_spent_hour_leaves_the_rest_of_the_batch_without_sending() -> None:
    sent: list[str] = []

    def transport(method: str, url: str, *_: Any) -> tuple[int, dict[str, str], bytes]:
        sent.append(url)
        return 201, {}, b'{"sales_account": {"id": 7}}'

    now = [0.0]
    http = HttpClient(
        transport=transport,
        clock=lambda: now[0],
        sleep=lambda s: None,
        windows={"": (Window(2, 3600), Window(400, 60))},
    )
    destination = FreshsalesDestination(FS, http)
    changes = [Change("upsert", str(i), {"name": f"n{i}"}, upsert_value=str(i)) for i in range(5)]
    result = destination.send(spec(), changes)
    assert len(sent) == 2 and len(result.acked) == 2
    assert sorted(result.left_keys) == ["2", "3", "4"] and result.rejected == []
    assert http.budget_spent is not None and "2 requests per hour is spent" in http.budget_spent
    now[0] = 3600.0
    assert http.budget_spent is None  # the hour has passed


def test_budget_spent_says_how_long_to_wait() -> None:
    http = HttpClient(
        transport=lambda *a: (200, {}, b"{}"), clock=lambda: 0.0, sleep=lambda s: None, windows={"": (Window(1, 3600),)}
    )
    http.request("GET", "https://x.test/a")
    with pytest.raises(BudgetSpent) as spent:
        http.request("GET", "https://x.test/b")
    assert spent.value.wait == 3600.0


# ---- unique upsert keys ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ["owner_id", "tags", "id", "custom_field.cf_x.y"])
def test_validate_refuses_an_upsert_key_that_can_never_be_unique(key: str) -> None:
    problems = FreshsalesDestination.check_spec(spec(upsert_key=key))
    assert [k for _, k in problems] == ["upsert_key"]
    assert problems[0][0].startswith(
        "Freshsales upserts by a field marked unique in Admin Settings (text or number; "
        "at most 2 unique fields on sales_accounts; unique by default: name)"
    )


@pytest.mark.parametrize(
    ("obj", "key"),
    [
        ("sales_accounts", "name"),
        ("sales_accounts", "cf_account_id"),
        ("contacts", "emails"),
        ("contacts", "external_id"),
        ("sales_accounts", "custom_field.cf_ref"),
    ],
)
def test_validate_lets_through_what_freshsales_may_hold_unique(obj: str, key: str) -> None:
    assert FreshsalesDestination.check_spec(spec(obj, upsert_key=key)) == []


def test_only_upserting_modes_need_a_unique_key() -> None:
    assert FreshsalesDestination.check_spec(spec(mode="update", upsert_key="id")) == []


def test_only_an_explicit_unique_marker_counts() -> None:
    assert is_unique({"name": "cf_a", "unique": True}) and is_unique(
        {"name": "cf_a", "field_options": {"unique": True}}
    )
    assert not is_unique({"name": "cf_a"}) and not is_unique({"name": "cf_a", "unique": "true"})


def fields_answer(*fields: dict[str, Any]) -> Any:
    import json

    def transport(method: str, url: str, *_: Any) -> tuple[int, dict[str, str], bytes]:
        return 200, {}, json.dumps({"fields": list(fields)}).encode()

    return transport


@pytest.mark.parametrize(
    ("fields", "wanted"),
    [
        ([{"name": "cf_account_id", "unique": False}], "'cf_account_id' is not marked unique in fs.sales_accounts"),
        ([{"name": "cf_account_id"}], "'cf_account_id' is not marked unique in fs.sales_accounts"),
        ([{"name": "name", "unique": True}], "'cf_account_id' is not a field of fs.sales_accounts"),
        ([{"name": "cf_account_id", "unique": True}], None),
    ],
)
def test_validate_remote_reads_the_unique_marker_of_the_field_list(
    fields: list[dict[str, Any]], wanted: str | None
) -> None:
    destination = FreshsalesDestination(FS, HttpClient(transport=fields_answer(*fields)))
    issues = destination.remote_issues(spec())
    if wanted is None:
        assert issues == []
    else:
        assert len(issues) == 1 and wanted in issues[0].message and issues[0].key.endswith("upsert_key")


def test_validate_remote_knows_a_contact_email_by_either_name() -> None:
    destination = FreshsalesDestination(FS, HttpClient(transport=fields_answer({"name": "emails", "unique": True})))
    assert destination.remote_issues(spec("contacts", upsert_key="email")) == []


# ---- the sandbox ----------------------------------------------------------------------------


def call(emulator: FreshsalesEmulator, method: str, path: str, body: Any = None) -> Any:
    return emulator.handle(SandboxRequest(method, path, headers={"Authorization": f"Token token={KEY}"}, json=body))


def test_the_sandbox_refuses_an_upsert_by_a_field_not_marked_unique() -> None:
    emulator = FreshsalesEmulator()
    answer = call(
        emulator,
        "POST",
        "/sales_accounts/upsert",
        {"unique_identifier": {"cf_plan": "gold"}, "sales_account": {"name": "A"}},
    )
    assert answer.status == 400 and answer.body == {
        "errors": {"code": 400, "message": "unique_identifier cf_plan is not a unique field of sales_accounts"}
    }
    assert emulator.store.count("sales_accounts") == 0
    emulator.declare_field(DeclaredField("sales_accounts", "cf_ref", "text", unique=False))
    emulator.declare_field(DeclaredField("sales_accounts", "cf_plan", "text", unique=True))
    answer = call(
        emulator,
        "POST",
        "/sales_accounts/upsert",
        {"unique_identifier": {"cf_plan": "gold"}, "sales_account": {"name": "A"}},
    )
    assert answer.status == 201


def test_declared_fields_follow_freshsales_rules() -> None:
    emulator = FreshsalesEmulator()
    emulator.declare_field(DeclaredField("deals", "cf_score", "number", unique=True))
    listed = {f["name"]: f for f in call(emulator, "GET", "/settings/deals/fields").body["fields"]}
    assert listed["cf_score"]["type"] == "number" and listed["cf_score"]["unique"] is True
    refused = [
        DeclaredField("deals", "score", "number"),  # no cf_ prefix
        DeclaredField("deals", "cf_when", "date", unique=True),  # only text and number can be unique
        DeclaredField("deals", "cf_x", "colour"),  # not a Freshsales type
        DeclaredField("leads", "cf_x"),  # not a module here
        DeclaredField("deals", "cf_third", "text", unique=True),  # deals already hold 2 unique fields
        DeclaredField("contacts", "external_id", "text", unique=False),  # always unique
    ]
    for declared in refused:
        with pytest.raises(SchemaRefused):
            emulator.declare_field(declared)
    emulator.declare_field(
        DeclaredField("contacts", "emails", "text", unique=False)
    )  # allowed: email may be made non-unique
    assert not emulator.is_unique("contacts", "email")


def test_the_sandbox_caps_requests_by_the_accounts_plan() -> None:
    emulator = FreshsalesEmulator(plan="pro")
    assert emulator.vendor_limits == Limits(per_minute=400, per_hour=2000)
    emulator.set_limits(emulator.vendor_limits)
    emulator.set_plan("free")
    assert emulator.limiter.limits == Limits(per_minute=400, per_hour=1000)
    emulator.set_limits(Limits(per_minute=2, per_hour=3))
    assert [call(emulator, "GET", "/settings/deals/fields").status for _ in range(3)] == [200, 200, 429]
    with pytest.raises(ValueError, match="unknown Freshsales plan"):
        FreshsalesEmulator(plan="garden")
