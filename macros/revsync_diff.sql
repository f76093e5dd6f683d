{#-
  The diff: which rows of a sync's relation must travel, worked out in the warehouse so only
  those rows leave it. dbt-revsync renders `revsync_changes_sql` into a table
  `<state schema>.revsync_changes_<sync>` and then pages through it by `__rs_seq`.

  Every row gets a `__rs_status`:
    reject_null_key | reject_duplicate_key | reject_null_upsert_key | reject_duplicate_upsert_key
    new        its key was never acknowledged for this sync
    changed    acknowledged before, but its mapped values hash differently (or full refresh)
  Unchanged rows are not written. Rows that left the relation are found afterwards, by
  `revsync_removed_sql`, once the push has committed what its current rows linked to.
-#}

{#-
  A primary key value as text, the same on every warehouse and in Python (`plan.key_text`):
  tabs, line feeds and carriage returns count as spaces, surrounding spaces are trimmed
  (no other character is), an integral decimal (`12345.0`, `-3.00`) is written as a whole
  number (`12345`, `-3`), and an empty text is null. No backslash in any literal (some
  warehouses unescape them) and no regular-expression backreference.
-#}
{% macro revsync_key_text(expression) -%}
  {{ return(adapter.dispatch('revsync_key_text', 'dbt_revsync')(expression)) }}
{%- endmacro %}

{% macro default__revsync_key_text(expression) -%}
  {%- set spaced = "replace(replace(replace(cast(" ~ expression ~ " as " ~ dbt_revsync.revsync_type_string() ~ "), chr(9), ' '), chr(10), ' '), chr(13), ' ')" -%}
  {%- set text = dbt_revsync.revsync_trim(spaced, ' ', 'both') -%}
  {%- set whole = dbt_revsync.revsync_trim(dbt_revsync.revsync_trim(text, '0', 'trailing'), '.', 'trailing') -%}
  {#- the `like` spares most keys the regular expression -#}
  nullif(case when {{ text }} like '%.%0' and regexp_replace({{ text }}, '^-?[0-9]+[.]0+$', '') = '' then {{ whole }} else {{ text }} end, '')
{%- endmacro %}

{#-
  `text` without the `characters` (one or a few plain characters, no quote or backslash) at
  its `side`: both, leading or trailing. The standard `trim(<side> '<characters>' from text)`
  by default; warehouses without that form have their own version.
-#}
{% macro revsync_trim(text, characters, side) -%}
  {{ return(adapter.dispatch('revsync_trim', 'dbt_revsync')(text, characters, side)) }}
{%- endmacro %}

{% macro default__revsync_trim(text, characters, side) -%}
  {{ return("trim(" ~ side ~ " '" ~ characters ~ "' from " ~ text ~ ")") }}
{%- endmacro %}


{#-
  A stable hash of the values a row sends, salted with the sync's mapping fingerprint, as
  `h2:` and an md5. Each value is encoded so no two rows' values encode alike: a null as `n`,
  any other value as its length, `:` and its text (`Mary|` + `Ann` is `5:Mary|3:Ann`,
  `Mary` + `|Ann` is `4:Mary4:|Ann`). Wide rows are hashed in chunks of 50 values, whose
  hashes are hashed again, so no expression nests deeper than a chunk and no function takes
  more than a few arguments, however many fields a sync maps.

  State rows written before this encoding hold the older hash (`revsync_row_hash_v1`, no
  `h2:` prefix); the diff compares those against the older expression, so upgrading resends
  nothing that did not change.
-#}
{% macro revsync_row_hash(columns, fingerprint) -%}
  {{ return(adapter.dispatch('revsync_row_hash', 'dbt_revsync')(columns, fingerprint)) }}
{%- endmacro %}

{% macro default__revsync_row_hash(columns, fingerprint) -%}
  {%- set tokens = [] -%}
  {%- for column in columns -%}{%- do tokens.append(dbt_revsync.revsync_hash_token(column)) -%}{%- endfor -%}
  {%- set body = ["'" ~ fingerprint ~ "'"] -%}
  {%- if tokens | length <= 50 -%}
    {%- do body.extend(tokens) -%}
  {%- else -%}
    {%- for chunk in tokens | batch(50) -%}{%- do body.append(dbt_revsync.revsync_hash(dbt.concat(chunk))) -%}{%- endfor -%}
  {%- endif -%}
  {{ dbt.concat(["'h2:'", dbt_revsync.revsync_hash(dbt.concat(body))]) }}
{%- endmacro %}

{#- One value as the row hash encodes it: `n` when null, else `<length>:<text>`. -#}
{% macro revsync_hash_token(column) -%}
  {{ return(adapter.dispatch('revsync_hash_token', 'dbt_revsync')(column)) }}
{%- endmacro %}

{% macro default__revsync_hash_token(column) -%}
  {%- set text = "cast(" ~ column ~ " as " ~ dbt_revsync.revsync_type_string() ~ ")" -%}
  coalesce({{ dbt.concat(["cast(length(" ~ text ~ ") as " ~ dbt_revsync.revsync_type_string() ~ ")", "':'", text]) }}, 'n')
{%- endmacro %}


{#-
  The row hash state tables held before `h2:` hashes: the fingerprint and each value
  (`<null>` when null) joined by `|`. Only read, to recognise unchanged rows remembered
  under it. The same text as it was, concatenated flat where a warehouse allows, so that
  width does not matter.
-#}
{% macro revsync_row_hash_v1(columns, fingerprint) -%}
  {{ return(adapter.dispatch('revsync_row_hash_v1', 'dbt_revsync')(columns, fingerprint)) }}
{%- endmacro %}

{% macro revsync_row_hash_v1_parts(columns, fingerprint) -%}
  {%- set parts = ["'" ~ fingerprint ~ "'"] -%}
  {%- for column in columns -%}
    {%- do parts.append("'|'") -%}
    {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt_revsync.revsync_type_string() ~ "), '<null>')") -%}
  {%- endfor -%}
  {{ return(parts) }}
{%- endmacro %}

{% macro default__revsync_row_hash_v1(columns, fingerprint) -%}
  {{ dbt_revsync.revsync_hash(dbt.concat(dbt_revsync.revsync_row_hash_v1_parts(columns, fingerprint))) }}
{%- endmacro %}

{#- DuckDB's concat() of non-null texts is their `||`, with no nesting. -#}
{% macro duckdb__revsync_row_hash_v1(columns, fingerprint) -%}
  {{ dbt_revsync.revsync_hash("concat(" ~ dbt_revsync.revsync_row_hash_v1_parts(columns, fingerprint) | join(", ") ~ ")") }}
{%- endmacro %}


{#-
  `relation`: the node's relation. `key_columns`: quoted primary key columns.
  `columns`: quoted columns to carry, in order (aliased c0, c1, ...). `hash_columns`: quoted
  columns whose values decide "changed". `upsert_column`: quoted column holding the upsert
  key's value, or none. `state_relation`: revsync_sync_state, of which the rows of
  (`sync_id`, `target`) are the sync's. `incremental_column` and
  `watermark` (SQL literal, already cast): read only rows at or above it.
-#}
{% macro revsync_changes_sql(relation, sync_id, target, key_columns, columns, hash_columns, fingerprint, upsert_column, state_relation, full_refresh, incremental_column, watermark) -%}
  {{ return(adapter.dispatch('revsync_changes_sql', 'dbt_revsync')(relation, sync_id, target, key_columns, columns, hash_columns, fingerprint, upsert_column, state_relation, full_refresh, incremental_column, watermark)) }}
{%- endmacro %}

{#-
  Only narrow values go through the steps that see every row: the keys that occur more than
  once, the upsert values that do (with the first key of each), and the join to the state.
  The wide columns of a row are carried by the one scan that joins it to the state and are
  dropped at once when the row is unchanged, so memory holds the state's keys and hashes,
  not the model's rows. No common table expression is read twice (a warehouse may
  materialise those): each step reads the relation itself.
-#}
{% macro default__revsync_changes_sql(relation, sync_id, target, key_columns, columns, hash_columns, fingerprint, upsert_column, state_relation, full_refresh, incremental_column, watermark) -%}
  {%- set key_expr = dbt_revsync.revsync_key_expression(key_columns) -%}
  {%- set upsert_expr = dbt_revsync.revsync_upsert_expression(upsert_column) -%}
  {%- set source = relation ~ ((" where " ~ dbt_revsync.revsync_incremental_filter(incremental_column, watermark)) if incremental_column and watermark is not none and not full_refresh else "") -%}
  {#- a row remembered under the older hash is compared with it, over the carried columns -#}
  {%- set remembered_columns = [] -%}
  {%- for column in hash_columns -%}
    {%- set at = [] -%}{%- for carried in columns -%}{%- if carried == column and not at -%}{%- do at.append(loop.index0) -%}{%- endif -%}{%- endfor -%}
    {%- if not at -%}{%- do exceptions.raise_compiler_error("revsync_changes_sql: hash column " ~ column ~ " is not among the carried columns") -%}{%- endif -%}
    {%- do remembered_columns.append("r.c" ~ at[0]) -%}
  {%- endfor -%}
  {%- set state = dbt_revsync.revsync_state_rows_sql(state_relation, sync_id, target) -%}
select
    row_number() over (order by __rs_inc, __rs_key) as __rs_seq,
    __rs_status, __rs_remote_id, __rs_key, __rs_hash, __rs_upsert, __rs_inc, __rs_origin
    {%- for column in columns %}, c{{ loop.index0 }}{% endfor %}
from (
    select __rs_status, __rs_remote_id, __rs_key, __rs_hash, __rs_upsert, __rs_inc, __rs_origin
        {%- for column in columns %}, c{{ loop.index0 }}{% endfor %}
    from (
        select
            case
                when r.__rs_key is null then 'reject_null_key'
                when d.__rs_value is not null then 'reject_duplicate_key'
                {%- if upsert_column %}
                when r.__rs_upsert is null then 'reject_null_upsert_key'
                when u.__rs_value is not null and r.__rs_key <> u.__rs_first then 'reject_duplicate_upsert_key'
                {%- endif %}
                when s.record_key is null then 'new'
                {%- if full_refresh %}
                else 'changed'
                {%- else %}
                when s.row_hash = r.__rs_hash then 'unchanged'
                when s.row_hash is null or s.row_hash like 'h2:%' then 'changed'
                when s.row_hash <> {{ dbt_revsync.revsync_row_hash_v1(remembered_columns, fingerprint) }} then 'changed'
                else 'unchanged'
                {%- endif %}
            end as __rs_status,
            s.destination_id as __rs_remote_id,
            s.origin as __rs_origin,
            r.*
        from (
            select
                {{ key_expr }} as __rs_key,
                {{ dbt_revsync.revsync_row_hash(hash_columns, fingerprint) }} as __rs_hash,
                {{ upsert_expr }} as __rs_upsert,
                {% if incremental_column %}{{ incremental_column }}{% else %}cast(null as {{ dbt.type_string() }}){% endif %} as __rs_inc
                {%- for column in columns %},
                {{ column }} as c{{ loop.index0 }}
                {%- endfor %}
            from {{ source }}
        ) r
        left join ({{ dbt_revsync.revsync_repeated_sql(source, key_expr, none) }}) d on d.__rs_value = r.__rs_key
        {%- if upsert_column %}
        left join ({{ dbt_revsync.revsync_repeated_sql(source, upsert_expr, key_expr) }}) u on u.__rs_value = r.__rs_upsert
        {%- endif %}
        left join {{ state }} s on s.record_key = r.__rs_key
    ) classified
    where __rs_status <> 'unchanged'
) changes
{%- endmacro %}


{#-
  Whether the relation and the sync's state agree, asked before the diff: the count of rows and
  the sum of a 64-bit hash of each row's (record key, row hash) in the relation, the same of
  each remembered (record key, row hash) in the state, the state's rows not yet claimed for a
  target, and the sync's rejects. When the counts and sums are equal, none is unclaimed and no
  reject is held, the relation holds exactly the keys and hashes the state remembers, once
  each: no key is null or repeated, no row is new, changed or gone, and the diff would find
  nothing, so it is not run. One scan of each table, no join, no sort.

  Returns none where the warehouse has no 64-bit hash (`revsync_hash64`): the diff always runs.
-#}
{% macro revsync_agreement_sql(relation, sync_id, target, key_columns, hash_columns, fingerprint, schema_relation) -%}
  {{ return(adapter.dispatch('revsync_agreement_sql', 'dbt_revsync')(relation, sync_id, target, key_columns, hash_columns, fingerprint, schema_relation)) }}
{%- endmacro %}

{% macro default__revsync_agreement_sql(relation, sync_id, target, key_columns, hash_columns, fingerprint, schema_relation) -%}
  {%- if dbt_revsync.revsync_hash64("'x'") is none -%}{{ return(none) }}{%- endif -%}
  {%- set sid = dbt_revsync.revsync_literal(sync_id) -%}
  {%- set model_token = dbt_revsync.revsync_agreement_token(dbt_revsync.revsync_key_expression(key_columns), dbt_revsync.revsync_row_hash(hash_columns, fingerprint)) -%}
  {%- set state_token = dbt_revsync.revsync_agreement_token("record_key", "row_hash") -%}
  {{ return(
"select m.row_count as model_rows, cast(m.hashed as " ~ dbt_revsync.revsync_type_string() ~ ") as model_sum,
    s.row_count as state_rows, cast(s.hashed as " ~ dbt_revsync.revsync_type_string() ~ ") as state_sum,
    s.unclaimed as state_unclaimed,
    (select count(*) from " ~ schema_relation ~ ".revsync_rejects where sync_id = " ~ sid ~ ") as rejects
from (select count(*) as row_count, sum(" ~ dbt_revsync.revsync_hash64(model_token) ~ ") as hashed from " ~ relation ~ ") m
cross join (
    select count(*) as row_count, sum(" ~ dbt_revsync.revsync_hash64(state_token) ~ ") as hashed,
        sum(case when target is null then 1 else 0 end) as unclaimed
    from " ~ schema_relation ~ ".revsync_sync_state
    where sync_id = " ~ sid ~ " and (target = " ~ dbt_revsync.revsync_literal(target) ~ " or target is null)
) s") }}
{%- endmacro %}

{#- A (record key, row hash) pair as one text, each part as the row hash encodes a value. -#}
{% macro revsync_agreement_token(key, row_hash) -%}
  {{ return(dbt.concat([dbt_revsync.revsync_hash_token(key), "'|'", dbt_revsync.revsync_hash_token(row_hash)])) }}
{%- endmacro %}

{#- A 64-bit hash of a text, as a number that sums without overflow; none where there is none. -#}
{% macro revsync_hash64(text) -%}
  {{ return(adapter.dispatch('revsync_hash64', 'dbt_revsync')(text)) }}
{%- endmacro %}

{% macro default__revsync_hash64(text) -%}
  {{ return(none) }}
{%- endmacro %}

{% macro duckdb__revsync_hash64(text) -%}
  {{ return("cast(hash(" ~ text ~ ") as hugeint)") }}
{%- endmacro %}

{% macro postgres__revsync_hash64(text) -%}
  {{ return("cast(hashtextextended(" ~ text ~ ", 0) as numeric)") }}
{%- endmacro %}


{#- A row's record key: the key columns' key texts, joined; null when any part is null. -#}
{% macro revsync_key_expression(key_columns) -%}
  {%- set key_parts = [] -%}
  {%- for column in key_columns -%}{%- do key_parts.append(dbt_revsync.revsync_key_text(column)) -%}{%- endfor -%}
  {%- if key_parts | length == 1 -%}
    {{ return(key_parts[0]) }}
  {%- else -%}
    {%- set guarded = [] -%}
    {%- for part in key_parts -%}{%- do guarded.append(part) -%}{%- if not loop.last -%}{%- do guarded.append("'|'") -%}{%- endif -%}{%- endfor -%}
    {%- set nulls = [] -%}{%- for part in key_parts -%}{%- do nulls.append(part ~ " is null") -%}{%- endfor -%}
    {{ return("case when " ~ nulls | join(" or ") ~ " then null else " ~ dbt.concat(guarded) ~ " end") }}
  {%- endif -%}
{%- endmacro %}

{#- A row's upsert key value as compared: tabs and line breaks as spaces, trimmed of spaces
    (as keys are), lower case; or null. -#}
{% macro revsync_upsert_expression(upsert_column) -%}
  {%- if not upsert_column -%}{{ return("cast(null as " ~ dbt_revsync.revsync_type_string() ~ ")") }}{%- endif -%}
  {%- set spaced = "replace(replace(replace(cast(" ~ upsert_column ~ " as " ~ dbt_revsync.revsync_type_string() ~ "), chr(9), ' '), chr(10), ' '), chr(13), ' ')" -%}
  {{ return("nullif(lower(" ~ dbt_revsync.revsync_trim(spaced, ' ', 'both') ~ "), '')") }}
{%- endmacro %}


{#- The state rows of one sync against one target (connection, account and object); rows
    written before targets were recorded count as the current target's (a push claims them
    first; a plan only reads them). -#}
{% macro revsync_state_rows_sql(state_relation, sync_id, target) -%}
  {{ return(adapter.dispatch('revsync_state_rows_sql', 'dbt_revsync')(state_relation, sync_id, target)) }}
{%- endmacro %}

{% macro default__revsync_state_rows_sql(state_relation, sync_id, target) -%}
(select record_key, row_hash, destination_id, origin, upsert_value from {{ state_relation }}
 where sync_id = {{ dbt_revsync.revsync_literal(sync_id) }}
   and (target = {{ dbt_revsync.revsync_literal(target) }} or target is null))
{%- endmacro %}


{#-
  The records whose rows left the relation, for `mirror`, worked out after the push has
  committed its current rows (a re-keyed row has linked its record by then). Each gets a
  `__rs_status`:
    removed   the sync created the record and nothing current points at it: delete it
    handover  the sync created it and another remembered row (a re-keyed row) holds its id:
              forget this row, and the holder inherits the record's origin
    forget    leave the record alone and forget the row: the sync did not create it (or its
              origin predates the record of origins), another sync on the same target
              remembers it, or a current row carries its upsert key value
  Same columns as `revsync_changes_sql`, mapped columns null.
-#}
{% macro revsync_removed_sql(relation, sync_id, target, key_columns, columns, upsert_column, state_relation) -%}
  {{ return(adapter.dispatch('revsync_removed_sql', 'dbt_revsync')(relation, sync_id, target, key_columns, columns, upsert_column, state_relation)) }}
{%- endmacro %}

{% macro default__revsync_removed_sql(relation, sync_id, target, key_columns, columns, upsert_column, state_relation) -%}
  {%- set key_expr = dbt_revsync.revsync_key_expression(key_columns) -%}
  {%- set upsert_expr = dbt_revsync.revsync_upsert_expression(upsert_column) -%}
  {%- set state = dbt_revsync.revsync_state_rows_sql(state_relation, sync_id, target) -%}
select
    row_number() over (order by s.record_key) as __rs_seq,
    case
        when s.origin is null or s.origin <> 'created' then 'forget'
        when exists (select 1 from {{ state }} o where o.destination_id = s.destination_id and o.record_key <> s.record_key) then 'handover'
        when exists (
            select 1 from {{ state_relation }} o
            where o.target = {{ dbt_revsync.revsync_literal(target) }} and o.destination_id = s.destination_id
              and o.sync_id <> {{ dbt_revsync.revsync_literal(sync_id) }}
        ) then 'forget'
        {%- if upsert_column %}
        when s.upsert_value is not null and exists (
            select 1 from (select {{ upsert_expr }} as __rs_upsert from {{ relation }}) cur where cur.__rs_upsert = s.upsert_value
        ) then 'forget'
        {%- endif %}
        else 'removed'
    end as __rs_status,
    s.destination_id as __rs_remote_id, s.record_key as __rs_key, cast(null as {{ dbt_revsync.revsync_type_string() }}) as __rs_hash,
    s.upsert_value as __rs_upsert, cast(null as {{ dbt_revsync.revsync_type_string() }}) as __rs_inc, s.origin as __rs_origin
    {%- for column in columns %}, cast(null as {{ dbt_revsync.revsync_type_string() }}) as c{{ loop.index0 }}{% endfor %}
from {{ state }} s
where not exists (select 1 from (select {{ key_expr }} as __rs_key from {{ relation }}) src where src.__rs_key = s.record_key)
{%- endmacro %}


{#-
  Rewrites the state rows of (`sync_id`, `target`) still holding the older row hash (no `h2:`
  prefix) to the current one, where the row's values still match it: nothing is sent, and
  later diffs no longer evaluate the older expression. A row whose older hash does not match
  is left as it is (the next diff sends it). A push runs it once, under the sync's lock,
  before its diff, when `revsync_older_row_hashes_sql` counts any (never under plan or dry-run).
-#}
{% macro revsync_upgrade_row_hashes_sql(relation, sync_id, target, key_columns, hash_columns, fingerprint, state_relation) -%}
  {{ return(adapter.dispatch('revsync_upgrade_row_hashes_sql', 'dbt_revsync')(relation, sync_id, target, key_columns, hash_columns, fingerprint, state_relation)) }}
{%- endmacro %}

{% macro default__revsync_upgrade_row_hashes_sql(relation, sync_id, target, key_columns, hash_columns, fingerprint, state_relation) -%}
update {{ state_relation }}
set row_hash = u.__rs_hash
from (
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
where {{ state_relation }}.sync_id = {{ dbt_revsync.revsync_literal(sync_id) }}
  and {{ state_relation }}.target = {{ dbt_revsync.revsync_literal(target) }}
  and {{ state_relation }}.record_key = u.__rs_key
  and {{ state_relation }}.row_hash = u.__rs_old
  and {{ state_relation }}.row_hash not like 'h2:%'
{%- endmacro %}

{#- The older hashes left once `revsync_upgrade_row_hashes_sql` ran (rows whose values changed
    since, or whose rows left the model) are marked so they never match a current hash: those
    rows count as changed, as they did, and no push looks for older hashes again. -#}
{% macro revsync_retire_row_hashes_sql(sync_id, target, state_relation) -%}
  {{ return(adapter.dispatch('revsync_retire_row_hashes_sql', 'dbt_revsync')(sync_id, target, state_relation)) }}
{%- endmacro %}

{% macro default__revsync_retire_row_hashes_sql(sync_id, target, state_relation) -%}
update {{ state_relation }}
set row_hash = {{ dbt.concat(["'h2:older:'", "row_hash"]) }}
where sync_id = {{ dbt_revsync.revsync_literal(sync_id) }} and target = {{ dbt_revsync.revsync_literal(target) }}
  and row_hash not like 'h2:%'
{%- endmacro %}

{#- How many of the state rows of (`sync_id`, `target`) hold the older row hash (`row_count`). -#}
{% macro revsync_older_row_hashes_sql(sync_id, target, state_relation) -%}
  {{ return(adapter.dispatch('revsync_older_row_hashes_sql', 'dbt_revsync')(sync_id, target, state_relation)) }}
{%- endmacro %}

{% macro default__revsync_older_row_hashes_sql(sync_id, target, state_relation) -%}
select count(*) as row_count from {{ state_relation }}
where sync_id = {{ dbt_revsync.revsync_literal(sync_id) }} and target = {{ dbt_revsync.revsync_literal(target) }}
  and row_hash not like 'h2:%'
{%- endmacro %}


{#-
  The values of `expression` over `source` (a relation, maybe with a `where`) that occur on
  more than one row, as `__rs_value`, each with the least `first` among its rows as
  `__rs_first` (nulls aside). Null values are left out.
-#}
{% macro revsync_repeated_sql(source, expression, first) -%}
  {{ return(adapter.dispatch('revsync_repeated_sql', 'dbt_revsync')(source, expression, first)) }}
{%- endmacro %}

{% macro default__revsync_repeated_sql(source, expression, first) -%}
select __rs_value, min(__rs_first) as __rs_first
from (select {{ expression }} as __rs_value, {{ first if first else "null" }} as __rs_first from {{ source }}) v
where __rs_value is not null
group by __rs_value
having count(*) > 1
{%- endmacro %}

{#-
  DuckDB's hash aggregate over a million distinct values holds far more memory than sorting
  their 64-bit hashes: the hashes that occur twice are found by sorting, and only the rows
  with such a hash (usually none) are grouped by their value. Nulls are hashed to null
  rather than filtered out, which DuckDB would do by computing the expression twice.
-#}
{% macro duckdb__revsync_repeated_sql(source, expression, first) -%}
select __rs_value, min(__rs_first) as __rs_first
from (select {{ expression }} as __rs_value, {{ first if first else "null" }} as __rs_first from {{ source }}) v
where __rs_value is not null
  and hash(__rs_value) in (
    select __rs_h from (
        select __rs_h, lag(__rs_h) over (order by __rs_h) as __rs_previous
        from (select case when __rs_value is not null then hash(__rs_value) end as __rs_h from (select {{ expression }} as __rs_value from {{ source }}) h) hashes
    ) sorted
    where __rs_h = __rs_previous
  )
group by __rs_value
having count(*) > 1
{%- endmacro %}


{#-
  The rows an incremental push reads: those at or above the watermark, and those whose
  incremental value is null, which have no place relative to it and are read on every push
  (sent, like every row, only when their hash changed).
-#}
{% macro revsync_incremental_filter(incremental_column, watermark) -%}
  {{ return(adapter.dispatch('revsync_incremental_filter', 'dbt_revsync')(incremental_column, watermark)) }}
{%- endmacro %}

{% macro default__revsync_incremental_filter(incremental_column, watermark) -%}
({{ incremental_column }} >= {{ watermark }} or {{ incremental_column }} is null)
{%- endmacro %}


{#- Rows read and the highest incremental value seen, for the run's counts and watermark. -#}
{% macro revsync_source_stats_sql(relation, incremental_column, watermark, full_refresh) -%}
  {{ return(adapter.dispatch('revsync_source_stats_sql', 'dbt_revsync')(relation, incremental_column, watermark, full_refresh)) }}
{%- endmacro %}

{% macro default__revsync_source_stats_sql(relation, incremental_column, watermark, full_refresh) -%}
select
    count(*) as rows_read,
    {% if incremental_column %}cast(max({{ incremental_column }}) as {{ dbt_revsync.revsync_type_string() }}){% else %}null{% endif %} as high_water
from {{ relation }}
{%- if incremental_column and watermark is not none and not full_refresh %}
where {{ dbt_revsync.revsync_incremental_filter(incremental_column, watermark) }}
{%- endif %}
{%- endmacro %}


{% macro revsync_changes_page_sql(changes_relation, after_seq, limit) -%}
  {{ return(adapter.dispatch('revsync_changes_page_sql', 'dbt_revsync')(changes_relation, after_seq, limit)) }}
{%- endmacro %}

{% macro default__revsync_changes_page_sql(changes_relation, after_seq, limit) -%}
select * from {{ changes_relation }}
where __rs_seq > {{ after_seq }} and __rs_seq <= {{ after_seq + limit }}
order by __rs_seq
{%- endmacro %}


{#- Statements that (re)create the changes table from `sql`; it is paged by `__rs_seq`. -#}
{% macro revsync_create_changes_table_sql(relation, sql) -%}
  {{ return(adapter.dispatch('revsync_create_changes_table_sql', 'dbt_revsync')(relation, sql)) }}
{%- endmacro %}

{% macro default__revsync_create_changes_table_sql(relation, sql) -%}
  {{ return(dbt_revsync.revsync_create_table_as_sql(relation, sql)) }}
{%- endmacro %}


{% macro revsync_create_table_as_sql(relation, sql) -%}
  {{ return(adapter.dispatch('revsync_create_table_as_sql', 'dbt_revsync')(relation, sql)) }}
{%- endmacro %}

{% macro default__revsync_create_table_as_sql(relation, sql) -%}
  {{ return(["drop table if exists " ~ relation, "create table " ~ relation ~ " as " ~ sql]) }}
{%- endmacro %}


{% macro revsync_count_sql(relation) -%}
  {{ return(adapter.dispatch('revsync_count_sql', 'dbt_revsync')(relation)) }}
{%- endmacro %}

{% macro default__revsync_count_sql(relation) -%}
select count(*) as row_count from {{ relation }}
{%- endmacro %}


{% macro revsync_drop_table_sql(relation) -%}
  {{ return(adapter.dispatch('revsync_drop_table_sql', 'dbt_revsync')(relation)) }}
{%- endmacro %}

{% macro default__revsync_drop_table_sql(relation) -%}
drop table if exists {{ relation }}
{%- endmacro %}
