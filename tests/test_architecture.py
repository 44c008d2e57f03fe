"""The house rules that hold the code together, checked on the code itself.

Imports flow one way (api → redemption → scoring → ledger), domain packages know nothing of the web, and only
api/tokens.py imports jose: the import-linter contracts in pyproject.toml say so and this test runs them. The
second test shows the check bites: a copy of the code with one wrong import breaks a contract.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ledger", "scoring", "redemption", "api")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--config", "pyproject.toml"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_import_contracts_are_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("scoring/__init__.py", "import api.app", "Layers"),
        ("ledger/journal/rules.py", "import fastapi", "Domain packages know nothing of the web"),
        ("ledger/identity/service.py", "from jose import jwt", "only api.tokens imports jose"),
    ],
)
def test_a_wrong_import_breaks_a_contract(tmp_path: Path, module: str, bad_import: str, contract: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{bad_import}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout


def test_no_code_updates_or_deletes_a_journal_row() -> None:
    """Postings and transactions are append-only: no update() or delete() of their tables anywhere."""
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        if path.parts[len(ROOT.parts)] not in PACKAGES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "update",
                "delete",
            ):
                target = ast.unparse(node.args[0]) if node.args else ""
                if target in ("TX", "POSTING", "JournalTransaction", "Posting"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = " ".join(node.value.lower().split())
                if any(
                    s in text
                    for s in (
                        "update posting",
                        "delete from posting",
                        "update journal_transaction",
                        "delete from journal_transaction",
                    )
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} SQL text")
    assert offenders == []
