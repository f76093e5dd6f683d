-- Contacts as the support desk (Freshdesk) should see them: the same people as
-- crm_contacts, under the matching rules of a two-way CRM/helpdesk sync (see _marts.yml).
select
    contact_id,
    nullif(trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')), '') as full_name,
    email,
    mobile,
    job_title,
    lifecycle_stage
from {{ ref('crm_contacts') }}
