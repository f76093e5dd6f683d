"""Freshdesk: the connector, its sandbox emulator and the vendor facts both read."""

from dbt_revsync.crms import Crm

__all__ = ["CRM"]

CRM = Crm(
    name="freshdesk",
    destination="dbt_revsync.crms.freshdesk.connector:FreshdeskDestination",
    emulator="dbt_revsync.crms.freshdesk.emulator:FreshdeskEmulator",
    sandbox_prefix="freshdesk",
    docs="destinations/freshdesk.md",
)
