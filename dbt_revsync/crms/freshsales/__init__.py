"""Freshsales: the connector, its sandbox emulator and the vendor facts both read."""

from dbt_revsync.crms import Crm

__all__ = ["CRM"]

CRM = Crm(
    name="freshsales",
    destination="dbt_revsync.crms.freshsales.connector:FreshsalesDestination",
    emulator="dbt_revsync.crms.freshsales.emulator:FreshsalesEmulator",
    sandbox_prefix="freshsales",
    docs="destinations/freshsales.md",
)
