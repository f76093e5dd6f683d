{#-
  The state tables. Each macro returns SQL text; dbt-revsync runs it through the project's
  own adapter. Override any of them for another warehouse with a `<adapter>__` version.
-#}

{% macro revsync_state_ddl(schema_relation) -%}
  {{ return(adapter.dispatch('revsync_state_ddl', 'dbt_revsync')(schema_relation)) }}
{%- endmacro %}

{#-
  `revsync_sync_state` holds one row per (sync, target, record): `target` names the
  connection, its account and the object the record lives in (a remembered id is never used
  against another), `origin` whether the sync created the record or matched one that existed
  (`mirror` deletes only the former), `upsert_value` the row's upsert key value when it was
  acknowledged (a record a current row still carries is never deleted).
-#}
{% macro default__revsync_state_ddl(schema_relation) -%}
  {%- set statements = [] -%}
  {%- for name, columns in dbt_revsync.revsync_state_tables().items() -%}
    {%- set defined = [] -%}
    {%- for column, kind in columns -%}{%- do defined.append(dbt_revsync.revsync_column_name(column) ~ " " ~ dbt_revsync.revsync_column_type(kind)) -%}{%- endfor -%}
    {%- do statements.append("create table if not exists " ~ schema_relation ~ "." ~ name ~ " (" ~ defined | join(", ") ~ ")") -%}
  {%- endfor -%}
  {{ return(statements) }}
{%- endmacro %}

{#- Every state table and its columns as (name, kind); kinds: text, timestamp, number. A
    column missing from a table made by an older version is added by `revsync_add_column_sql`. -#}
{% macro revsync_state_tables() -%}
  {%- set runs = [("run_id", "text"), ("sync_id", "text"), ("started_at", "timestamp"), ("finished_at", "timestamp"), ("status", "text")] -%}
  {%- for c in dbt_revsync.revsync_run_counts() -%}{%- do runs.append((c, "number")) -%}{%- endfor -%}
  {%- do runs.extend([("watermark", "text"), ("message", "text"), ("target", "text")]) -%}
  {{ return({
      "revsync_sync_state": [("sync_id", "text"), ("record_key", "text"), ("row_hash", "text"), ("destination_id", "text"),
                             ("synced_at", "timestamp"), ("run_id", "text"), ("target", "text"), ("origin", "text"),
                             ("upsert_value", "text")],
      "revsync_runs": runs,
      "revsync_rejects": [("run_id", "text"), ("sync_id", "text"), ("record_key", "text"), ("operation", "text"),
                          ("error_code", "text"), ("error_message", "text"), ("at", "timestamp")],
      "revsync_locks": [("sync_id", "text"), ("holder", "text"), ("acquired_at", "timestamp"), ("expires_at", "timestamp")],
  }) }}
{%- endmacro %}

{% macro revsync_column_type(kind) -%}
  {%- if kind == "timestamp" -%}{{ return(dbt.type_timestamp()) }}
  {%- elif kind == "number" -%}{{ return(dbt.type_bigint()) }}
  {%- else -%}{{ return(dbt_revsync.revsync_type_string()) }}{%- endif -%}
{%- endmacro %}

{#- Statements that keep one state row per (sync, target, record) where the warehouse can
    (a unique index); none elsewhere. -#}
{% macro revsync_state_unique_sql(schema_relation) -%}
  {{ return(adapter.dispatch('revsync_state_unique_sql', 'dbt_revsync')(schema_relation)) }}
{%- endmacro %}

{% macro default__revsync_state_unique_sql(schema_relation) -%}
  {{ return(none) }}
{%- endmacro %}

{#- A state column's name in SQL: quoted only where the name is a reserved word. -#}
{% macro revsync_column_name(column) -%}
  {{ return(adapter.quote(column) if column in ("read", "at") else column) }}
{%- endmacro %}

{% macro revsync_add_column_sql(relation, column, kind) -%}
  {{ return(adapter.dispatch('revsync_add_column_sql', 'dbt_revsync')(relation, column, kind)) }}
{%- endmacro %}

{% macro default__revsync_add_column_sql(relation, column, kind) -%}
alter table {{ relation }} add column {{ dbt_revsync.revsync_column_name(column) }} {{ dbt_revsync.revsync_column_type(kind) }}
{%- endmacro %}


{#-
  State written before targets were recorded belongs to the sync's current target: the first
  push of each sync after the upgrade claims it (its rows and its runs' watermarks).
-#}
{% macro revsync_claim_legacy_sql(schema_relation, sync_id, target) -%}
  {{ return(adapter.dispatch('revsync_claim_legacy_sql', 'dbt_revsync')(schema_relation, sync_id, target)) }}
{%- endmacro %}

{% macro default__revsync_claim_legacy_sql(schema_relation, sync_id, target) -%}
  {%- set sid, tgt = dbt_revsync.revsync_literal(sync_id), dbt_revsync.revsync_literal(target) -%}
  {{ return([
      "update " ~ schema_relation ~ ".revsync_sync_state set target = " ~ tgt ~ " where sync_id = " ~ sid ~ " and target is null",
      "update " ~ schema_relation ~ ".revsync_runs set target = " ~ tgt ~ " where sync_id = " ~ sid ~ " and target is null",
  ]) }}
{%- endmacro %}


{#-
  One push per sync at a time. `revsync_lock_kind` says how the warehouse keeps it:
    engine    the engine admits one writing process (DuckDB's file lock): nothing to do
    advisory  a session lock the warehouse releases when the connection ends (PostgreSQL)
    lease     a row in revsync_locks with an expiry, renewed while the push runs
-#}
{% macro revsync_lock_kind() -%}
  {{ return(adapter.dispatch('revsync_lock_kind', 'dbt_revsync')()) }}
{%- endmacro %}

{% macro default__revsync_lock_kind() -%}{{ return("lease") }}{%- endmacro %}
{% macro duckdb__revsync_lock_kind() -%}{{ return("engine") }}{%- endmacro %}

{#- A lease: forget expired ones, then add ours; the holder is whoever's lease came first. -#}
{% macro revsync_lease_sql(schema_relation, sync_id, holder, now, expires) -%}
  {{ return(adapter.dispatch('revsync_lease_sql', 'dbt_revsync')(schema_relation, sync_id, holder, now, expires)) }}
{%- endmacro %}

{% macro default__revsync_lease_sql(schema_relation, sync_id, holder, now, expires) -%}
  {%- set q = dbt_revsync.revsync_literals([sync_id, holder, now, expires]) -%}
  {%- set ts = dbt.type_timestamp() -%}
  {%- set locks = schema_relation ~ ".revsync_locks" -%}
  {{ return({
      "take": [
          "delete from " ~ locks ~ " where sync_id = " ~ q[0] ~ " and expires_at < cast(" ~ q[2] ~ " as " ~ ts ~ ")",
          "insert into " ~ locks ~ " (sync_id, holder, acquired_at, expires_at) values (" ~ q[0] ~ ", " ~ q[1]
              ~ ", cast(" ~ q[2] ~ " as " ~ ts ~ "), cast(" ~ q[3] ~ " as " ~ ts ~ "))",
      ],
      "holders": "select holder, acquired_at, expires_at from " ~ locks ~ " where sync_id = " ~ q[0]
          ~ " order by acquired_at, holder",
      "renew": "update " ~ locks ~ " set expires_at = cast(" ~ q[3] ~ " as " ~ ts ~ ") where sync_id = " ~ q[0]
          ~ " and holder = " ~ q[1],
      "release": "delete from " ~ locks ~ " where sync_id = " ~ q[0] ~ " and holder = " ~ q[1],
  }) }}
{%- endmacro %}

{#- An advisory lock keyed by the sync: a query answering true when taken, and its release. -#}
{% macro revsync_advisory_lock_sql(sync_id) -%}
  {{ return(adapter.dispatch('revsync_advisory_lock_sql', 'dbt_revsync')(sync_id)) }}
{%- endmacro %}

{% macro default__revsync_advisory_lock_sql(sync_id) -%}
  {{ return(none) }}
{%- endmacro %}


{#- A literal for a Python string (or none), safe to put in SQL text. -#}
{% macro revsync_literal(value) -%}
  {{ return(adapter.dispatch('revsync_literal', 'dbt_revsync')(value)) }}
{%- endmacro %}

{% macro default__revsync_literal(value) -%}
  {%- if value is none -%}null{%- else -%}'{{ (value | string).replace("'", "''") }}'{%- endif -%}
{%- endmacro %}


{#- A text value as a literal of the given SQL type (as the warehouse names it; none: text). -#}
{% macro revsync_typed_literal(value, data_type) -%}
  {{ return(adapter.dispatch('revsync_typed_literal', 'dbt_revsync')(value, data_type)) }}
{%- endmacro %}

{% macro default__revsync_typed_literal(value, data_type) -%}
  {%- set literal = dbt_revsync.revsync_literal(value) -%}
  {%- if data_type -%}cast({{ literal }} as {{ data_type }}){%- else -%}{{ literal }}{%- endif -%}
{%- endmacro %}


{#- The watermark of the sync's last run against `target` that recorded one. -#}
{% macro revsync_last_watermark_sql(runs_relation, sync_id, target) -%}
  {{ return(adapter.dispatch('revsync_last_watermark_sql', 'dbt_revsync')(runs_relation, sync_id, target)) }}
{%- endmacro %}

{% macro default__revsync_last_watermark_sql(runs_relation, sync_id, target) -%}
select watermark from {{ runs_relation }}
where sync_id = {{ dbt_revsync.revsync_literal(sync_id) }} and target = {{ dbt_revsync.revsync_literal(target) }}
  and watermark is not null
order by started_at desc
limit 1
{%- endmacro %}


{#- The read and unchanged counts of the sync's last finished run against the target. -#}
{% macro revsync_last_run_counts_sql(runs_relation, sync_id, target) -%}
  {{ return(adapter.dispatch('revsync_last_run_counts_sql', 'dbt_revsync')(runs_relation, sync_id, target)) }}
{%- endmacro %}

{% macro default__revsync_last_run_counts_sql(runs_relation, sync_id, target) -%}
select {{ dbt_revsync.revsync_column_name('read') }} as rows_read, unchanged from {{ runs_relation }}
where sync_id = {{ dbt_revsync.revsync_literal(sync_id) }} and target = {{ dbt_revsync.revsync_literal(target) }}
  and finished_at is not null
order by started_at desc
limit 1
{%- endmacro %}


{#-
  Many literals at once: a batch commit quotes hundreds of values, and a macro call per
  value costs far more than the quoting. Quote exactly as `revsync_literal` does; an
  adapter that overrides one overrides both.
-#}
{% macro revsync_literals(values) -%}
  {{ return(adapter.dispatch('revsync_literals', 'dbt_revsync')(values)) }}
{%- endmacro %}

{% macro default__revsync_literals(values) -%}
  {%- set quoted = [] -%}
  {%- for value in values -%}
    {%- do quoted.append("null" if value is none else "'" ~ (value | string | replace("'", "''")) ~ "'") -%}
  {%- endfor -%}
  {{ return(quoted) }}
{%- endmacro %}


{#-
  Commit one batch: forget the keys it touched, remember those still present (deleted
  records leave the state), replace the rejects of the keys it settled, write its rejects
  and the run's running counts. `acks` are state rows read by name (record_key, row_hash,
  destination_id, origin, upsert_value, keep); `rejects` reject rows (record_key, operation,
  error_code, error_message); `run` a mapping of the runs row.
-#}
{% macro revsync_commit_sql(schema_relation, sync_id, target, run_id, acks, rejects, run, now) -%}
  {{ return(adapter.dispatch('revsync_commit_sql', 'dbt_revsync')(schema_relation, sync_id, target, run_id, acks, rejects, run, now)) }}
{%- endmacro %}

{% macro default__revsync_commit_sql(schema_relation, sync_id, target, run_id, acks, rejects, run, now) -%}
  {%- set flat = [sync_id, run_id, now, target] -%}
  {%- for a in acks -%}{%- do flat.extend([a.record_key, a.row_hash, a.destination_id, a.origin, a.upsert_value]) -%}{%- endfor -%}
  {%- for r in rejects -%}{%- do flat.extend([r.record_key, r.operation, r.error_code, r.error_message]) -%}{%- endfor -%}
  {%- set q = dbt_revsync.revsync_literals(flat) -%}
  {%- set sid, rid, tgt = q[0], q[1], q[3] -%}
  {%- set now = "cast(" ~ q[2] ~ " as " ~ dbt.type_timestamp() ~ ")" -%}
  {%- set statements, settled = [], [] -%}
  {%- if acks -%}
    {%- set keys, rows = [], [] -%}
    {%- for a in acks -%}
      {%- set at = 4 + 5 * loop.index0 -%}
      {%- do keys.append(q[at]) -%}
      {%- if a.keep -%}
        {%- do rows.append([sid, q[at], q[at + 1], q[at + 2], now, rid, tgt, q[at + 3], q[at + 4]]) -%}
      {%- endif -%}
    {%- endfor -%}
    {%- do settled.extend(keys) -%}
    {%- do statements.append("delete from " ~ schema_relation ~ ".revsync_sync_state where sync_id = "
        ~ sid ~ " and target = " ~ tgt ~ " and record_key in (" ~ keys | join(", ") ~ ")") -%}
    {%- if rows -%}
      {%- do statements.append(dbt_revsync.revsync_insert_sql(schema_relation ~ ".revsync_sync_state",
          ["sync_id", "record_key", "row_hash", "destination_id", "synced_at", "run_id", "target", "origin", "upsert_value"], rows)) -%}
    {%- endif -%}
  {%- endif -%}
  {%- if rejects -%}
    {%- set rows = [] -%}
    {%- set first = 4 + 5 * (acks | length) -%}
    {%- for r in rejects -%}
      {%- set at = first + 4 * loop.index0 -%}
      {%- if r.record_key is not none -%}{%- do settled.append(q[at]) -%}{%- endif -%}
      {%- do rows.append([rid, sid, q[at], q[at + 1], q[at + 2], q[at + 3], now]) -%}
    {%- endfor -%}
  {%- endif -%}
  {%- if settled -%}
    {%- do statements.append("delete from " ~ schema_relation ~ ".revsync_rejects where sync_id = " ~ sid
        ~ " and record_key in (" ~ settled | join(", ") ~ ")") -%}
  {%- endif -%}
  {%- if rejects | selectattr("record_key", "none") | list -%}
    {%- do statements.append("delete from " ~ schema_relation ~ ".revsync_rejects where sync_id = " ~ sid
        ~ " and record_key is null and run_id <> " ~ rid) -%}
  {%- endif -%}
  {%- if rejects -%}
    {%- do statements.append(dbt_revsync.revsync_insert_sql(schema_relation ~ ".revsync_rejects",
        ["run_id", "sync_id", "record_key", "operation", "error_code", "error_message", adapter.quote('at')], rows)) -%}
  {%- endif -%}
  {%- if run -%}
    {%- do statements.extend(dbt_revsync.revsync_run_sql(schema_relation, sync_id, run_id, run)) -%}
  {%- endif -%}
  {{ return(statements) }}
{%- endmacro %}


{#- The rows of (sync, target) holding these destination ids inherit the origin `created`:
    a re-keyed row now points at a record the sync created under its old key. -#}
{% macro revsync_handover_sql(schema_relation, sync_id, target, destination_ids) -%}
  {{ return(adapter.dispatch('revsync_handover_sql', 'dbt_revsync')(schema_relation, sync_id, target, destination_ids)) }}
{%- endmacro %}

{% macro default__revsync_handover_sql(schema_relation, sync_id, target, destination_ids) -%}
update {{ schema_relation }}.revsync_sync_state set origin = 'created'
where sync_id = {{ dbt_revsync.revsync_literal(sync_id) }} and target = {{ dbt_revsync.revsync_literal(target) }}
  and destination_id in ({{ dbt_revsync.revsync_literals(destination_ids) | join(', ') }})
{%- endmacro %}


{#- Insert `rows` (lists of SQL expressions, one per column) into `columns` of `relation`. -#}
{% macro revsync_insert_sql(relation, columns, rows) -%}
  {{ return(adapter.dispatch('revsync_insert_sql', 'dbt_revsync')(relation, columns, rows)) }}
{%- endmacro %}

{% macro default__revsync_insert_sql(relation, columns, rows) -%}
  {%- set tuples = [] -%}
  {%- for row in rows -%}{%- do tuples.append("(" ~ row | join(", ") ~ ")") -%}{%- endfor -%}
  {{ return("insert into " ~ relation ~ " (" ~ columns | join(", ") ~ ") values " ~ tuples | join(", ")) }}
{%- endmacro %}

{#- DuckDB binds a long VALUES list row by row; one list per column costs about a third. -#}
{% macro duckdb__revsync_insert_sql(relation, columns, rows) -%}
  {%- set lists = [] -%}
  {%- for column in columns -%}
    {%- do lists.append("unnest([" ~ rows | map(attribute=loop.index0) | join(", ") ~ "])") -%}
  {%- endfor -%}
  {{ return("insert into " ~ relation ~ " (" ~ columns | join(", ") ~ ") select " ~ lists | join(", ")) }}
{%- endmacro %}


{#- Replace the runs row of (sync_id, run_id). `run` holds every column, times as UTC text. -#}
{% macro revsync_run_sql(schema_relation, sync_id, run_id, run) -%}
  {{ return(adapter.dispatch('revsync_run_sql', 'dbt_revsync')(schema_relation, sync_id, run_id, run)) }}
{%- endmacro %}

{% macro default__revsync_run_sql(schema_relation, sync_id, run_id, run) -%}
  {%- set ts = dbt.type_timestamp() -%}
  {%- set q = dbt_revsync.revsync_literals([run_id, sync_id, run.get('started_at'), run.get('finished_at'),
      run.get('status'), run.get('watermark'), run.get('message'), run.get('target')]) -%}
  {%- set values = [q[0], q[1], "cast(" ~ q[2] ~ " as " ~ ts ~ ")", "cast(" ~ q[3] ~ " as " ~ ts ~ ")", q[4]] -%}
  {%- for c in dbt_revsync.revsync_run_counts() -%}{%- do values.append(run.get(c, 0) | int) -%}{%- endfor -%}
  {%- do values.extend([q[5], q[6], q[7]]) -%}
  {{ return([
      "delete from " ~ schema_relation ~ ".revsync_runs where sync_id = " ~ q[1] ~ " and run_id = " ~ q[0],
      "insert into " ~ schema_relation ~ ".revsync_runs (" ~ dbt_revsync.revsync_runs_columns() | join(", ")
          ~ ") values (" ~ values | join(", ") ~ ")"
  ]) }}
{%- endmacro %}

{#- The run's counts, in the order every runs row writes them. -#}
{% macro revsync_run_counts() -%}
  {{ return(['read', 'created', 'updated', 'deleted', 'unchanged', 'rejected', 'requests']) }}
{%- endmacro %}

{#- The columns of revsync_runs, quoted, in the order its rows are written. -#}
{% macro revsync_runs_columns() -%}
  {%- set quoted = [] -%}
  {%- for c in ['run_id', 'sync_id', 'started_at', 'finished_at', 'status'] + dbt_revsync.revsync_run_counts() + ['watermark', 'message', 'target'] -%}
    {%- do quoted.append(dbt_revsync.revsync_column_name(c)) -%}
  {%- endfor -%}
  {{ return(quoted) }}
{%- endmacro %}


{#-
  The commit with its values as bind parameters: rendered once per push, each batch then
  only binds lists of values, so nothing is quoted or parsed per record. Returns none where
  the warehouse has no such form (the commit is then rendered batch by batch by
  `revsync_commit_sql`), else a mapping of statement -> SQL, whose parameters are, in order:
    forget         sync_id, target, record_keys[]      (keys that leave or change in the state)
    remember       sync_id, target, record_keys[], row_hashes[], destination_ids[], origins[],
                   upsert_values[], now, run_id
    forget_rejects sync_id, record_keys[]              (earlier rejects of the keys a batch settled)
    forget_unkeyed sync_id, run_id                     (earlier runs' rejects of rows with no key)
    reject         run_id, sync_id, record_keys[], operations[], error_codes[], error_messages[], now
    forget_run     sync_id, run_id
    remember_run   run_id, sync_id, started_at, finished_at, status, read, created, updated,
                   deleted, unchanged, rejected, requests, watermark, message, target
  and, optional, `any_reject` (sync_id): a row when the sync has any reject; asked once a push
  under the sync's lock, so a sync with none is sent no forget_rejects nor forget_unkeyed;
  and `autocommit`: true where one statement outside a transaction commits on its own (a
  batch of only new records is then one statement, not three with BEGIN and COMMIT).
  Lists are bound as arrays of text and unnested; times are UTC text.
-#}
{% macro revsync_bound_commit_sql(schema_relation) -%}
  {{ return(adapter.dispatch('revsync_bound_commit_sql', 'dbt_revsync')(schema_relation)) }}
{%- endmacro %}

{% macro default__revsync_bound_commit_sql(schema_relation) -%}
  {{ return(none) }}
{%- endmacro %}

{% macro duckdb__revsync_bound_commit_sql(schema_relation) -%}
  {{ return(dbt_revsync.revsync_array_commit_sql(schema_relation, '?', autocommit=true)) }}
{%- endmacro %}

{% macro postgres__revsync_bound_commit_sql(schema_relation) -%}
  {{ return(dbt_revsync.revsync_array_commit_sql(schema_relation, '%s', autocommit=false)) }}
{%- endmacro %}

{#- The bound commit for warehouses with text arrays and `unnest` in the select list. -#}
{% macro revsync_array_commit_sql(schema_relation, marker, autocommit) -%}
  {%- set p = marker -%}
  {%- set list = "unnest(cast(" ~ p ~ " as " ~ dbt_revsync.revsync_type_string() ~ "[]))" -%}
  {%- set now = "cast(" ~ p ~ " as " ~ dbt.type_timestamp() ~ ")" -%}
  {%- set run_values = [p, p, now, now, p] -%}
  {%- for c in dbt_revsync.revsync_run_counts() -%}{%- do run_values.append(p) -%}{%- endfor -%}
  {%- do run_values.extend([p, p, p]) -%}
  {{ return({
      "autocommit": autocommit,
      "forget": "delete from " ~ schema_relation ~ ".revsync_sync_state where sync_id = " ~ p
          ~ " and target = " ~ p ~ " and record_key in (select " ~ list ~ ")",
      "remember": "insert into " ~ schema_relation ~ ".revsync_sync_state"
          ~ " (sync_id, target, record_key, row_hash, destination_id, origin, upsert_value, synced_at, run_id)"
          ~ " select " ~ p ~ ", " ~ p ~ ", " ~ list ~ ", " ~ list ~ ", " ~ list ~ ", " ~ list ~ ", " ~ list ~ ", " ~ now ~ ", " ~ p,
      "forget_rejects": "delete from " ~ schema_relation ~ ".revsync_rejects where sync_id = " ~ p
          ~ " and record_key in (select " ~ list ~ ")",
      "any_reject": "select 1 from " ~ schema_relation ~ ".revsync_rejects where sync_id = " ~ p ~ " limit 1",
      "forget_unkeyed": "delete from " ~ schema_relation ~ ".revsync_rejects where sync_id = " ~ p
          ~ " and record_key is null and run_id <> " ~ p,
      "reject": "insert into " ~ schema_relation ~ ".revsync_rejects"
          ~ " (run_id, sync_id, record_key, operation, error_code, error_message, " ~ adapter.quote('at') ~ ")"
          ~ " select " ~ p ~ ", " ~ p ~ ", " ~ list ~ ", " ~ list ~ ", " ~ list ~ ", " ~ list ~ ", " ~ now,
      "forget_run": "delete from " ~ schema_relation ~ ".revsync_runs where sync_id = " ~ p ~ " and run_id = " ~ p,
      "remember_run": "insert into " ~ schema_relation ~ ".revsync_runs (" ~ dbt_revsync.revsync_runs_columns() | join(", ")
          ~ ") values (" ~ run_values | join(", ") ~ ")",
  }) }}
{%- endmacro %}


{#- What `forget` would drop of one sync: its remembered records per target, by origin. -#}
{% macro revsync_remembered_sql(schema_relation, sync_id) -%}
  {{ return(adapter.dispatch('revsync_remembered_sql', 'dbt_revsync')(schema_relation, sync_id)) }}
{%- endmacro %}

{% macro default__revsync_remembered_sql(schema_relation, sync_id) -%}
select target, origin, count(*) as records
from {{ schema_relation }}.revsync_sync_state
where sync_id = {{ dbt_revsync.revsync_literal(sync_id) }}
group by target, origin
order by target, origin
{%- endmacro %}


{#- Forget a sync: its remembered records, its rejects and its watermarks (the runs stay, as
    history). Its next push reads every row as new, and links to records by its upsert key. -#}
{% macro revsync_forget_sql(schema_relation, sync_id) -%}
  {{ return(adapter.dispatch('revsync_forget_sql', 'dbt_revsync')(schema_relation, sync_id)) }}
{%- endmacro %}

{% macro default__revsync_forget_sql(schema_relation, sync_id) -%}
  {%- set sid = dbt_revsync.revsync_literal(sync_id) -%}
  {{ return([
      "delete from " ~ schema_relation ~ ".revsync_sync_state where sync_id = " ~ sid,
      "delete from " ~ schema_relation ~ ".revsync_rejects where sync_id = " ~ sid,
      "update " ~ schema_relation ~ ".revsync_runs set watermark = null where sync_id = " ~ sid,
  ]) }}
{%- endmacro %}
