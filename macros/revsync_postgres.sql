{#-
  PostgreSQL's versions of the package's macros, where the default would be slow or wrong
  there. Every other macro's `default__` version runs on PostgreSQL as it is.
-#}

{#-
  The changes table is scratch, rebuilt by every push: unlogged (no write-ahead log), and
  indexed on `__rs_seq`, which every page reads by range (a row store scans the whole table
  for each page otherwise). Analysed so the planner uses the index from the first page on.
-#}
{% macro postgres__revsync_create_changes_table_sql(relation, sql) -%}
  {{ return([
      "drop table if exists " ~ relation,
      "create unlogged table " ~ relation ~ " as " ~ sql,
      "create index on " ~ relation ~ " (__rs_seq)",
      "analyze " ~ relation,
  ]) }}
{%- endmacro %}


{#-
  The default tables, plus an index on the state's (sync_id, record_key): every batch's commit
  deletes by it and every diff joins on it, and a row store scans the table for each otherwise.
-#}
{% macro postgres__revsync_state_ddl(schema_relation) -%}
  {%- set statements = dbt_revsync.default__revsync_state_ddl(schema_relation) -%}
  {%- do statements.append("create index if not exists revsync_sync_state_key on "
      ~ schema_relation ~ ".revsync_sync_state (sync_id, record_key)") -%}
  {{ return(statements) }}
{%- endmacro %}


{#-
  One state row per (sync, target, record), kept by a unique index. State written by a
  version without locks may hold repeated keys: the newest row of each is kept, once, when
  the index is made.
-#}
{% macro postgres__revsync_state_unique_sql(schema_relation) -%}
  {%- set state = schema_relation ~ ".revsync_sync_state" -%}
  {{ return("do $revsync$ begin if not exists (select 1 from pg_indexes where schemaname = "
      ~ dbt_revsync.revsync_literal(schema_relation.schema) ~ " and indexname = 'revsync_sync_state_unique') then "
      ~ "delete from " ~ state ~ " a using " ~ state ~ " b where a.sync_id = b.sync_id and a.record_key = b.record_key"
      ~ " and a.target is not distinct from b.target and (a.synced_at, a.ctid) < (b.synced_at, b.ctid); "
      ~ "create unique index revsync_sync_state_unique on " ~ state ~ " (sync_id, target, record_key); "
      ~ "end if; end $revsync$") }}
{%- endmacro %}

{% macro postgres__revsync_lock_kind() -%}{{ return("advisory") }}{%- endmacro %}

{#- A session-level advisory lock on a 64-bit hash of the sync's id: released by the push,
    or by PostgreSQL when the push's connection ends (a killed push holds nothing). -#}
{% macro postgres__revsync_advisory_lock_sql(sync_id) -%}
  {%- set key = "hashtextextended(" ~ dbt_revsync.revsync_literal("dbt-revsync:" ~ sync_id) ~ ", 0)" -%}
  {{ return({
      "take": "select pg_try_advisory_lock(" ~ key ~ ") as taken",
      "release": "select pg_advisory_unlock(" ~ key ~ ") as released",
  }) }}
{%- endmacro %}


{#-
  The older row hash's text, built flat: PostgreSQL functions take at most 100 arguments and
  a long `||` chain nests as deep as the row is wide; an array constructor does neither.
-#}
{% macro postgres__revsync_row_hash_v1(columns, fingerprint) -%}
  {{ dbt.hash("array_to_string(array[" ~ dbt_revsync.revsync_row_hash_v1_parts(columns, fingerprint) | join(", ") ~ "], '')") }}
{%- endmacro %}
