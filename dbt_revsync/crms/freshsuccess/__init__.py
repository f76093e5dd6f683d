"""Freshsuccess: the connector, its sandbox emulator and the vendor facts both read."""

from dbt_revsync.crms import Crm

__all__ = ["CRM"]

CRM = Crm(
    name="freshsuccess",
    destination="dbt_revsync.crms.freshsuccess.connector:FreshsuccessDestination",
    emulator="dbt_revsync.crms.freshsuccess.emulator:FreshsuccessEmulator",
    sandbox_prefix="freshsuccess",
    docs="destinations/freshsuccess.md",
)
