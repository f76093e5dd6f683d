{#-
  Text literals and trims where a warehouse's SQL differs from the standard one the
  `default__` macros write (docs/warehouses.md, "Keys and literals per dialect").

  Literals: PostgreSQL and DuckDB read '...' as written, a quote doubled. Elsewhere a
  backslash inside '...' starts an escape sequence, so each backslash is written doubled:
    snowflake   \\ and ''
    redshift    \\ and ''  (Redshift keeps PostgreSQL 8's escapes in '...')
    bigquery    \\ and \'  ('' is not a quote there, and a line break may not stand in '...')
    spark       \\ and \'  ('it''s' is two literals, read as `its`); Databricks dispatches here
  `revsync_literal` and `revsync_literals` quote alike on every adapter.
-#}

{#- Each value (or none) as a '...' literal, after replacing each (from, to) of `escapes` in order. -#}
{% macro revsync_escaped_literals(values, escapes) -%}
  {%- set quoted = [] -%}
  {%- for value in values -%}
    {%- if value is none -%}
      {%- do quoted.append("null") -%}
    {%- else -%}
      {%- set text = [value | string] -%}
      {%- for pair in escapes -%}{%- do text.append(text[-1].replace(pair[0], pair[1])) -%}{%- endfor -%}
      {%- do quoted.append("'" ~ text[-1] ~ "'") -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(quoted) }}
{%- endmacro %}

{#- The escapes of each dialect, backslash first. -#}
{% macro revsync_backslash_escapes(quote) -%}
  {%- set bs = "\\" -%}
  {{ return([(bs, bs ~ bs), ("'", quote)]) }}
{%- endmacro %}

{% macro revsync_bigquery_escapes() -%}
  {%- set bs = "\\" -%}
  {{ return([(bs, bs ~ bs), ("'", bs ~ "'"), ("\n", bs ~ "n"), ("\r", bs ~ "r")]) }}
{%- endmacro %}


{% macro snowflake__revsync_literal(value) -%}
  {{ return(dbt_revsync.revsync_escaped_literals([value], dbt_revsync.revsync_backslash_escapes("''"))[0]) }}
{%- endmacro %}

{% macro snowflake__revsync_literals(values) -%}
  {{ return(dbt_revsync.revsync_escaped_literals(values, dbt_revsync.revsync_backslash_escapes("''"))) }}
{%- endmacro %}

{% macro redshift__revsync_literal(value) -%}
  {{ return(dbt_revsync.revsync_escaped_literals([value], dbt_revsync.revsync_backslash_escapes("''"))[0]) }}
{%- endmacro %}

{% macro redshift__revsync_literals(values) -%}
  {{ return(dbt_revsync.revsync_escaped_literals(values, dbt_revsync.revsync_backslash_escapes("''"))) }}
{%- endmacro %}

{% macro spark__revsync_literal(value) -%}
  {{ return(dbt_revsync.revsync_escaped_literals([value], dbt_revsync.revsync_backslash_escapes("\\'"))[0]) }}
{%- endmacro %}

{% macro spark__revsync_literals(values) -%}
  {{ return(dbt_revsync.revsync_escaped_literals(values, dbt_revsync.revsync_backslash_escapes("\\'"))) }}
{%- endmacro %}

{% macro bigquery__revsync_literal(value) -%}
  {{ return(dbt_revsync.revsync_escaped_literals([value], dbt_revsync.revsync_bigquery_escapes())[0]) }}
{%- endmacro %}

{% macro bigquery__revsync_literals(values) -%}
  {{ return(dbt_revsync.revsync_escaped_literals(values, dbt_revsync.revsync_bigquery_escapes())) }}
{%- endmacro %}


{#- Snowflake and BigQuery have no `trim(both ' ' from x)`: trim(x, chars), ltrim, rtrim. -#}
{% macro revsync_trim_function(text, characters, side) -%}
  {%- set name = {"both": "trim", "leading": "ltrim", "trailing": "rtrim"}[side] -%}
  {{ return(name ~ "(" ~ text ~ ", '" ~ characters ~ "')") }}
{%- endmacro %}

{% macro snowflake__revsync_trim(text, characters, side) -%}
  {{ return(dbt_revsync.revsync_trim_function(text, characters, side)) }}
{%- endmacro %}

{% macro bigquery__revsync_trim(text, characters, side) -%}
  {{ return(dbt_revsync.revsync_trim_function(text, characters, side)) }}
{%- endmacro %}


{#-
  The text type of the state tables and of every cast to text (key texts, row hashes): dbt's
  string type, except on Redshift, where TEXT is VARCHAR(256), counted in bytes: a longer key
  would be cut (two keys alike in their first 256 bytes read as one), a longer value would
  hash as its first 256 bytes, and a longer error message would fail the commit.
-#}
{% macro revsync_type_string() -%}
  {{ return(adapter.dispatch('revsync_type_string', 'dbt_revsync')()) }}
{%- endmacro %}

{% macro default__revsync_type_string() -%}
  {{ return(dbt.type_string()) }}
{%- endmacro %}

{% macro redshift__revsync_type_string() -%}
  {{ return("varchar(65535)") }}
{%- endmacro %}

{#- The md5 of a text, as hex. dbt's hash casts its argument to dbt's string type first, which
    on Redshift is VARCHAR(256): a row's values would hash as their first 256 bytes, and a
    change further on would never be sent. -#}
{% macro revsync_hash(text) -%}
  {{ return(adapter.dispatch('revsync_hash', 'dbt_revsync')(text)) }}
{%- endmacro %}

{% macro default__revsync_hash(text) -%}
  {{ return(dbt.hash(text)) }}
{%- endmacro %}

{% macro redshift__revsync_hash(text) -%}
  {{ return("md5(" ~ text ~ ")") }}
{%- endmacro %}


{#- Databricks has no `update ... from`: the older row hashes are upgraded by a MERGE (Delta). -#}
{% macro databricks__revsync_upgrade_row_hashes_sql(relation, sync_id, target, key_columns, hash_columns, fingerprint, state_relation) -%}
merge into {{ state_relation }} s
using (
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
) u
on s.sync_id = {{ dbt_revsync.revsync_literal(sync_id) }}
  and s.target = {{ dbt_revsync.revsync_literal(target) }}
  and s.record_key = u.__rs_key
  and s.row_hash = u.__rs_old
  and s.row_hash not like 'h2:%'
when matched then update set row_hash = u.__rs_hash
{%- endmacro %}
