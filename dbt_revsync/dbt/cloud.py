"""dbt Cloud: what a job run built, from the Administrative API v2 (facts: docs/dbt-cloud.md).

A job run is a list of steps (clone, profile, ``dbt deps``, then each of the job's commands,
and ``dbt docs generate`` when the job builds docs). ``GET <api>/api/v2/accounts/<account>/
runs/<run>/artifacts/<file>`` without ``step`` answers the LAST step's file: a test step's
or a docs step's run results, not the build's. So the run is read first
(``GET .../runs/<run>/?include_related=["run_steps"]``), and the run results of every step
that builds (``dbt build|run|seed|snapshot``) are read with ``?step=<index>`` and taken
together, a later step's result for a node replacing an earlier one's; the manifest is the
last building step's. ``step`` given by the user reads that step's files alone.

``<api>`` is the account's access URL (Account settings): ``https://ACCOUNT_PREFIX.us1.dbt.com``
and the like for cell-based accounts, ``https://emea.dbt.com`` ... The older region-wide
hosts are being retired, so there is no default: ``DBT_CLOUD_API_URL`` is required.
Requests carry ``Authorization: Token <token>``; all HTTP goes through ``delivery.HttpClient``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dbt_revsync import logs
from dbt_revsync.dbt.artifacts import Artifacts
from dbt_revsync.delivery import HttpClient
from dbt_revsync.errors import ConfigError, ConfigIssue, DestinationError, ManifestError

__all__ = [
    "ACCOUNT_ENV",
    "BUILDING_COMMANDS",
    "TOKEN_ENV",
    "URL_ENV",
    "CloudAccount",
    "CloudClient",
    "RunStep",
    "check_run_id",
    "fetch_artifacts",
    "merge_run_results",
    "run_steps",
]

logger = logging.getLogger(__name__)

ACCOUNT_ENV = "DBT_CLOUD_ACCOUNT_ID"
TOKEN_ENV = "DBT_CLOUD_API_TOKEN"
URL_ENV = "DBT_CLOUD_API_URL"
BUILDING_COMMANDS = ("build", "run", "seed", "snapshot")
_STEP_COMMAND = re.compile(r"^Invoke dbt with `(?P<command>[^`]*)`")


@dataclass(frozen=True)
class CloudAccount:
    """Where and as whom to ask dbt Cloud; the token never appears in output."""

    account_id: str
    token: str
    api_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CloudAccount:
        issues = [
            ConfigIssue(f"environment variable {name} is not set ({why})")
            for name, why in (
                (ACCOUNT_ENV, "needed to read dbt Cloud runs"),
                (TOKEN_ENV, "needed to read dbt Cloud runs"),
                (
                    URL_ENV,
                    "your account's access URL from dbt Cloud's Account settings, e.g. https://ab123.us1.dbt.com",
                ),
            )
            if not (environ.get(name) or "").strip()
        ]
        url = (environ.get(URL_ENV) or "").strip().rstrip("/")
        if url and not re.match(r"^https?://[^/\s]+$", url):
            issues.append(
                ConfigIssue(
                    f"{URL_ENV} must be an access URL such as https://ab123.us1.dbt.com (scheme and host only), "
                    f"got {url!r}"
                )
            )
        if issues:
            raise ConfigError(issues)
        account = cls(environ[ACCOUNT_ENV].strip(), environ[TOKEN_ENV].strip(), url)
        logs.REDACTOR.add([account.token])
        return account

    def run_url(self, run_id: str) -> str:
        return f"{self.api_url}/api/v2/accounts/{self.account_id}/runs/{run_id}/"

    def artifact_url(self, run_id: str, name: str) -> str:
        return f"{self.api_url}/api/v2/accounts/{self.account_id}/runs/{run_id}/artifacts/{name}"


@dataclass(frozen=True)
class RunStep:
    """One step of a job run, as the run's ``run_steps`` list it."""

    index: int
    name: str
    status: int | None

    @property
    def command(self) -> str:
        """The dbt command of an ``Invoke dbt with `dbt build ...``` step, else ``""``."""
        match = _STEP_COMMAND.match(self.name)
        if not match:
            return ""
        words = [w for w in match["command"].split() if not w.startswith("-")]
        return words[1] if len(words) > 1 and words[0] == "dbt" else ""

    @property
    def builds(self) -> bool:
        return self.command in BUILDING_COMMANDS


def run_steps(document: Any) -> list[RunStep]:
    """The steps of a ``GET .../runs/<id>/?include_related=["run_steps"]`` answer, in order."""
    data = document.get("data") if isinstance(document, dict) else None
    steps = (data or {}).get("run_steps") if isinstance(data, dict) else None
    found = []
    for step in steps or ():
        if isinstance(step, dict) and str(step.get("index", "")).isdigit():
            status = step.get("status")
            found.append(
                RunStep(
                    int(str(step["index"])),
                    str(step.get("name") or ""),
                    int(str(status)) if str(status).isdigit() else None,
                )
            )
    return sorted(found, key=lambda s: s.index)


def merge_run_results(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One run-results document from several steps': a later step's result for a node
    replaces an earlier one's; the metadata is the last document's."""
    by_node: dict[str, Any] = {}
    for document in documents:
        for result in document.get("results") or ():
            by_node[str(result.get("unique_id"))] = result
    merged = dict(documents[-1])
    merged["results"] = list(by_node.values())
    return merged


class CloudClient:
    """Reads runs and their artifacts for one account."""

    def __init__(self, account: CloudAccount, http: HttpClient | None = None) -> None:
        self.account = account
        self.http = http or HttpClient(
            max_concurrency=1, timeout=120.0, secrets=frozenset({account.token}), name="dbt-cloud"
        )

    def _get(self, url: str, what: str, run_id: str, params: Mapping[str, Any] | None = None) -> Any:
        try:
            reply = self.http.request(
                "GET", url, params=params, headers={"Authorization": f"Token {self.account.token}"}
            )
        except DestinationError as exc:
            raise ManifestError(f"dbt Cloud refused {what} of run {run_id}: {exc}") from None
        if not reply.ok:
            hint = " (the run may still be in progress, or produced no such file)" if reply.status == 404 else ""
            raise ManifestError(
                f"dbt Cloud answered {reply.status} for {what} of run {run_id}{hint}: "
                f"{self.http.redact(reply.text[:300])}"
            )
        document = reply.json()
        if document is None:
            raise ManifestError(f"dbt Cloud answered {what} of run {run_id} with no JSON document")
        return document

    def steps(self, run_id: str) -> list[RunStep]:
        document = self._get(
            self.account.run_url(run_id), "the steps", run_id, {"include_related": json.dumps(["run_steps"])}
        )
        return run_steps(document)

    def artifact(self, run_id: str, name: str, step: int | None) -> Any:
        what = f"{name} of step {step}" if step is not None else name
        return self._get(
            self.account.artifact_url(run_id, name), what, run_id, {"step": step} if step is not None else None
        )

    def artifacts(self, run_id: str, step: int | None = None) -> Artifacts:
        """The manifest and run results of run ``run_id``: of its building steps taken
        together, or of step ``step`` alone."""
        run_id = check_run_id(run_id)
        origin = f"dbt Cloud run {run_id}"
        if step is not None:
            return Artifacts.from_documents(
                self.artifact(run_id, "manifest.json", step),
                self.artifact(run_id, "run_results.json", step),
                f"{origin} step {step}",
            )
        building = [s for s in self.steps(run_id) if s.builds]
        if not building:
            raise ManifestError(f"{origin} has no step that builds (dbt build, run, seed or snapshot): nothing to push")
        results: list[tuple[RunStep, Any]] = []
        for s in building:
            try:
                results.append((s, self.artifact(run_id, "run_results.json", s.index)))
            except ManifestError as exc:  # a step that failed before writing its results
                logger.warning("%s: step %s (%s) has no run results, left out: %s", origin, s.index, s.name, exc)
        if not results:
            raise ManifestError(
                f"{origin}: none of its building steps ({', '.join(str(s.index) for s in building)}) has run results"
            )
        last = results[-1][0].index
        manifest = self.artifact(run_id, "manifest.json", last)
        logger.info(
            "%s: run results of steps %s, manifest of step %s",
            origin,
            ", ".join(str(s.index) for s, _ in results),
            last,
        )
        return Artifacts.from_documents(manifest, merge_run_results([document for _, document in results]), origin)


def check_run_id(run_id: str) -> str:
    if not str(run_id).strip().isdigit():
        raise ConfigError(ConfigIssue(f"a dbt Cloud run id is a number, got {run_id!r}", key="--dbt-cloud-run"))
    return str(run_id).strip()


def fetch_artifacts(
    account: CloudAccount, run_id: str, step: int | None = None, http: HttpClient | None = None
) -> Artifacts:
    """The manifest and run results of what dbt Cloud run ``run_id`` built (see the module)."""
    return CloudClient(account, http).artifacts(run_id, step)
