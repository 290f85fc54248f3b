"""One core, many faces: the command line and the web package reach the database only through the operations
layer (`veille.manage`), and the command line starts Celery only to run the service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FACES = sorted([*(ROOT / "veille" / "cli").rglob("*.py"), *(ROOT / "veille" / "web").rglob("*.py")])
STORAGE = ("sqlalchemy", "veille.storage")
# where the command line may reach Celery: to start the service, and to hand the web server's WebSub pushes
# to the workers
CELERY_ALLOWED = {"veille/cli/service.py", "veille/cli/web.py"}


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


@pytest.mark.parametrize("path", FACES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_face_imports_no_storage(path: Path) -> None:
    wrong = [name for name in imports(path) if name == STORAGE[0] or name.startswith(STORAGE[0] + ".")
             or name == STORAGE[1] or name.startswith(STORAGE[1] + ".")]
    assert wrong == [], f"{path.relative_to(ROOT)} imports {wrong}: go through veille.manage"


@pytest.mark.parametrize("path", sorted((ROOT / "veille" / "cli").rglob("*.py")), ids=lambda p: p.name)
def test_the_command_line_reaches_celery_only_to_run_the_service(path: Path) -> None:
    relative = str(path.relative_to(ROOT))
    celery = [name for name in imports(path) if name.split(".")[0] in ("tasks", "worker", "celery")]
    assert not celery or relative in CELERY_ALLOWED, f"{relative} imports {celery}"


def test_the_check_sees_a_face_that_imports_storage(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from sqlalchemy import select\nimport veille.storage.models\n", encoding="utf-8")
    assert imports(bad) == ["sqlalchemy", "veille.storage.models"]
