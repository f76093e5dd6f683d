"""a generic HTTP endpoint: the connector, its sandbox emulator and the vendor facts both read."""

from dbt_revsync.crms import Crm

__all__ = ["CRM"]

CRM = Crm(
    name="http",
    destination="dbt_revsync.crms.http.connector:HttpDestination",
    emulator="dbt_revsync.crms.http.emulator:EchoEmulator",
    sandbox_prefix="echo",
    docs="destinations/http.md",
)
