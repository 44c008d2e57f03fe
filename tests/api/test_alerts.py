"""The example alert rules (deploy/prometheus/alerts.yml) are Prometheus rule groups, and every Shanzhi metric
their expressions name is one /metrics serves: a renamed metric would otherwise leave an alert that never fires."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from redemption import schedule
from tests.api.conftest import World

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}
DURATION = re.compile(r"^\d+[smhdwy]$")


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert isinstance(document, dict) and set(document) == {"groups"}
    found = []
    for group in document["groups"]:
        assert set(group) == {"name", "rules"} and group["rules"], group.get("name")
        found.extend(group["rules"])
    return found


def served_names(text: str) -> set[str]:
    """Every series name /metrics can show: a counter or histogram family with no sample yet (no step failed so
    far) is named by its HELP and TYPE lines, and its series by their suffixes."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def test_the_rules_are_prometheus_rule_groups() -> None:
    found = rules()
    names = [rule["alert"] for rule in found]
    assert len(names) == len(set(names)), "each alert has its own name"
    for rule in found:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert isinstance(rule["expr"], str) and rule["expr"].strip(), rule["alert"]
        assert "for" not in rule or DURATION.match(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"page", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed: the expressions' syntax is not checked (apt-get install prometheus)")
    checked = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_metric_the_rules_name_is_served(client: TestClient, world: World, engine: Engine) -> None:
    schedule.tick(engine)  # the schedule has run once, as it has on any live server
    client.get("/healthz")
    served = served_names(client.get("/metrics").text)
    topics = {  # what the operator pages on: each has at least one alert
        "shanzhi_claims_overdue",
        "shanzhi_claim_review_seconds_bucket",
        "shanzhi_settlement_backlog",
        "shanzhi_tick_step_seconds_count",
        "shanzhi_job_failures_total",
        "shanzhi_notifications",
        "shanzhi_webhook_deliveries",
        "shanzhi_sign_in_refusals_total",
        "shanzhi_sms_failed_total",
        "shanzhi_ready",
    }
    named: set[str] = set()
    for rule in rules():
        used = set(re.findall(r"\bshanzhi_[a-z0-9_]+", rule["expr"]))
        assert used or rule["expr"].startswith("up{"), f"{rule['alert']} names no metric (but Prometheus's own `up`)"
        assert used <= served, f"{rule['alert']} names metrics /metrics does not serve: {sorted(used - served)}"
        named |= used
    assert topics <= named, sorted(topics - named)
