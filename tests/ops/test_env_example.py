""".env.example stays true: every variable settings.py reads is listed there, and no other."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Read by settings.py but not for operators: the test suite's switch.
INTERNAL = {"AHARALLY_TESTING"}


def _read_by_settings() -> set[str]:
    source = (ROOT / "aharally" / "settings.py").read_text()
    return set(re.findall(r'env_(?:str|bool|int|list)\("([A-Z0-9_]+)"', source)) - INTERNAL


def _listed() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^# ([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def test_every_variable_settings_read_is_in_env_example():
    assert _read_by_settings() - _listed() == set()


def test_env_example_lists_nothing_settings_do_not_read():
    assert _listed() - _read_by_settings() == set()
