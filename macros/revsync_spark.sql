{#-
  Apache Spark (dbt-spark) with parquet or Hive tables: the engine has no DELETE and no
  UPDATE, and no transactions. The state is kept append-only:

  - each state table is a log, `<name>__log`, partitioned by `sync_id`: the table's columns
    plus `__rs_gone` (a tombstone: the row is forgotten), `__rs_at` (when the row was written:
    `current_timestamp()` of its statement) and `__rs_ord` (its order within the statement);
  - `<name>` is a view over its log giving, per key, the latest row unless it is a tombstone
    (keys: revsync_sync_state (sync_id, target, record_key), revsync_runs (sync_id, run_id),
    revsync_locks (sync_id, holder)); revsync_rejects keeps every reject row no later
    tombstone of its (sync, record key) covers. Everything that reads the state reads the
    views, unchanged;
  - a commit only inserts: the batch's state rows (tombstones for deleted records), its
    rejects after tombstones for the keys it settled, its runs row. Forgetting a sync, a
    lease's release and a renewed lease are appended rows too;
  - compaction (`revsync_compaction_sql`) rewrites one sync's partition of each log as its
    live rows, at the start of a push, when the logs hold many times the live rows.

  These `spark__` versions are for Spark's Hive and parquet tables. dbt-databricks dispatches
  `databricks__`, then `spark__`, then `default__`: Delta tables have DELETE, UPDATE and
  MERGE, so on Databricks `revsync_state_kind` answers `mutable` and every macro here hands
  over to the `default__` version (or a `databricks__` one, where one exists).
-#}

{#- How the warehouse keeps the state: `mutable` tables (DELETE and UPDATE) or `log` (append-only). -#}
{% macro revsync_state_kind() -%}
  {{ return(adapter.dispatch('revsync_state_kind', 'dbt_revsync')()) }}
{%- endmacro %}

{% macro default__revsync_state_kind() -%}{{ return("mutable") }}{%- endmacro %}
{% macro spark__revsync_state_kind() -%}{{ return("log") }}{%- endmacro %}
{% macro databricks__revsync_state_kind() -%}{{ return("mutable") }}{%- endmacro %}


{#- The key of each logged state table (none: revsync_rejects, kept by tombstones). -#}
{% macro revsync_log_keys() -%}
  {{ return({"revsync_sync_state": ["sync_id", "target", "record_key"], "revsync_runs": ["sync_id", "run_id"],
             "revsync_locks": ["sync_id", "holder"], "revsync_rejects": none}) }}
{%- endmacro %}

{#- The columns of a state table as written in SQL, in the order of revsync_state_tables. -#}
{% macro revsync_log_columns(name) -%}
  {%- set columns = [] -%}
  {%- for column, kind in dbt_revsync.revsync_state_tables()[name] -%}{%- do columns.append(dbt_revsync.revsync_column_name(column)) -%}{%- endfor -%}
  {{ return(columns) }}
{%- endmacro %}

{#- The live rows of a log (`source`: the log, or any relation with its columns): the select
    behind its view, and behind compaction (which keeps the internal columns). -#}
{% macro revsync_log_live_sql(name, source, columns, internal=false) -%}
  {%- set keys = dbt_revsync.revsync_log_keys()[name] -%}
  {%- set out = columns + (["__rs_gone", "__rs_at", "__rs_ord"] if internal else []) -%}
  {%- if keys -%}
    {{ return("select " ~ out | join(", ") ~ " from (select *, row_number() over (partition by " ~ keys | join(", ")
        ~ " order by __rs_at desc, __rs_ord desc) as __rs_n from " ~ source ~ ") latest where __rs_n = 1 and not __rs_gone") }}
  {%- else -%}
    {{ return("select " ~ out | join(", ") ~ " from " ~ source ~ " r where not r.__rs_gone and not exists (select 1 from "
        ~ source ~ " t where t.__rs_gone and t.sync_id = r.sync_id"
        ~ " and (t.record_key = r.record_key or (t.record_key is null and r.record_key is null"
        ~ " and (t.run_id is null or t.run_id <> r.run_id)))"
        ~ " and (t.__rs_at > r.__rs_at or (t.__rs_at = r.__rs_at and t.__rs_ord > r.__rs_ord)))") }}
  {%- endif -%}
{%- endmacro %}

{% macro revsync_log_relation(schema_relation, name) -%}
  {{ return(schema_relation ~ "." ~ name ~ "__log") }}
{%- endmacro %}

{#- Append `rows` (lists of SQL expressions in the order of `columns`) to a log, each with
    its tombstone flag and order (`marks`: [gone, ord] per row), stamped with the statement's time. -#}
{% macro revsync_log_insert_sql(schema_relation, name, columns, rows, marks) -%}
  {%- set tuples = [] -%}
  {%- for row in rows -%}{%- do tuples.append("(" ~ (row + marks[loop.index0]) | join(", ") ~ ")") -%}{%- endfor -%}
  {%- set aliases = [] -%}{%- for c in columns -%}{%- do aliases.append("v" ~ loop.index0) -%}{%- endfor -%}
  {{ return("insert into " ~ dbt_revsync.revsync_log_relation(schema_relation, name) ~ " (" ~ columns | join(", ")
      ~ ", __rs_gone, __rs_at, __rs_ord) select " ~ aliases | join(", ") ~ ", g, current_timestamp(), o from values "
      ~ tuples | join(", ") ~ " as v(" ~ aliases | join(", ") ~ ", g, o)") }}
{%- endmacro %}

{#- Append the view's rows selected by `where`, with some columns replaced (`set`: column -> SQL). -#}
{% macro revsync_log_copy_sql(schema_relation, name, where, set, gone=false) -%}
  {%- set columns = dbt_revsync.revsync_log_columns(name) -%}
  {%- set values = [] -%}
  {%- for c in columns -%}{%- do values.append(set.get(c, c)) -%}{%- endfor -%}
  {{ return("insert into " ~ dbt_revsync.revsync_log_relation(schema_relation, name) ~ " (" ~ columns | join(", ")
      ~ ", __rs_gone, __rs_at, __rs_ord) select " ~ values | join(", ") ~ ", " ~ ("true" if gone else "false")
      ~ ", current_timestamp(), 0 from " ~ schema_relation ~ "." ~ name ~ " where " ~ where) }}
{%- endmacro %}


{% macro spark__revsync_state_ddl(schema_relation) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}{{ return(dbt_revsync.default__revsync_state_ddl(schema_relation)) }}{%- endif -%}
  {%- set statements = [] -%}
  {%- for name, columns in dbt_revsync.revsync_state_tables().items() -%}
    {%- set defined = [] -%}
    {%- for column, kind in columns -%}{%- do defined.append(dbt_revsync.revsync_column_name(column) ~ " " ~ dbt_revsync.revsync_column_type(kind)) -%}{%- endfor -%}
    {%- set log = dbt_revsync.revsync_log_relation(schema_relation, name) -%}
    {%- do statements.append("create table if not exists " ~ log ~ " (" ~ defined | join(", ")
        ~ ", __rs_gone boolean, __rs_at timestamp, __rs_ord int) using parquet partitioned by (sync_id)") -%}
    {#- the view's columns are the log's own (a column an upgrade adds to the log shows once the view is made again) -#}
    {%- set present = [] -%}
    {%- set existing = adapter.get_relation(database=schema_relation.database, schema=schema_relation.schema, identifier=name ~ "__log") -%}
    {%- if existing is not none -%}
      {%- for c in adapter.get_columns_in_relation(existing) -%}{%- do present.append(c.name | lower) -%}{%- endfor -%}
    {%- endif -%}
    {%- set shown = [] -%}
    {%- for column, kind in columns -%}
      {%- if not present or column in present -%}{%- do shown.append(dbt_revsync.revsync_column_name(column)) -%}{%- endif -%}
    {%- endfor -%}
    {%- do statements.append("create or replace view " ~ schema_relation ~ "." ~ name ~ " as "
        ~ dbt_revsync.revsync_log_live_sql(name, log, shown)) -%}
  {%- endfor -%}
  {{ return(statements) }}
{%- endmacro %}

{% macro spark__revsync_add_column_sql(relation, column, kind) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}{{ return(dbt_revsync.default__revsync_add_column_sql(relation, column, kind)) }}{%- endif -%}
alter table {{ relation }}__log add columns ({{ dbt_revsync.revsync_column_name(column) }} {{ dbt_revsync.revsync_column_type(kind) }})
{%- endmacro %}

{#- Spark's state was first written by a version that records targets: nothing to claim. -#}
{% macro spark__revsync_claim_legacy_sql(schema_relation, sync_id, target) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}{{ return(dbt_revsync.default__revsync_claim_legacy_sql(schema_relation, sync_id, target)) }}{%- endif -%}
  {{ return([]) }}
{%- endmacro %}


{#- A lease: an appended row; its release a tombstone; expired leases are not counted. -#}
{#- One lease for every sync of the state schema, not one per sync: Spark stages every insert
    into a table under one `_temporary` directory at the table's root, whatever partition it
    writes, and the first job to commit removes it, failing any other job writing the same log
    at that moment (a batch the CRM acknowledged would then go unrecorded). So on logs, one push
    at a time per state schema. -#}
{% macro spark__revsync_lease_sql(schema_relation, sync_id, holder, now, expires) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}{{ return(dbt_revsync.default__revsync_lease_sql(schema_relation, sync_id, holder, now, expires)) }}{%- endif -%}
  {%- set q = dbt_revsync.revsync_literals(["*", holder, now, expires]) -%}
  {%- set ts = dbt.type_timestamp() -%}
  {%- set columns = ["sync_id", "holder", "acquired_at", "expires_at"] -%}
  {%- set where = "sync_id = " ~ q[0] ~ " and holder = " ~ q[1] -%}
  {{ return({
      "take": [dbt_revsync.revsync_log_insert_sql(schema_relation, "revsync_locks", columns,
          [[q[0], q[1], "cast(" ~ q[2] ~ " as " ~ ts ~ ")", "cast(" ~ q[3] ~ " as " ~ ts ~ ")"]], [["false", "0"]])],
      "holders": "select holder, acquired_at, expires_at from " ~ schema_relation ~ ".revsync_locks where sync_id = " ~ q[0]
          ~ " and expires_at >= cast(" ~ q[2] ~ " as " ~ ts ~ ") order by acquired_at, holder",
      "renew": dbt_revsync.revsync_log_copy_sql(schema_relation, "revsync_locks", where, {"expires_at": "cast(" ~ q[3] ~ " as " ~ ts ~ ")"}),
      "release": dbt_revsync.revsync_log_insert_sql(schema_relation, "revsync_locks", columns,
          [[q[0], q[1], "cast(null as " ~ ts ~ ")", "cast(null as " ~ ts ~ ")"]], [["true", "0"]]),
  }) }}
{%- endmacro %}


{#- A batch: its state rows (tombstones for deleted records), its rejects after tombstones for
    the keys it settled, and its runs row; three appends, each its own commit (Spark has no
    transactions): a push stopped between them resends at most that batch. -#}
{% macro spark__revsync_commit_sql(schema_relation, sync_id, target, run_id, acks, rejects, run, now) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}
    {{ return(dbt_revsync.default__revsync_commit_sql(schema_relation, sync_id, target, run_id, acks, rejects, run, now)) }}
  {%- endif -%}
  {%- set flat = [sync_id, run_id, now, target] -%}
  {%- for a in acks -%}{%- do flat.extend([a.record_key, a.row_hash, a.destination_id, a.origin, a.upsert_value]) -%}{%- endfor -%}
  {%- for r in rejects -%}{%- do flat.extend([r.record_key, r.operation, r.error_code, r.error_message]) -%}{%- endfor -%}
  {%- set q = dbt_revsync.revsync_literals(flat) -%}
  {%- set sid, rid, tgt = q[0], q[1], q[3] -%}
  {%- set text, ts = dbt.type_string(), dbt.type_timestamp() -%}
  {%- set now = "cast(" ~ q[2] ~ " as " ~ ts ~ ")" -%}
  {%- set statements, settled = [], [] -%}
  {%- if acks -%}
    {%- set rows, marks = [], [] -%}
    {%- for a in acks -%}
      {%- set at = 4 + 5 * loop.index0 -%}
      {%- do settled.append(q[at]) -%}
      {%- if a.keep -%}
        {%- do rows.append([sid, q[at], q[at + 1], q[at + 2], now, rid, tgt, q[at + 3], q[at + 4]]) -%}
        {%- do marks.append(["false", "0"]) -%}
      {%- else -%}
        {%- do rows.append([sid, q[at], "cast(null as " ~ text ~ ")", "cast(null as " ~ text ~ ")", now, rid, tgt,
                            "cast(null as " ~ text ~ ")", "cast(null as " ~ text ~ ")"]) -%}
        {%- do marks.append(["true", "0"]) -%}
      {%- endif -%}
    {%- endfor -%}
    {%- do statements.append(dbt_revsync.revsync_log_insert_sql(schema_relation, "revsync_sync_state",
        ["sync_id", "record_key", "row_hash", "destination_id", "synced_at", "run_id", "target", "origin", "upsert_value"], rows, marks)) -%}
  {%- endif -%}
  {%- set rows, marks = [], [] -%}
  {%- set null_text = "cast(null as " ~ text ~ ")" -%}
  {%- set first = 4 + 5 * (acks | length) -%}
  {%- for r in rejects -%}
    {%- set at = first + 4 * loop.index0 -%}
    {%- if r.record_key is not none -%}{%- do settled.append(q[at]) -%}{%- endif -%}
  {%- endfor -%}
  {%- for key in settled -%}
    {%- do rows.append([rid, sid, key, null_text, null_text, null_text, now]) -%}{%- do marks.append(["true", "0"]) -%}
  {%- endfor -%}
  {%- if rejects | selectattr("record_key", "none") | list -%}
    {%- do rows.append([rid, sid, null_text, null_text, null_text, null_text, now]) -%}{%- do marks.append(["true", "0"]) -%}
  {%- endif -%}
  {%- for r in rejects -%}
    {%- set at = first + 4 * loop.index0 -%}
    {%- do rows.append([rid, sid, q[at], q[at + 1], q[at + 2], q[at + 3], now]) -%}{%- do marks.append(["false", "1"]) -%}
  {%- endfor -%}
  {%- if rows -%}
    {%- do statements.append(dbt_revsync.revsync_log_insert_sql(schema_relation, "revsync_rejects",
        ["run_id", "sync_id", "record_key", "operation", "error_code", "error_message", adapter.quote('at')], rows, marks)) -%}
  {%- endif -%}
  {%- if run -%}
    {%- do statements.extend(dbt_revsync.revsync_run_sql(schema_relation, sync_id, run_id, run)) -%}
  {%- endif -%}
  {{ return(statements) }}
{%- endmacro %}


{% macro spark__revsync_run_sql(schema_relation, sync_id, run_id, run) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}{{ return(dbt_revsync.default__revsync_run_sql(schema_relation, sync_id, run_id, run)) }}{%- endif -%}
  {%- set ts = dbt.type_timestamp() -%}
  {%- set q = dbt_revsync.revsync_literals([run_id, sync_id, run.get('started_at'), run.get('finished_at'),
      run.get('status'), run.get('watermark'), run.get('message'), run.get('target')]) -%}
  {%- set values = [q[0], q[1], "cast(" ~ q[2] ~ " as " ~ ts ~ ")", "cast(" ~ q[3] ~ " as " ~ ts ~ ")", "cast(" ~ q[4] ~ " as string)"] -%}
  {%- for c in dbt_revsync.revsync_run_counts() -%}{%- do values.append("cast(" ~ (run.get(c, 0) | int) ~ " as bigint)") -%}{%- endfor -%}
  {%- do values.extend(["cast(" ~ q[5] ~ " as string)", "cast(" ~ q[6] ~ " as string)", "cast(" ~ q[7] ~ " as string)"]) -%}
  {{ return([dbt_revsync.revsync_log_insert_sql(schema_relation, "revsync_runs", dbt_revsync.revsync_runs_columns(), [values], [["false", "0"]])]) }}
{%- endmacro %}


{% macro spark__revsync_handover_sql(schema_relation, sync_id, target, destination_ids) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}{{ return(dbt_revsync.default__revsync_handover_sql(schema_relation, sync_id, target, destination_ids)) }}{%- endif -%}
  {{ return(dbt_revsync.revsync_log_copy_sql(schema_relation, "revsync_sync_state",
      "sync_id = " ~ dbt_revsync.revsync_literal(sync_id) ~ " and target = " ~ dbt_revsync.revsync_literal(target)
      ~ " and destination_id in (" ~ dbt_revsync.revsync_literals(destination_ids) | join(', ') ~ ")", {"origin": "'created'"})) }}
{%- endmacro %}


{#- Forgetting a sync: tombstones for its records and rejects, its runs copied without watermarks. -#}
{% macro spark__revsync_forget_sql(schema_relation, sync_id) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}{{ return(dbt_revsync.default__revsync_forget_sql(schema_relation, sync_id)) }}{%- endif -%}
  {%- set sid = dbt_revsync.revsync_literal(sync_id) -%}
  {%- set text = dbt.type_string() -%}
  {{ return([
      dbt_revsync.revsync_log_copy_sql(schema_relation, "revsync_sync_state", "sync_id = " ~ sid, {}, gone=true),
      "insert into " ~ dbt_revsync.revsync_log_relation(schema_relation, "revsync_rejects")
          ~ " (run_id, sync_id, record_key, __rs_gone, __rs_at, __rs_ord)"
          ~ " select cast(null as " ~ text ~ "), " ~ sid ~ ", record_key, true, current_timestamp(), 0 from (select distinct record_key from "
          ~ schema_relation ~ ".revsync_rejects where sync_id = " ~ sid ~ ") settled",
      dbt_revsync.revsync_log_copy_sql(schema_relation, "revsync_runs", "sync_id = " ~ sid ~ " and watermark is not null",
          {"watermark": "cast(null as " ~ text ~ ")"}),
  ]) }}
{%- endmacro %}


{#- Older row hashes: none on Spark (its state began with the current hash), but the same
    rewrite as appended rows, should a state be carried over. -#}
{% macro spark__revsync_upgrade_row_hashes_sql(relation, sync_id, target, key_columns, hash_columns, fingerprint, state_relation) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}
    {{ return(dbt_revsync.default__revsync_upgrade_row_hashes_sql(relation, sync_id, target, key_columns, hash_columns, fingerprint, state_relation)) }}
  {%- endif -%}
  {%- set columns = dbt_revsync.revsync_log_columns("revsync_sync_state") -%}
  {%- set values = [] -%}{%- for c in columns -%}{%- do values.append("u.__rs_hash" if c == "row_hash" else "s." ~ c) -%}{%- endfor -%}
insert into {{ state_relation }}__log ({{ columns | join(", ") }}, __rs_gone, __rs_at, __rs_ord)
select {{ values | join(", ") }}, false, current_timestamp(), 0
from {{ state_relation }} s
join (
    select __rs_key, min(__rs_hash) as __rs_hash, min(__rs_old) as __rs_old
    from (
        select {{ dbt_revsync.revsync_key_expression(key_columns) }} as __rs_key,
            {{ dbt_revsync.revsync_row_hash(hash_columns, fingerprint) }} as __rs_hash,
            {{ dbt_revsync.revsync_row_hash_v1(hash_columns, fingerprint) }} as __rs_old
        from {{ relation }}
    ) rows_now
    where __rs_key is not null
    group by __rs_key
    having count(*) = 1
) u on s.record_key = u.__rs_key and s.row_hash = u.__rs_old
where s.sync_id = {{ dbt_revsync.revsync_literal(sync_id) }} and s.target = {{ dbt_revsync.revsync_literal(target) }}
  and s.row_hash not like 'h2:%'
{%- endmacro %}

{% macro spark__revsync_retire_row_hashes_sql(sync_id, target, state_relation) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}
    {{ return(dbt_revsync.default__revsync_retire_row_hashes_sql(sync_id, target, state_relation)) }}
  {%- endif -%}
  {%- set columns = dbt_revsync.revsync_log_columns("revsync_sync_state") -%}
  {%- set values = [] -%}{%- for c in columns -%}{%- do values.append(dbt.concat(["'h2:older:'", "row_hash"]) if c == "row_hash" else c) -%}{%- endfor -%}
insert into {{ state_relation }}__log ({{ columns | join(", ") }}, __rs_gone, __rs_at, __rs_ord)
select {{ values | join(", ") }}, false, current_timestamp(), 0 from {{ state_relation }}
where sync_id = {{ dbt_revsync.revsync_literal(sync_id) }} and target = {{ dbt_revsync.revsync_literal(target) }}
  and row_hash not like 'h2:%'
{%- endmacro %}


{#-
  Compaction: none where the state is mutable. On a log, a mapping of
    measure  a query of one row: the sync's rows in the logs, and its live rows
    compact  statements that rewrite the sync's partition of each log as its live rows
    kept     the names of the kept tables those statements make and drop
  Each log's partition is first appended to `<log>__kept_<suffix>`, then overwritten from it,
  and only then is that table dropped: a rewrite stopped at any point leaves every row in the
  log or the kept table (an overwrite stopped half-way empties the partition, its rows are in
  the kept table), and the next push, finding a kept table, compacts again before its diff,
  whatever the measure says (rows held twice are the same row). Run under the lease, which on
  logs is one for the whole state schema.
-#}
{% macro revsync_compaction_sql(schema_relation, sync_id, suffix) -%}
  {{ return(adapter.dispatch('revsync_compaction_sql', 'dbt_revsync')(schema_relation, sync_id, suffix)) }}
{%- endmacro %}

{% macro default__revsync_compaction_sql(schema_relation, sync_id, suffix) -%}
  {{ return(none) }}
{%- endmacro %}

{% macro spark__revsync_compaction_sql(schema_relation, sync_id, suffix) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}{{ return(none) }}{%- endif -%}
  {%- set sid = dbt_revsync.revsync_literal(sync_id) -%}
  {%- set logged, live, statements, kept_names = [], [], [], [] -%}
  {%- for name, columns in dbt_revsync.revsync_state_tables().items() -%}
    {%- set log = dbt_revsync.revsync_log_relation(schema_relation, name) -%}
    {%- set kept = log ~ "_kept_" ~ suffix -%}
    {%- do kept_names.append(name ~ "__log_kept_" ~ suffix) -%}
    {%- set all_columns = dbt_revsync.revsync_log_columns(name) -%}
    {%- set rest = all_columns | reject("equalto", "sync_id") | list -%}
    {%- do logged.append("(select count(*) from " ~ log ~ " where sync_id = " ~ sid ~ ")") -%}
    {%- do live.append("(select count(*) from " ~ schema_relation ~ "." ~ name ~ " where sync_id = " ~ sid ~ ")") -%}
    {%- do statements.append("create table if not exists " ~ kept ~ " using parquet as select * from " ~ log ~ " where 1 = 0") -%}
    {%- do statements.append("insert into " ~ kept ~ " select * from " ~ log ~ " where sync_id = " ~ sid) -%}
    {%- do statements.append("insert overwrite table " ~ log ~ " partition (sync_id = " ~ sid ~ ") select "
        ~ (rest + ["__rs_gone", "__rs_at", "__rs_ord"]) | join(", ") ~ " from ("
        ~ dbt_revsync.revsync_log_live_sql(name, "(select distinct * from " ~ kept ~ " where sync_id = " ~ sid ~ ")", all_columns, internal=true)
        ~ ") compacted") -%}
    {%- do statements.append("drop table if exists " ~ kept) -%}
  {%- endfor -%}
  {{ return({"measure": "select " ~ logged | join(" + ") ~ " as log_rows, " ~ live | join(" + ") ~ " as live_rows",
             "compact": statements, "kept": kept_names}) }}
{%- endmacro %}
