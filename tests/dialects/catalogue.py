"""Every statement dbt-revsync runs, rendered through one adapter with representative arguments.

The calls mirror those of state.py, changes.py, build_state.py, listen_ledger.py and the
package's dbt hook (record_results); a macro added to those belongs here too, so the dialect
check (test_dialect_check.py) renders and parses it on every warehouse.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from dbt_revsync.state import RejectRow, StateRow, bound_statements
from dbt_revsync.testing.dialects import Rendering

SYNC_ID = "contacts-to-hubspot"
TARGET = "hubspot:acct-1:contacts"
NOW = "2024-05-06 07:08:09.123456"
RUN = {
    "started_at": NOW,
    "finished_at": NOW,
    "status": "success",
    "read": 10,
    "created": 3,
    "updated": 2,
    "deleted": 1,
    "unchanged": 4,
    "rejected": 1,
    "requests": 2,
    "watermark": "2024-05-01 00:00:00",
    "message": "it's done \\ ok",
    "target": TARGET,
}
ACKS = [
    StateRow("10042", "h2:abc", "501", "created", "ann@example.com", keep=True, in_state=False),
    StateRow("it's\\", "h2:def", "502", "matched", None, keep=True, in_state=True),
    StateRow("10010", None, "503", "created", None, keep=False, in_state=True),
]
REJECTS = [
    RejectRow("10020", "upsert", "INVALID_EMAIL", "bad email: 'x'"),
    RejectRow(None, "create", "NO_KEY", "row has no key"),
]


def flatten(rendered: Any) -> Iterator[str]:
    """The SQL statements in what a macro returned: text, a list of them, a mapping of them
    (a lease's take/holders/renew/release), or none."""
    if rendered is None or isinstance(rendered, bool):
        return
    if isinstance(rendered, str):
        if rendered.strip():
            yield rendered.strip()
    elif isinstance(rendered, Mapping):
        for value in rendered.values():
            yield from flatten(value)
    elif isinstance(rendered, tuple):  # (SQL, bindings): the SQL
        yield from flatten(rendered[0])
    else:
        for value in rendered:
            yield from flatten(value)


def statements(r: Rendering) -> dict[str, list[str]]:
    """case name -> the statements it renders, on the adapter of ``r``."""
    schema = r.warehouse.state_schema
    state = r.state_table("revsync_sync_state")
    relation = r.relation("analytics", "contacts")
    q = r.quote
    key, email, name, updated = q("contact_id"), q("email"), q("full_name"), q("updated_at")
    watermark = str(
        r.render(
            "revsync_typed_literal", value="2024-05-01 00:00:00", data_type=r.adapter.Column.translate_type("timestamp")
        )
    )
    diff = {
        "relation": relation,
        "sync_id": SYNC_ID,
        "target": TARGET,
        "key_columns": [key],
        "state_relation": state,
        "upsert_column": email,
    }
    changes = {
        **diff,
        "columns": [key, email, name],
        "hash_columns": [email, name],
        "fingerprint": "f00d",
        "full_refresh": False,
        "incremental_column": updated,
        "watermark": watermark,
    }
    hashed = {  # how every macro that hashes rows is told whose rows, keyed and hashed how
        "relation": relation,
        "sync_id": SYNC_ID,
        "target": TARGET,
        "key_columns": [key],
        "hash_columns": [email, name],
        "fingerprint": "f00d",
    }
    changes_table = r.state_table("revsync_changes_abc123")
    cases: dict[str, Any] = {
        # state.py
        "state_ddl": r.render("revsync_state_ddl", schema_relation=schema),
        "add_column": [
            r.render("revsync_add_column_sql", relation=r.state_table(t), column=c, kind=k)
            for t, columns in r.render("revsync_state_tables").items()
            for c, k in columns
        ],
        "state_unique": r.render("revsync_state_unique_sql", schema_relation=schema),
        "claim_legacy": r.render("revsync_claim_legacy_sql", schema_relation=schema, sync_id=SYNC_ID, target=TARGET),
        "advisory_lock": r.render("revsync_advisory_lock_sql", sync_id=SYNC_ID),
        "lease": r.render(
            "revsync_lease_sql", schema_relation=schema, sync_id=SYNC_ID, holder="host:1234:abcd", now=NOW, expires=NOW
        ),
        "last_watermark": r.render(
            "revsync_last_watermark_sql", runs_relation=r.state_table("revsync_runs"), sync_id=SYNC_ID, target=TARGET
        ),
        "last_run_counts": r.render(
            "revsync_last_run_counts_sql", runs_relation=r.state_table("revsync_runs"), sync_id=SYNC_ID, target=TARGET
        ),
        "agreement": r.render("revsync_agreement_sql", **hashed, schema_relation=schema),
        "commit": r.render(
            "revsync_commit_sql",
            schema_relation=schema,
            sync_id=SYNC_ID,
            target=TARGET,
            run_id="run-1",
            acks=ACKS,
            rejects=REJECTS,
            run=RUN,
            now=NOW,
        ),
        "commit_acks_only": r.render(
            "revsync_commit_sql",
            schema_relation=schema,
            sync_id=SYNC_ID,
            target=TARGET,
            run_id="run-1",
            acks=ACKS[:1],
            rejects=[],
            run={},
            now=NOW,
        ),
        "commit_rejects_only": r.render(
            "revsync_commit_sql",
            schema_relation=schema,
            sync_id=SYNC_ID,
            target=TARGET,
            run_id="run-1",
            acks=[],
            rejects=REJECTS,
            run={},
            now=NOW,
        ),
        "handover": r.render(
            "revsync_handover_sql",
            schema_relation=schema,
            sync_id=SYNC_ID,
            target=TARGET,
            destination_ids=["501", "50'2"],
        ),
        "remembered": r.render("revsync_remembered_sql", schema_relation=schema, sync_id=SYNC_ID),
        "forget": r.render("revsync_forget_sql", schema_relation=schema, sync_id=SYNC_ID),
        "run": r.render("revsync_run_sql", schema_relation=schema, sync_id=SYNC_ID, run_id="run-1", run=RUN),
        "recent_runs": r.render("revsync_recent_runs_sql", schema_relation=schema, per_sync=5),
        "first_rejects": r.render(
            "revsync_first_rejects_sql", schema_relation=schema, run_ids=["run-1", "run-2"], per_run=3
        ),
        "first_rejects_none": r.render("revsync_first_rejects_sql", schema_relation=schema, run_ids=[], per_run=3),
        "last_success": r.render("revsync_last_success_sql", schema_relation=schema),
        # changes.py
        "changes": r.render("revsync_changes_sql", **changes),
        "changes_full_refresh": r.render(
            "revsync_changes_sql",
            **{**changes, "full_refresh": True, "incremental_column": None, "watermark": None, "upsert_column": None},
        ),
        "changes_two_keys": r.render("revsync_changes_sql", **{**changes, "key_columns": [key, email]}),
        "source_stats": r.render(
            "revsync_source_stats_sql",
            relation=relation,
            incremental_column=updated,
            watermark=watermark,
            full_refresh=False,
        ),
        "source_stats_full": r.render(
            "revsync_source_stats_sql", relation=relation, incremental_column=None, watermark=None, full_refresh=True
        ),
        "older_row_hashes": r.render(
            "revsync_older_row_hashes_sql", sync_id=SYNC_ID, target=TARGET, state_relation=state
        ),
        "upgrade_row_hashes": r.render("revsync_upgrade_row_hashes_sql", **hashed, state_relation=state),
        "retire_row_hashes": r.render(
            "revsync_retire_row_hashes_sql", sync_id=SYNC_ID, target=TARGET, state_relation=state
        ),
        "removed": r.render("revsync_removed_sql", **{**diff, "columns": [key, email, name]}),
        "count": r.render("revsync_count_sql", relation=changes_table),
        "changes_page": r.render("revsync_changes_page_sql", changes_relation=changes_table, after_seq=1000, limit=500),
        "drop_table": r.render("revsync_drop_table_sql", relation=changes_table),
        # build_state.py and the on-run-end hook
        "results_ddl": r.render("revsync_results_ddl", schema_relation=schema),
        "record_results": r.render(
            "revsync_record_results_sql",
            schema_relation=schema,
            rows=[
                ["inv-1", "build", NOW, "model.p.contacts", "model", "success", None, None, None, None, None],
                [
                    "inv-1",
                    "build",
                    NOW,
                    "test.p.not_null",
                    "test",
                    "fail",
                    "model.p.contacts",
                    "not_null_it's",
                    "error",
                    3,
                    "analytics.dbt_test__audit.not_null",
                ],
            ],
        ),
        "build_results": r.render("revsync_build_results_sql", schema_relation=schema),
        "failed_keys": r.render("revsync_failed_keys_sql", relation=relation, key_columns=["contact_id"]),
        "failed_keys_two": r.render("revsync_failed_keys_sql", relation=relation, key_columns=["contact_id", "email"]),
        "hold": r.render(
            "revsync_hold_sql",
            schema_relation=schema,
            sync_id=SYNC_ID,
            invocation_id="inv-1",
            reason="test not_null failed: 'it\\'",
            held_rows=3,
            now=NOW,
        ),
        "unhold": r.render(
            "revsync_hold_sql",
            schema_relation=schema,
            sync_id=SYNC_ID,
            invocation_id=None,
            reason=None,
            held_rows=None,
            now=NOW,
        ),
        "holds": r.render("revsync_holds_sql", schema_relation=schema),
        # listen_ledger.py
        "listen_ddl": r.render("revsync_listen_ddl", schema_name="revsync"),
        "listen_record": r.render(
            "revsync_listen_record_sql",
            schema_name="revsync",
            rows=[
                {
                    "run_id": "1",
                    "job_id": "2",
                    "environment_id": "3",
                    "run_status_code": 10,
                    "status": "accepted",
                    "error": None,
                    "accepted_at": NOW,
                    "finished_at": None,
                },
                {
                    "run_id": "1",
                    "job_id": "2",
                    "environment_id": "3",
                    "run_status_code": 10,
                    "status": "failed",
                    "error": "C:\\path 'quoted'\nsecond line",
                    "accepted_at": NOW,
                    "finished_at": NOW,
                },
            ],
        ),
        "listen_runs": r.render("revsync_listen_runs_sql", schema_name="revsync"),
    }
    cases["changes_create_table"] = r.render(
        "revsync_create_changes_table_sql", relation=changes_table, sql=str(cases["changes"]).strip()
    )
    bound = r.render("revsync_bound_commit_sql", schema_relation=schema)
    if bound:
        cases["bound_commit"] = bound_statements(bound, SYNC_ID, TARGET, "run-1", ACKS, REJECTS, RUN, NOW)
    return {name: list(flatten(value)) for name, value in cases.items()}
