-- Accounts as the CRM should see them. Synced to Freshsales sales_accounts, upserted on
-- the custom field cf_account_id (see _marts.yml).
select
    account_id,
    account_name,
    website,
    industry,
    city,
    country,
    employees,
    annual_revenue,
    plan,
    created_at,
    updated_at
from {{ ref('stg_accounts') }}
