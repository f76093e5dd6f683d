{#-
  The post-run hook: what a building dbt invocation built and how the tests of each node went,
  recorded in the state schema for `dbt-revsync push` to read. In dbt_project.yml:

      on-run-end: "{{ dbt_revsync.record_results(results) }}"

  Only build, run, seed, snapshot and retry invocations are recorded (`dbt test`, `dbt docs
  generate`, `dbt compile` leave the record alone). One row per result: a node's own row
  (`attached_to` null) or a test's row per node it tests (`attached_to` that node). The rows
  of a node's earlier builds are deleted when it is built again: the table holds each node's
  latest build and the tests run with it. The schema is the var `revsync_state_schema`, else
  $DBT_REVSYNC_STATE_SCHEMA, else `revsync` (the one `dbt-revsync push --state-schema` reads).
-#}

{% macro record_results(results) -%}
  {{ return(adapter.dispatch('record_results', 'dbt_revsync')(results)) }}
{%- endmacro %}

{% macro default__record_results(results) -%}
  {%- if not execute or (flags.WHICH | string) not in ['build', 'run', 'seed', 'snapshot', 'retry'] -%}
    {{ return('') }}
  {%- endif -%}
  {%- set rows = dbt_revsync.revsync_result_rows(results) -%}
  {%- if rows -%}
    {%- set schema_name = var('revsync_state_schema', env_var('DBT_REVSYNC_STATE_SCHEMA', 'revsync')) -%}
    {%- set schema_relation = api.Relation.create(database=target.get('database'), schema=schema_name).without_identifier() -%}
    {%- do adapter.create_schema(schema_relation) -%}
    {%- for sql in dbt_revsync.revsync_results_ddl(schema_relation) + dbt_revsync.revsync_record_results_sql(schema_relation, rows) -%}
      {#- in a transaction dbt knows of (run_query does not begin one), committed once -#}
      {%- call statement('revsync_record_results', fetch_result=False, auto_begin=True) -%}{{ sql }}{%- endcall -%}
    {%- endfor -%}
    {%- do adapter.commit() -%}
  {%- endif -%}
  {{ return('') }}
{%- endmacro %}


{#- The columns of revsync_build_results, in order. -#}
{% macro revsync_results_columns() -%}
  {{ return(["invocation_id", "command", "recorded_at", "unique_id", "resource_type", "status",
             "attached_to", "test_name", "severity", "failures", "failures_relation"]) }}
{%- endmacro %}


{#- One row (a list of Python values, in `revsync_results_columns` order) per result and tested node. -#}
{% macro revsync_result_rows(results) -%}
  {%- set now = modules.datetime.datetime.now(modules.pytz.utc).strftime('%Y-%m-%d %H:%M:%S.%f') -%}
  {%- set rows = [] -%}
  {%- for result in results -%}
    {%- set node = result.node -%}
    {%- set kind = node.resource_type | string -%}
    {%- set status = result.status | string -%}
    {%- set failures = result.failures if result.failures is number else none -%}
    {%- if kind == 'test' -%}
      {%- set attached = node.attached_node if node.attached_node else none -%}
      {%- set targets = [attached] if attached else (node.depends_on.nodes | list) -%}
      {%- set stored = node.relation_name if (node.config.store_failures and node.relation_name) else none -%}
      {%- for target in targets -%}
        {%- do rows.append([invocation_id, flags.WHICH | string, now, node.unique_id, kind, status, target,
                            node.name, node.config.severity | string | lower, failures, stored]) -%}
      {%- endfor -%}
    {%- elif kind in ['model', 'seed', 'snapshot'] -%}
      {%- do rows.append([invocation_id, flags.WHICH | string, now, node.unique_id, kind, status, none,
                          none, none, none, none]) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(rows) }}
{%- endmacro %}


{% macro revsync_results_ddl(schema_relation) -%}
  {{ return(adapter.dispatch('revsync_results_ddl', 'dbt_revsync')(schema_relation)) }}
{%- endmacro %}

{% macro default__revsync_results_ddl(schema_relation) -%}
  {%- set text = dbt_revsync.revsync_type_string() -%}
  {%- set ts = dbt.type_timestamp() -%}
  {%- set num = dbt.type_bigint() -%}
  {{ return([
      "create table if not exists " ~ schema_relation ~ ".revsync_build_results ("
      ~ "invocation_id " ~ text ~ ", command " ~ text ~ ", recorded_at " ~ ts ~ ", unique_id " ~ text
      ~ ", resource_type " ~ text ~ ", status " ~ text ~ ", attached_to " ~ text ~ ", test_name " ~ text
      ~ ", severity " ~ text ~ ", failures " ~ num ~ ", failures_relation " ~ text ~ ")",
      "create table if not exists " ~ schema_relation ~ ".revsync_holds ("
      ~ "sync_id " ~ text ~ ", invocation_id " ~ text ~ ", held_at " ~ ts ~ ", reason " ~ text
      ~ ", held_rows " ~ num ~ ")",
  ]) }}
{%- endmacro %}


{#- A literal for a Python value: none, a number, else text (quoted as `revsync_literal` does). -#}
{% macro revsync_results_literal(value) -%}
  {%- if value is none -%}{{ return('null') }}
  {%- elif value is number -%}{{ return(value | string) }}
  {%- else -%}{{ return(dbt_revsync.revsync_literal(value | string)) }}
  {%- endif -%}
{%- endmacro %}


{#-
  Forget the earlier builds of every node this invocation built (its own rows and its tests'),
  then insert this invocation's rows, a few hundred per statement.
-#}
{% macro revsync_record_results_sql(schema_relation, rows) -%}
  {{ return(adapter.dispatch('revsync_record_results_sql', 'dbt_revsync')(schema_relation, rows)) }}
{%- endmacro %}

{% macro default__revsync_record_results_sql(schema_relation, rows) -%}
  {%- set table = schema_relation ~ ".revsync_build_results" -%}
  {%- set built = [] -%}
  {%- for row in rows if row[6] is none -%}{%- do built.append(dbt_revsync.revsync_results_literal(row[3])) -%}{%- endfor -%}
  {%- set statements = [] -%}
  {%- if built -%}
    {%- for chunk in built | batch(500) -%}
      {%- set ids = chunk | join(", ") -%}
      {%- do statements.append("delete from " ~ table ~ " where invocation_id <> "
          ~ dbt_revsync.revsync_results_literal(invocation_id)
          ~ " and (unique_id in (" ~ ids ~ ") or attached_to in (" ~ ids ~ "))") -%}
    {%- endfor -%}
  {%- endif -%}
  {%- set ts = dbt.type_timestamp() -%}
  {%- for chunk in rows | batch(300) -%}
    {%- set values = [] -%}
    {%- for row in chunk -%}
      {%- set cells = [] -%}
      {%- for value in row -%}
        {%- if loop.index0 == 2 -%}
          {%- do cells.append("cast(" ~ dbt_revsync.revsync_results_literal(value) ~ " as " ~ ts ~ ")") -%}
        {%- else -%}
          {%- do cells.append(dbt_revsync.revsync_results_literal(value)) -%}
        {%- endif -%}
      {%- endfor -%}
      {%- do values.append("(" ~ cells | join(", ") ~ ")") -%}
    {%- endfor -%}
    {%- do statements.append("insert into " ~ table ~ " (" ~ dbt_revsync.revsync_results_columns() | join(", ")
        ~ ") values " ~ values | join(", ")) -%}
  {%- endfor -%}
  {{ return(statements) }}
{%- endmacro %}


{#- Whether a table of the state schema exists (revsync_build_results: the hook has run). -#}
{% macro revsync_table_exists(schema_relation, identifier) -%}
  {%- set found = adapter.get_relation(database=schema_relation.database, schema=schema_relation.schema,
                                       identifier=identifier) -%}
  {{ return(found is not none) }}
{%- endmacro %}


{% macro revsync_build_results_sql(schema_relation) -%}
  {{ return(adapter.dispatch('revsync_build_results_sql', 'dbt_revsync')(schema_relation)) }}
{%- endmacro %}

{% macro default__revsync_build_results_sql(schema_relation) -%}
  select {{ dbt_revsync.revsync_results_columns() | join(', ') }}
  from {{ schema_relation }}.revsync_build_results
  order by recorded_at, unique_id, attached_to
{%- endmacro %}


{#- The distinct record keys (as the diff writes them) of a test's stored failures; `key_columns`: unquoted names. -#}
{% macro revsync_failed_keys_sql(relation, key_columns) -%}
  {{ return(adapter.dispatch('revsync_failed_keys_sql', 'dbt_revsync')(relation, key_columns)) }}
{%- endmacro %}

{% macro default__revsync_failed_keys_sql(relation, key_columns) -%}
  {%- set parts = [] -%}
  {%- for column in key_columns -%}{%- do parts.append(dbt_revsync.revsync_key_text(adapter.quote(column))) -%}{%- endfor -%}
  {%- if parts | length == 1 -%}
    {%- set key_expr = parts[0] -%}
  {%- else -%}
    {%- set guarded = [] -%}
    {%- for part in parts -%}{%- do guarded.append(part) -%}{%- if not loop.last -%}{%- do guarded.append("'|'") -%}{%- endif -%}{%- endfor -%}
    {%- set key_expr = dbt.concat(guarded) -%}
  {%- endif -%}
  select distinct {{ key_expr }} as record_key from {{ relation }}
{%- endmacro %}


{#- Replace a sync's hold: `reason` none clears it. -#}
{% macro revsync_hold_sql(schema_relation, sync_id, invocation_id, reason, held_rows, now) -%}
  {{ return(adapter.dispatch('revsync_hold_sql', 'dbt_revsync')(schema_relation, sync_id, invocation_id, reason, held_rows, now)) }}
{%- endmacro %}

{% macro default__revsync_hold_sql(schema_relation, sync_id, invocation_id, reason, held_rows, now) -%}
  {%- set q = dbt_revsync.revsync_results_literal -%}
  {%- set statements = ["delete from " ~ schema_relation ~ ".revsync_holds where sync_id = " ~ q(sync_id)] -%}
  {%- if reason is not none -%}
    {%- do statements.append("insert into " ~ schema_relation ~ ".revsync_holds (sync_id, invocation_id, held_at, reason, held_rows) values ("
        ~ q(sync_id) ~ ", " ~ q(invocation_id) ~ ", cast(" ~ q(now) ~ " as " ~ dbt.type_timestamp() ~ "), " ~ q(reason) ~ ", " ~ q(held_rows) ~ ")") -%}
  {%- endif -%}
  {{ return(statements) }}
{%- endmacro %}


{#- Every sync's current hold. -#}
{% macro revsync_holds_sql(schema_relation) -%}
  {{ return(adapter.dispatch('revsync_holds_sql', 'dbt_revsync')(schema_relation)) }}
{%- endmacro %}

{% macro default__revsync_holds_sql(schema_relation) -%}
  select sync_id, invocation_id, held_at, reason, held_rows from {{ schema_relation }}.revsync_holds order by sync_id
{%- endmacro %}


{#-
  Apache Spark's parquet and Hive tables (`revsync_state_kind` `log`, see revsync_spark.sql):
  no DELETE, so both tables are append-only logs with views of their live rows.

  - `revsync_build_results__log`: every result row the hook recorded, and per node built a
    tombstone (`unique_id` the node, the invocation's id): the view `revsync_build_results`
    shows the rows no later tombstone of another invocation covers (by `unique_id` or
    `attached_to`), which are the rows the DELETE of `default__` would have kept;
  - `revsync_holds__log`, partitioned by `sync_id`: a hold is an appended row, its clearing
    a tombstone; the view `revsync_holds` shows each sync's latest row unless a tombstone.
-#}
{% macro revsync_results_types() -%}
  {%- set text, ts, num = dbt_revsync.revsync_type_string(), dbt.type_timestamp(), dbt.type_bigint() -%}
  {{ return({"revsync_build_results": [text, text, ts, text, text, text, text, text, text, num, text],
             "revsync_holds": [text, text, ts, text, num]}) }}
{%- endmacro %}

{% macro revsync_holds_columns() -%}
  {{ return(["sync_id", "invocation_id", "held_at", "reason", "held_rows"]) }}
{%- endmacro %}

{#- A row of Python values as typed SQL expressions (`kinds`: the columns' types). -#}
{% macro revsync_results_cells(row, kinds) -%}
  {%- set cells = [] -%}
  {%- for value in row -%}
    {%- do cells.append("cast(" ~ dbt_revsync.revsync_results_literal(value) ~ " as " ~ kinds[loop.index0] ~ ")") -%}
  {%- endfor -%}
  {{ return(cells) }}
{%- endmacro %}

{% macro spark__revsync_results_ddl(schema_relation) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}{{ return(dbt_revsync.default__revsync_results_ddl(schema_relation)) }}{%- endif -%}
  {%- set types = dbt_revsync.revsync_results_types() -%}
  {%- set results, holds = dbt_revsync.revsync_results_columns(), dbt_revsync.revsync_holds_columns() -%}
  {%- set statements = [] -%}
  {%- for name, columns, partition in [("revsync_build_results", results, ""), ("revsync_holds", holds, " partitioned by (sync_id)")] -%}
    {%- set defined = [] -%}
    {%- for c in columns -%}{%- do defined.append(c ~ " " ~ types[name][loop.index0]) -%}{%- endfor -%}
    {%- do statements.append("create table if not exists " ~ dbt_revsync.revsync_log_relation(schema_relation, name) ~ " ("
        ~ defined | join(", ") ~ ", __rs_gone boolean, __rs_at timestamp, __rs_ord int) using parquet" ~ partition) -%}
  {%- endfor -%}
  {%- set log = dbt_revsync.revsync_log_relation(schema_relation, "revsync_build_results") -%}
  {%- do statements.append("create or replace view " ~ schema_relation ~ ".revsync_build_results as select "
      ~ results | join(", ") ~ " from " ~ log ~ " r where not r.__rs_gone and not exists (select 1 from " ~ log
      ~ " t where t.__rs_gone and t.invocation_id <> r.invocation_id"
      ~ " and (t.unique_id = r.unique_id or t.unique_id = r.attached_to)"
      ~ " and (t.__rs_at > r.__rs_at or (t.__rs_at = r.__rs_at and t.__rs_ord > r.__rs_ord)))") -%}
  {%- set log = dbt_revsync.revsync_log_relation(schema_relation, "revsync_holds") -%}
  {%- do statements.append("create or replace view " ~ schema_relation ~ ".revsync_holds as select " ~ holds | join(", ")
      ~ " from (select *, row_number() over (partition by sync_id order by __rs_at desc, __rs_ord desc) as __rs_n from "
      ~ log ~ ") latest where __rs_n = 1 and not __rs_gone") -%}
  {{ return(statements) }}
{%- endmacro %}

{#- A tombstone per node built (its earlier builds and their tests are forgotten), then the rows. -#}
{% macro spark__revsync_record_results_sql(schema_relation, rows) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}{{ return(dbt_revsync.default__revsync_record_results_sql(schema_relation, rows)) }}{%- endif -%}
  {%- set kinds = dbt_revsync.revsync_results_types()["revsync_build_results"] -%}
  {%- set columns = dbt_revsync.revsync_results_columns() -%}
  {%- set logged = [] -%}
  {%- for row in rows if row[6] is none -%}
    {%- do logged.append((dbt_revsync.revsync_results_cells([row[0], row[1], row[2], row[3], none, none, none, none, none, none, none], kinds), ["true", "0"])) -%}
  {%- endfor -%}
  {%- for row in rows -%}
    {%- do logged.append((dbt_revsync.revsync_results_cells(row, kinds), ["false", "1"])) -%}
  {%- endfor -%}
  {%- set statements = [] -%}
  {%- for chunk in logged | batch(300) -%}
    {%- do statements.append(dbt_revsync.revsync_log_insert_sql(schema_relation, "revsync_build_results", columns,
        chunk | map(attribute=0) | list, chunk | map(attribute=1) | list)) -%}
  {%- endfor -%}
  {{ return(statements) }}
{%- endmacro %}

{% macro spark__revsync_hold_sql(schema_relation, sync_id, invocation_id, reason, held_rows, now) -%}
  {%- if dbt_revsync.revsync_state_kind() != "log" -%}
    {{ return(dbt_revsync.default__revsync_hold_sql(schema_relation, sync_id, invocation_id, reason, held_rows, now)) }}
  {%- endif -%}
  {%- set kinds = dbt_revsync.revsync_results_types()["revsync_holds"] -%}
  {%- set row = [sync_id, invocation_id, now, reason, held_rows] if reason is not none else [sync_id, none, now, none, none] -%}
  {{ return([dbt_revsync.revsync_log_insert_sql(schema_relation, "revsync_holds", dbt_revsync.revsync_holds_columns(),
      [dbt_revsync.revsync_results_cells(row, kinds)], [["false" if reason is not none else "true", "0"]])]) }}
{%- endmacro %}
