"""docs/deploy.md stays true to the code: its environment file names every setting, and nothing that is not one."""

from __future__ import annotations

import re
import subprocess
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
    lines = re.findall(r"^(#?)(SHANZHI_[A-Z0-9_]+)=(.*)$", _environment_file(), re.MULTILINE)
    for commented, name, value in lines:  # the examples left commented out must parse too
        if value or not commented:
            monkeypatch.setenv(name, value[1:-1] if value[:1] == value[-1:] == "'" else value)  # as systemd unquotes
    settings = Settings()
    assert settings.env == "prod" and not settings.api_runs_schedule and not settings.test_clock
    assert settings.trusted_proxies == ["127.0.0.1/32"]
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.jwt_previous_keys == {"k0": "the-old-secret"} and settings.sms_templates == {}
    assert [str(n) for n in settings.webhook_allowed_networks] == ["10.20.0.0/16"]


def test_the_shell_reads_the_environment_file_as_systemd_does(tmp_path: Path) -> None:
    """`set -a; . /etc/shanzhi/shanzhi.env` (how the guide runs the command line) gives the same values."""
    env_file = tmp_path / "shanzhi.env"
    env_file.write_text(_environment_file())
    shown = subprocess.run(
        ["sh", "-c", f"set -a; . {env_file}; env"], capture_output=True, text=True, check=True, env={}
    ).stdout
    read = dict(line.split("=", 1) for line in shown.splitlines() if line.startswith("SHANZHI_"))
    assert read["SHANZHI_SMS_TEMPLATES"] == "{}" and read["SHANZHI_SMS_SIGN_NAME"] == "善治积分"
    assert read["SHANZHI_TRUSTED_PROXIES"] == "127.0.0.1" and read["SHANZHI_TEST_CLOCK"] == "false"
