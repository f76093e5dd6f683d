"""Checks recorded sandbox exchanges against the vendors' published OpenAPI specs.

The specs in ``specs/`` are copies of what HubSpot and Pipedrive publish (see
``specs/SOURCES.md``); openapi-core does the validating, so the check is not ours. Every
request a connector sent is validated (path, method, parameters, body, security), and
every answer an emulator gave (status, body). Two gaps of the specs are handled here,
each said plainly:

- HubSpot declares its error answers as ``*/*``; they are read as JSON (HubSpot sends
  ``application/json``) and then validated against the spec's ``Error`` schema.
- HubSpot's deals spec writes the object by its type id (``/crm/v3/objects/0-3``); HubSpot
  takes ``deals`` and ``0-3`` alike, so ``deals`` paths are checked as ``0-3`` ones.
- Pipedrive's spec types ``additional_data.next_cursor`` as a non-nullable string while its
  own description says it "will be ``null`` if you have reached the end" (which is what the
  API sends): that one property is read as nullable (``_errata``), in memory only.
- A status the spec does not list (Pipedrive's spec lists no 4xx for these operations)
  cannot be checked against it: such answers are checked against the error envelope the
  vendor documents (``PIPEDRIVE_ERROR`` below) and counted as ``undocumented``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from openapi_core import Config, OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.response.exceptions import MissingData
from ruamel.yaml import YAML

from tests.integration.recording import Exchange

SPECS = Path(__file__).parent / "specs"
HUBSPOT_TYPE_NAMES = {"0-1": "contacts", "0-2": "companies", "0-3": "deals"}

# Pipedrive documents its error answers (developers.pipedrive.com, "Responses") but its spec
# does not list them for these operations: this is the documented envelope.
PIPEDRIVE_ERROR = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {
        "success": {"const": False},
        "error": {"type": "string"},
        "error_info": {"type": "string"},
        "code": {"type": "string"},
        "data": {"type": "null"},
        "additional_data": {"type": "null"},
    },
}


@dataclass
class Report:
    checked: int = 0
    undocumented: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@functools.cache
def _openapi(name: str) -> OpenAPI:
    config = Config(spec_validator_cls=None, extra_media_type_deserializers={"*/*": json.loads})
    path = SPECS / name
    document = json.loads(path.read_text()) if name.endswith(".json") else YAML(typ="safe").load(path.read_text())
    return OpenAPI.from_dict(_errata(document), base_uri=path.as_uri(), config=config)


def _errata(node: Any) -> Any:
    """``next_cursor`` whose description says it is null at the end becomes nullable."""
    if isinstance(node, dict):
        cursor = node.get("next_cursor")
        if isinstance(cursor, dict) and "`null`" in str(cursor.get("description", "")):
            cursor["nullable"] = True
        for value in node.values():
            _errata(value)
    elif isinstance(node, list):
        for value in node:
            _errata(value)
    return node


class Contract:
    """One vendor: which spec file serves a path, and where the vendor's API root is."""

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor

    def spec_for(self, path: str) -> tuple[OpenAPI, str, str]:
        """(spec, host url, full path) for a path below the emulator's prefix."""
        if self.vendor == "hubspot":
            if path.startswith("/crm/v3/properties/"):
                return _openapi("hubspot-crm-properties-v3.json"), "https://api.hubapi.com", path
            obj = path.split("/")[4] if path.startswith("/crm/v3/objects/") else "contacts"
            obj = HUBSPOT_TYPE_NAMES.get(obj, obj)
            if obj == "deals":
                path = path.replace("/crm/v3/objects/deals", "/crm/v3/objects/0-3", 1)
            return _openapi(f"hubspot-crm-{obj}-v3.json"), "https://api.hubapi.com", path
        return _openapi("pipedrive-v2.yaml"), "https://api.pipedrive.com", f"/api/v2{path}"

    def check(self, exchanges: Iterable[Exchange], report: Report | None = None) -> Report:
        report = report or Report()
        for exchange in exchanges:
            report.checked += 1
            self._check_one(exchange, report)
        return report

    def _check_one(self, exchange: Exchange, report: Report) -> None:
        request, response = exchange.request, exchange.response
        spec, host, path = self.spec_for(request.path)
        where = f"{self.vendor} {request.method} {request.path} -> {response.status}"
        mock_request = MockRequest(
            host,
            request.method.lower(),
            path,
            args=dict(request.query),
            headers=dict(request.headers.items()),
            data=request.body or None,
            content_type=request.headers.get("Content-Type", "application/json").split(";")[0],
        )
        if response.status != 401:  # the spec describes authenticated calls; a 401 is our own test of auth
            try:
                spec.validate_request(mock_request)
            except Exception as exc:  # openapi-core raises one of many validation errors
                report.problems.append(f"request {where}: {_why(exc)}")
        payload, headers = response.encode()
        mock_response = MockResponse(
            payload,
            status_code=response.status,
            headers=headers,
            content_type=headers.get("Content-Type", "application/json").split(";")[0],
        )
        try:
            spec.validate_response(mock_request, mock_response)
        except ResponseNotFound:
            report.undocumented.append(where)
            self._check_undocumented(where, payload, report)
        except MissingData:
            if payload:  # the spec declares no body (204): none may be sent
                report.problems.append(f"answer {where}: a body where the spec declares none")
        except Exception as exc:
            report.problems.append(f"answer {where}: {_why(exc)}")

    def _check_undocumented(self, where: str, payload: bytes, report: Report) -> None:
        if self.vendor != "pipedrive":
            report.problems.append(f"answer {where}: status not in the spec")
            return
        try:
            jsonschema.validate(json.loads(payload), PIPEDRIVE_ERROR)
        except (ValueError, jsonschema.ValidationError) as exc:
            report.problems.append(f"answer {where}: not Pipedrive's documented error envelope: {_why(exc)}")


def _why(exc: BaseException) -> str:
    cause = exc.__cause__
    reasons = getattr(cause, "schema_errors", None) or getattr(exc, "schema_errors", None)
    if reasons:
        return f"{type(exc).__name__}: " + "; ".join(str(getattr(r, "message", r)) for r in reasons)
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def assert_conforms(vendor: str, exchanges: Iterable[Exchange]) -> Report:
    """Fail with every spec violation found; return the report."""
    report = Contract(vendor).check(exchanges)
    assert not report.problems, "spec violations:\n" + "\n".join(report.problems)
    return report
