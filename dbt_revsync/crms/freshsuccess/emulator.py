"""Freshsuccess emulator, served under ``/freshsuccess``.

``<sandbox url>/freshsuccess`` stands in for ``https://api-us.freshsuccess.com/api/v2``.

Endpoints: ``POST /accounts`` and ``POST /account_contacts`` (bulk insert-or-update of
``{"records": [...]}``), ``GET /accounts`` and ``GET /account_contacts`` (pages from 0, up to
1000 a page), ``GET /accounts/<account_id>`` and ``/account_contacts/<user_id>``. No DELETE:
Freshsuccess documents none for these objects (``facts.NO_DELETE``), so the sandbox answers a
DELETE as an unknown route (404), the stricter reading.
Auth: ``?api_key=<key>`` or HTTP Basic with user ``api`` and the key as password.

The answer to a bulk POST is ``{"status_is_ok", "failed_results": [{message, account_id,
record}]}`` (``record``: the index in the request). A record missing a required field fails
alone (``status_is_ok`` stays true, the others are written); a contact whose account does not
exist makes the whole batch fail (``status_is_ok`` false, nothing written), as the public
connector tests show. ``account_id`` is exact, case-sensitive text. Where the public material
is silent the choice made is written as "Assumed".
"""

from __future__ import annotations

import base64
from typing import Any

from dbt_revsync.crms.freshsuccess import facts
from dbt_revsync.sandbox import (
    Emulator,
    Limits,
    Record,
    RequestRejected,
    SandboxRequest,
    SandboxResponse,
    json_response,
    route,
)

__all__ = ["DEFAULT_API_KEY", "DIMENSIONS", "FreshsuccessEmulator", "KEYS", "PAGE_SIZE"]

DEFAULT_API_KEY = "sandbox-freshsuccess-key"
KEYS = facts.KEYS  # Assumed: contacts are keyed by user_id
DIMENSIONS = facts.DIMENSIONS
PAGE_SIZE = facts.PAGE_SIZE
_OBJECT = r"(?P<resource>accounts|account_contacts)"


class FreshsuccessEmulator(Emulator):
    """Freshsuccess accounts and account contacts."""

    prefix = "freshsuccess"
    resources = tuple(KEYS)
    default_api_keys = (DEFAULT_API_KEY,)
    vendor_limits = Limits()  # no published limit was found
    auth_hint = "?api_key=<key> or HTTP Basic api:<key>"

    def authenticate(self, request: SandboxRequest) -> bool:
        if request.query.get("api_key") in self.api_keys:
            return True
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, key = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == "api" and key in self.api_keys

    def error_response(self, status: int, message: str) -> SandboxResponse:
        # Assumed shape, after the public connector's error parser: errors[0].code / .message.
        return json_response(status, {"status_is_ok": False, "errors": [{"code": status, "message": message}]})

    def unauthorized_response(self, request: SandboxRequest) -> SandboxResponse:
        return self.error_response(401, "Invalid API key")

    # -- bulk upsert -------------------------------------------------------------------------
    @route("POST", rf"/{_OBJECT}", "{resource}.bulk_upsert")
    def bulk_upsert(self, request: SandboxRequest, resource: str) -> SandboxResponse:
        records = self.json_object(request).get("records")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise RequestRejected(400, 'The body must be {"records": [...]}')
        failed: list[dict[str, Any]] = []
        good: list[int] = []
        for index, raw in enumerate(records):
            problem = self._problem(resource, raw)
            if problem:
                failed.append({"message": problem, "account_id": raw.get("account_id"), **_user(raw), "record": index})
            else:
                good.append(index)
        accounts = {r["account_id"] for r in self.store.all("accounts")} if resource == "account_contacts" else set()
        orphans = [i for i in good if resource == "account_contacts" and records[i]["account_id"] not in accounts]
        if orphans:  # the whole batch is refused: nothing is written
            failed += [
                {
                    "message": "Account not found",
                    "account_id": records[i].get("account_id"),
                    **_user(records[i]),
                    "record": i,
                }
                for i in orphans
            ]
            return json_response(
                200, {"status_is_ok": False, "failed_results": sorted(failed, key=lambda f: f["record"])}
            )
        for index in good:
            self._write(resource, records[index])
        return json_response(200, {"status_is_ok": True, "failed_results": failed})

    def _problem(self, resource: str, raw: dict[str, Any]) -> str | None:
        if resource == "accounts":
            bad = [name for name in ("account_id", "name") if not isinstance(raw.get(name), str) or not raw[name]]
            if not isinstance(raw.get("join_date"), int) or isinstance(raw.get("join_date"), bool):
                bad.append("join_date")  # epoch milliseconds
            if bad:
                return f"Missing/invalid required field(s) for Accounts insert: {', '.join(repr(b) for b in bad)}"
        else:
            bad = [name for name in ("account_id", "user_id") if not isinstance(raw.get(name), str) or not raw[name]]
            if bad:
                return (
                    f"Missing/invalid required field(s) for Account Contacts insert: {', '.join(repr(b) for b in bad)}"
                )
        for name in DIMENSIONS:
            if name in raw and not _dimension_list(raw[name]):
                return f"Invalid {name}: expected a list of {{key, value}}"
        return None

    def _write(self, resource: str, raw: dict[str, Any]) -> None:
        key = KEYS[resource]
        found = self.store.find(resource, lambda r: r[key] == raw[key])
        if not found:
            self.store.insert(
                resource, {**{k: v for k, v in raw.items() if k != "id"}, "is_active": raw.get("is_active", True)}
            )
            return
        record = dict(found[0])
        for name, value in raw.items():
            if name in DIMENSIONS:
                merged = {d["key"]: d for d in record.get(name) or []}
                merged.update({d["key"]: d for d in value})
                record[name] = list(merged.values())
            elif name != "id":
                record[name] = value
        self.store.replace(resource, record["id"], record)

    # -- reads -------------------------------------------------------------------
    @route("GET", rf"/{_OBJECT}", "{resource}.list")
    def list_records(self, request: SandboxRequest, resource: str) -> SandboxResponse:
        try:
            page = int(request.query.get("page", 0))
        except ValueError:
            raise RequestRejected(400, "page must be an integer") from None
        rows = [_public(r) for r in self.store.all(resource)]
        # Assumed: the list answer names the resource, like the bulk body names records.
        return json_response(200, {resource: rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE], "total": len(rows)})

    @route("GET", rf"/{_OBJECT}/(?P<key>[^/]+)", "{resource}.view")
    def view(self, request: SandboxRequest, resource: str, key: str) -> SandboxResponse:
        return json_response(200, _public(self._existing(resource, key)))

    # Custom fields: Freshsuccess takes any key in its dimension lists ({key, value}), so there is no
    # field schema to declare: ``declare_field`` keeps the base class's refusal.

    def _existing(self, resource: str, key: str) -> Record:
        found = self.store.find(resource, lambda r: r[KEYS[resource]] == key)
        if not found:
            raise RequestRejected(404, f"No {resource} record with {KEYS[resource]} {key}")
        return found[0]

    def records(self, resource: str) -> list[Record]:
        return [_public(r) for r in self.store.all(resource)]


def _user(raw: dict[str, Any]) -> dict[str, Any]:
    return {"user_id": raw["user_id"]} if "user_id" in raw else {}


def _dimension_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(d, dict) and isinstance(d.get("key"), str) and "value" in d for d in value
    )


def _public(record: Record) -> Record:
    return {k: v for k, v in record.items() if k != "id"}
