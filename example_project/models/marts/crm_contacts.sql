-- Contacts as the CRM should see them. Synced to Freshsales contacts, upserted on the
-- email address (see _marts.yml). Contacts without an email, and the two contacts that
-- share one, stay in the model on purpose: the sync rejects them, with the reason,
-- instead of the model hiding them.
select
    c.contact_id,
    c.account_id,
    a.account_name,
    c.first_name,
    c.last_name,
    c.email,
    c.mobile,
    c.job_title,
    c.lifecycle_stage,
    c.updated_at
from {{ ref('stg_contacts') }} as c
left join {{ ref('stg_accounts') }} as a
    on a.account_id = c.account_id
