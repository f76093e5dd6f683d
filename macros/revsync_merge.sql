{#-
  A batch's commit where the warehouse has no multi-statement transaction (Snowflake: dbt-snowflake
  runs every statement on its own; BigQuery: each statement is a job; Databricks: Delta commits
  each statement): one MERGE per table, so no table is ever half-written.

    1. revsync_sync_state   one MERGE: the batch's acknowledged records replace their rows,
                            deleted records leave (the acknowledgements, first)
    2. revsync_rejects      one MERGE, only when the batch settled or rejected a key: the earlier
                            rejects of the keys it settled leave, its rejects arrive
    3. revsync_runs         one MERGE: the run's row, replaced

  In that order: a push stopped between them has remembered what the destination acknowledged
  (nothing is sent twice); what it may lack is a reject row or the run's latest counts, which
  the next batch or the run's end writes again. A batch costs two statements (three with rejects).
-#}

{% macro snowflake__revsync_commit_sql(schema_relation, sync_id, target, run_id, acks, rejects, run, now) -%}
  {{ return(dbt_revsync.revsync_merge_commit_sql(schema_relation, sync_id, target, run_id, acks, rejects, run, now)) }}
{%- endmacro %}

{% macro bigquery__revsync_commit_sql(schema_relation, sync_id, target, run_id, acks, rejects, run, now) -%}
  {{ return(dbt_revsync.revsync_merge_commit_sql(schema_relation, sync_id, target, run_id, acks, rejects, run, now)) }}
{%- endmacro %}

{% macro databricks__revsync_commit_sql(schema_relation, sync_id, target, run_id, acks, rejects, run, now) -%}
  {{ return(dbt_revsync.revsync_merge_commit_sql(schema_relation, sync_id, target, run_id, acks, rejects, run, now)) }}
{%- endmacro %}

{#- The runs row, replaced by one MERGE (a delete then an insert can stop between the two). -#}
{% macro snowflake__revsync_run_sql(schema_relation, sync_id, run_id, run) -%}
  {{ return([dbt_revsync.revsync_run_merge_sql(schema_relation, sync_id, run_id, run)]) }}
{%- endmacro %}

{% macro bigquery__revsync_run_sql(schema_relation, sync_id, run_id, run) -%}
  {{ return([dbt_revsync.revsync_run_merge_sql(schema_relation, sync_id, run_id, run)]) }}
{%- endmacro %}

{% macro databricks__revsync_run_sql(schema_relation, sync_id, run_id, run) -%}
  {{ return([dbt_revsync.revsync_run_merge_sql(schema_relation, sync_id, run_id, run)]) }}
{%- endmacro %}


{% macro revsync_merge_commit_sql(schema_relation, sync_id, target, run_id, acks, rejects, run, now) -%}
  {%- set latest = {} -%}
  {%- for a in acks -%}{%- do latest.update({a.record_key: a}) -%}{%- endfor -%}
  {%- set acks = latest.values() | list -%}  {#- one source row per key: a MERGE matches each target row once -#}
  {%- set flat = [sync_id, run_id, now, target] -%}
  {%- for a in acks -%}{%- do flat.extend([a.record_key, a.row_hash, a.destination_id, a.origin, a.upsert_value]) -%}{%- endfor -%}
  {%- for r in rejects -%}{%- do flat.extend([r.record_key, r.operation, r.error_code, r.error_message]) -%}{%- endfor -%}
  {%- set q = dbt_revsync.revsync_literals(flat) -%}
  {%- set sid, rid, tgt = q[0], q[1], q[3] -%}
  {%- set ts = "cast(" ~ q[2] ~ " as " ~ dbt.type_timestamp() ~ ")" -%}
  {%- set statements = [] -%}
  {%- set settled = [] -%}
  {%- if acks -%}
    {%- set rows = [] -%}
    {%- for a in acks -%}
      {%- set at = 4 + 5 * loop.index0 -%}
      {%- do rows.append([q[at], q[at + 1], q[at + 2], q[at + 3], q[at + 4], "'y'" if a.keep else "'n'"]) -%}
      {%- if q[at] not in settled -%}{%- do settled.append(q[at]) -%}{%- endif -%}
    {%- endfor -%}
    {%- set source = dbt_revsync.revsync_rows_source(["record_key", "row_hash", "destination_id", "origin", "upsert_value", "keep"], rows) -%}
    {%- do statements.append(
        "merge into " ~ schema_relation ~ ".revsync_sync_state as t using (" ~ source ~ ") as s"
        ~ " on t.sync_id = " ~ sid ~ " and t.target = " ~ tgt ~ " and t.record_key = s.record_key"
        ~ " when matched and s.keep = 'n' then delete"
        ~ " when matched then update set row_hash = s.row_hash, destination_id = s.destination_id, synced_at = " ~ ts
        ~ ", run_id = " ~ rid ~ ", origin = s.origin, upsert_value = s.upsert_value"
        ~ " when not matched and s.keep = 'y' then insert"
        ~ " (sync_id, record_key, row_hash, destination_id, synced_at, run_id, target, origin, upsert_value)"
        ~ " values (" ~ sid ~ ", s.record_key, s.row_hash, s.destination_id, " ~ ts ~ ", " ~ rid ~ ", " ~ tgt
        ~ ", s.origin, s.upsert_value)") -%}
  {%- endif -%}
  {%- if settled or rejects -%}
    {%- set rows = [] -%}
    {%- set first = 4 + 5 * (acks | length) -%}
    {%- for r in rejects -%}
      {%- set at = first + 4 * loop.index0 -%}
      {%- if r.record_key is not none and q[at] not in settled -%}{%- do settled.append(q[at]) -%}{%- endif -%}
      {%- do rows.append(["null", q[at], q[at + 1], q[at + 2], q[at + 3], "'n'"]) -%}
    {%- endfor -%}
    {%- for key in settled -%}{%- do rows.append([key, "null", "null", "null", "null", "'n'"]) -%}{%- endfor -%}
    {%- if rejects | selectattr("record_key", "none") | list -%}
      {%- do rows.append(["null", "null", "null", "null", "null", "'y'"]) -%}
    {%- endif -%}
    {%- set source = dbt_revsync.revsync_rows_source(["match_key", "record_key", "operation", "error_code", "error_message", "unkeyed"], rows) -%}
    {%- set at_column = adapter.quote('at') -%}
    {%- do statements.append(
        "merge into " ~ schema_relation ~ ".revsync_rejects as t using (" ~ source ~ ") as s"
        ~ " on t.sync_id = " ~ sid ~ " and (t.record_key = s.match_key"
        ~ " or (s.unkeyed = 'y' and t.record_key is null and t.run_id <> " ~ rid ~ "))"
        ~ " when matched then delete"
        ~ " when not matched and s.match_key is null and s.unkeyed = 'n' then insert"
        ~ " (run_id, sync_id, record_key, operation, error_code, error_message, " ~ at_column ~ ")"
        ~ " values (" ~ rid ~ ", " ~ sid ~ ", s.record_key, s.operation, s.error_code, s.error_message, " ~ ts ~ ")") -%}
  {%- endif -%}
  {%- if run -%}
    {%- do statements.append(dbt_revsync.revsync_run_merge_sql(schema_relation, sync_id, run_id, run)) -%}
  {%- endif -%}
  {{ return(statements) }}
{%- endmacro %}


{% macro revsync_run_merge_sql(schema_relation, sync_id, run_id, run) -%}
  {%- set ts = dbt.type_timestamp() -%}
  {%- set q = dbt_revsync.revsync_literals([run_id, sync_id, run.get('started_at'), run.get('finished_at'),
      run.get('status'), run.get('watermark'), run.get('message'), run.get('target')]) -%}
  {%- set values = [q[0], q[1], "cast(" ~ q[2] ~ " as " ~ ts ~ ")", "cast(" ~ q[3] ~ " as " ~ ts ~ ")", q[4]] -%}
  {%- for c in dbt_revsync.revsync_run_counts() -%}{%- do values.append(run.get(c, 0) | int) -%}{%- endfor -%}
  {%- do values.extend([q[5], q[6], q[7]]) -%}
  {%- set columns = dbt_revsync.revsync_runs_columns() -%}
  {%- set assigned = [] -%}
  {%- set inserted = [] -%}
  {%- for c in columns -%}
    {%- if loop.index0 > 1 -%}{%- do assigned.append(c ~ " = " ~ values[loop.index0]) -%}{%- endif -%}
  {%- endfor -%}
  {{ return("merge into " ~ schema_relation ~ ".revsync_runs as t using (select " ~ q[1] ~ " as sync_id, " ~ q[0] ~ " as run_id) as s"
      ~ " on t.sync_id = s.sync_id and t.run_id = s.run_id"
      ~ " when matched then update set " ~ assigned | join(", ")
      ~ " when not matched then insert (" ~ columns | join(", ") ~ ") values (" ~ values | join(", ") ~ ")") }}
{%- endmacro %}


{#-
  Rows of literals as a query with the given (text) columns: `rows` are lists of SQL literals,
  one per column. Every column is text; a null is cast, so that no column is typed by a null.
-#}
{% macro revsync_rows_source(columns, rows) -%}
  {{ return(adapter.dispatch('revsync_rows_source', 'dbt_revsync')(columns, rows)) }}
{%- endmacro %}

{% macro default__revsync_rows_source(columns, rows) -%}
  {%- set text = dbt.type_string() -%}
  {%- set selects = [] -%}
  {%- for row in rows -%}
    {%- set values = [] -%}
    {%- for value in row -%}
      {%- do values.append("cast(null as " ~ text ~ ")" if value == "null" else value) -%}
    {%- endfor -%}
    {%- if loop.first -%}
      {%- set named = [] -%}
      {%- for value in values -%}{%- do named.append(value ~ " as " ~ columns[loop.index0]) -%}{%- endfor -%}
      {%- do selects.append("select " ~ named | join(", ")) -%}
    {%- else -%}
      {%- do selects.append("select " ~ values | join(", ")) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(selects | join(" union all ")) }}
{%- endmacro %}

{#- A VALUES list with named columns (Snowflake admits 16,384 rows in one; a batch is far fewer). -#}
{% macro snowflake__revsync_rows_source(columns, rows) -%}
  {{ return(dbt_revsync.revsync_values_source(columns, rows)) }}
{%- endmacro %}

{% macro databricks__revsync_rows_source(columns, rows) -%}
  {{ return(dbt_revsync.revsync_values_source(columns, rows)) }}
{%- endmacro %}

{% macro revsync_values_source(columns, rows) -%}
  {%- set text = dbt.type_string() -%}
  {%- set tuples = [] -%}
  {%- for row in rows -%}
    {%- set values = [] -%}
    {%- for value in row -%}
      {%- do values.append("cast(null as " ~ text ~ ")" if value == "null" else value) -%}
    {%- endfor -%}
    {%- do tuples.append("(" ~ values | join(", ") ~ ")") -%}
  {%- endfor -%}
  {{ return("select * from (values " ~ tuples | join(", ") ~ ") as v (" ~ columns | join(", ") ~ ")") }}
{%- endmacro %}

{#- BigQuery has no VALUES table: an array of typed structs, unnested. -#}
{% macro bigquery__revsync_rows_source(columns, rows) -%}
  {%- set typed = [] -%}
  {%- for column in columns -%}{%- do typed.append(column ~ " string") -%}{%- endfor -%}
  {%- set structs = [] -%}
  {%- for row in rows -%}{%- do structs.append("(" ~ row | join(", ") ~ ")") -%}{%- endfor -%}
  {{ return("select * from unnest(array<struct<" ~ typed | join(", ") ~ ">>[" ~ structs | join(", ") ~ "])") }}
{%- endmacro %}
