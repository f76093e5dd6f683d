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
