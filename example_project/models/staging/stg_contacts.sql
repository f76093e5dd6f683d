-- One row per contact, types cleaned; no row is dropped here, not even the ones a CRM
-- will refuse (no email, a shared email): deciding that is the sync's job.
select
    {{ clean_id('contact_id') }}              as contact_id,
    {{ clean_id('account_id') }}              as account_id,     -- '10042.0' -> '10042'
    trim(first_name)                          as first_name,
    trim(last_name)                           as last_name,      -- null or '' when unknown
    nullif(lower(trim(email)), '')            as email,          -- null when missing or blank
    trim(mobile)                              as mobile,
    trim(job_title)                           as job_title,
    lower(trim(lifecycle_stage))              as lifecycle_stage,
    updated_at,
    -- kept for auditing the cleaning; not sent anywhere
    cast(account_id as varchar)               as account_id_raw
from {{ ref('raw_contacts') }}
