"""dbt Cloud: a job run's artifacts, from the Administrative API v2.

``GET <api>/api/v2/accounts/<account id>/runs/<run id>/artifacts/<file>`` answers the file
(``manifest.json``, ``run_results.json``, ...) of the run's last step, with
``Authorization: Token <token>`` (a service account token or a personal access token).
``<api>`` is ``https://cloud.getdbt.com`` in the US multi-tenant region; other regions and
single-tenant accounts have their own access URL (``DBT_CLOUD_API_URL``).

The documents are checked like local artifacts (their schema versions), then a push runs
against them with the local profile: the profile must reach the warehouse the dbt Cloud
job built in. All HTTP goes through ``delivery.HttpClient``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dbt_revsync import logs
from dbt_revsync.delivery import HttpClient
from dbt_revsync.errors import ConfigError, ConfigIssue, DestinationError, ManifestError
from dbt_revsync.project import Artifacts

ACCOUNT_ENV = "DBT_CLOUD_ACCOUNT_ID"
TOKEN_ENV = "DBT_CLOUD_API_TOKEN"
URL_ENV = "DBT_CLOUD_API_URL"
DEFAULT_URL = "https://cloud.getdbt.com"
FILES = ("manifest.json", "run_results.json")


@dataclass(frozen=True)
class CloudAccount:
    """Where and as whom to ask dbt Cloud; the token never appears in output."""

    account_id: str
    token: str
    api_url: str = DEFAULT_URL

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CloudAccount:
        missing = [name for name in (ACCOUNT_ENV, TOKEN_ENV) if not environ.get(name)]
        if missing:
            raise ConfigError([ConfigIssue(f"environment variable {name} is not set (needed to read dbt Cloud runs)") for name in missing])
        account = cls(environ[ACCOUNT_ENV].strip(), environ[TOKEN_ENV].strip(), (environ.get(URL_ENV) or DEFAULT_URL).rstrip("/"))
        logs.REDACTOR.add([account.token])
        return account

    def artifact_url(self, run_id: str, name: str) -> str:
        return f"{self.api_url}/api/v2/accounts/{self.account_id}/runs/{run_id}/artifacts/{name}"


def fetch_artifacts(account: CloudAccount, run_id: str, http: HttpClient | None = None) -> Artifacts:
    """The manifest and run results of dbt Cloud run ``run_id``."""
    if not str(run_id).strip().isdigit():
        raise ConfigError(ConfigIssue(f"a dbt Cloud run id is a number, got {run_id!r}", key="--dbt-cloud-run"))
    http = http or HttpClient(max_concurrency=1, timeout=120.0, secrets=frozenset({account.token}), name="dbt-cloud")
    documents = []
    for name in FILES:
        try:
            reply = http.request("GET", account.artifact_url(run_id, name), headers={"Authorization": f"Token {account.token}"})
        except DestinationError as exc:
            raise ManifestError(f"dbt Cloud refused {name} of run {run_id}: {exc}") from None
        if not reply.ok:
            hint = " (the run may still be in progress, or produced no such file)" if reply.status == 404 else ""
            raise ManifestError(f"dbt Cloud answered {reply.status} for {name} of run {run_id}{hint}: {http.redact(reply.text[:300])}")
        documents.append(reply.json())
    return Artifacts.from_documents(documents[0], documents[1], f"dbt Cloud run {run_id}")
