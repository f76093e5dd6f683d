-- One row per account, types cleaned; no row is dropped or invented here.
select
    {{ clean_id('account_id') }}              as account_id,     -- 10042.0 -> '10042'
    trim(company_name)                        as account_name,
    lower(trim(domain))                       as website,        -- null when unknown
    trim(industry)                            as industry,       -- null or '' when unknown
    trim(city)                                as city,
    trim(country)                             as country,
    employees,
    annual_revenue,
    lower(trim(plan))                         as plan,
    created_at,
    updated_at
from {{ ref('raw_accounts') }}
