"""Pipedrive: the connector, its sandbox emulator and the vendor facts both read."""

from dbt_revsync.crms import Crm

__all__ = ["CRM"]

CRM = Crm(
    name="pipedrive",
    destination="dbt_revsync.crms.pipedrive.connector:PipedriveDestination",
    emulator="dbt_revsync.crms.pipedrive.emulator:PipedriveEmulator",
    sandbox_prefix="pipedrive",
    docs="destinations/pipedrive.md",
)
