"""Problem details keep every member a domain error carries: a detail named like one of the problem's own members
(`code`, `request_id`…) would overwrite it or be lost, so none is named so, and the builder renames one rather
than drop it."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
from pathlib import Path

from fastapi.testclient import TestClient

from api.problems import RESERVED, problem
from ledger.core.errors import DomainError
from tests.api.conftest import World, bearer, password_token

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "scoring", "redemption", "api")


def domain_errors() -> set[str]:
    """The names of every DomainError subclass the code defines."""
    for package in PACKAGES:
        for module in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            importlib.import_module(module.name)
    found, stack = set(), [DomainError]
    while stack:
        cls = stack.pop()
        found.add(cls.__name__)
        stack.extend(cls.__subclasses__())
    return found


def test_no_domain_error_is_given_a_detail_named_like_a_problem_member() -> None:
    errors = domain_errors()
    assert {"MatterNotFound", "ReviewNotFound", "Throttled"} <= errors
    clashing = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in errors:
                    clashing += [
                        f"{path.relative_to(ROOT)}:{node.lineno} {name}({k.arg}=…)"
                        for k in node.keywords
                        if k.arg in RESERVED
                    ]
    assert clashing == []


def test_the_builder_renames_a_reserved_detail_instead_of_losing_it() -> None:
    body = json.loads(bytes(problem(404, "matter_not_found", "No such matter.", None, code="x", village_id=3).body))
    assert body["code"] == "matter_not_found"
    assert body["extra_code"] == "x" and body["village_id"] == 3


def test_matter_not_found_names_the_matter(client: TestClient, world: World) -> None:
    token = password_token(client, "official-a")
    answer = client.get("/api/v1/matters/no-such-matter/versions", headers=bearer(token))
    assert answer.status_code == 404
    assert answer.json()["code"] == "matter_not_found" and answer.json()["matter_code"] == "no-such-matter"
