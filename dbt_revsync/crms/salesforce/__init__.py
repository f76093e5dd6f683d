"""Salesforce: the connector, its sandbox emulator and the vendor facts both read."""

from dbt_revsync.crms import Crm

__all__ = ["CRM"]

CRM = Crm(
    name="salesforce",
    destination="dbt_revsync.crms.salesforce.connector:SalesforceDestination",
    emulator="dbt_revsync.crms.salesforce.emulator:SalesforceEmulator",
    sandbox_prefix="salesforce",
    docs="destinations/salesforce.md",
)
