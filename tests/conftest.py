"""Session-wide report: which warehouses the integration suite runs on, and what ran on each."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration import warehouses

_RESULTS: dict[str, tuple[str, str]] = {}  # test id -> (warehouse, outcome)


def pytest_report_header(config: pytest.Config) -> str:
    return warehouses.describe()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    name = dict(report.user_properties).get("warehouse")
    if name is None:
        return
    if report.when == "call" or report.outcome != "passed":
        previous = _RESULTS.get(report.nodeid)
        if previous is None or previous[1] == "passed":  # a failing teardown outweighs a pass
            _RESULTS[report.nodeid] = (str(name), report.outcome)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Printed even under -q (which hides the header), so a CI log shows what ran where."""
    if _RESULTS:
        terminalreporter.write_line(warehouses.describe())
    for name in sorted({warehouse for warehouse, _ in _RESULTS.values()}):
        counts = Counter(outcome for warehouse, outcome in _RESULTS.values() if warehouse == name)
        terminalreporter.write_line(
            f"warehouse {name}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
        )
