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
  The older row hash's text, built flat: PostgreSQL functions take at most 100 arguments and
  a long `||` chain nests as deep as the row is wide; an array constructor does neither.
-#}
{% macro postgres__revsync_row_hash_v1(columns, fingerprint) -%}
  {{ dbt.hash("array_to_string(array[" ~ dbt_revsync.revsync_row_hash_v1_parts(columns, fingerprint) | join(", ") ~ "], '')") }}
{%- endmacro %}
