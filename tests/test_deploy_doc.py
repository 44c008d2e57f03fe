"""docs/deploy.md stays true to the code: its environment file names every setting, and nothing that is not one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger.core.settings import Settings

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"


def _environment_file() -> str:
    text = GUIDE.read_text()
    section = text[text.index("## 4. The environment file") : text.index("## 5. systemd units")]
    return section.split("```sh", 1)[1].split("```", 1)[0]


def test_the_environment_file_of_the_guide_names_every_setting() -> None:
    named = set(re.findall(r"^#?(SHANZHI_[A-Z0-9_]+)=", _environment_file(), re.MULTILINE))
    settings = {f"SHANZHI_{name.upper()}" for name in Settings.model_fields}
    assert sorted(settings - named) == [], "settings missing from docs/deploy.md's environment file"
    assert sorted(named - settings) == [], "names in docs/deploy.md's environment file that are no setting"


def test_the_values_the_guide_sets_are_accepted_by_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read as the service reads them, from the environment: each value parses, and the file is production mode
    with the scheduler in its own process and no test clock."""
    for name, value in re.findall(r"^(SHANZHI_[A-Z0-9_]+)=(.*)$", _environment_file(), re.MULTILINE):
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.env == "prod" and not settings.api_runs_schedule and not settings.test_clock
    assert settings.trusted_proxies == ["127.0.0.1/32"]
    assert settings.database_url.startswith("postgresql+psycopg://")
