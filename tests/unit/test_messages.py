"""What a person reads when a name is mistyped: the closest right name, once."""

from __future__ import annotations

import pytest

from dbt_revsync.errors import did_you_mean


@pytest.mark.parametrize(
    "word, choices, hint",
    [
        ("feilds", ["name", "fields", "object"], " (did you mean 'fields'?)"),
        ("lastname", ["first_name", "last_name"], " (did you mean 'last_name'?)"),
        ("rate_limt", ["rate_limit", "timeout"], " (did you mean 'rate_limit'?)"),
        ("Email", ["email", "phone"], " (did you mean 'email'?)"),
        ("zzz", ["email", "phone"], ""),
        ("email", ["email"], ""),
        ("anything", [], ""),
    ],
)
def test_did_you_mean(word: str, choices: list[str], hint: str) -> None:
    assert did_you_mean(word, choices) == hint
