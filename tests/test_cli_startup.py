"""`veille <command>` imports only that command's module: start-up is most of a poll of unchanged feeds."""

from __future__ import annotations

import json
import subprocess
import sys

import typer

from veille.cli import COMMANDS, MODULES, app, load_commands


def _top_level_names(application: typer.Typer) -> set[str]:
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in application.registered_commands}
    return names | {g.name or "" for g in application.registered_groups}


def test_every_command_is_mapped_to_the_module_that_registers_it() -> None:
    load_commands()
    assert _top_level_names(app) == set(COMMANDS)
    assert set(COMMANDS.values()) == set(MODULES)


def _modules_loaded_by(argv: list[str]) -> set[str]:
    code = (
        "import json, sys\n"
        "from veille.cli import load_commands\n"
        f"load_commands({argv!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


def test_poll_loads_neither_other_commands_nor_extraction_nor_alert_transports() -> None:
    loaded = _modules_loaded_by(["poll"])
    assert "veille.cli.service" in loaded
    unwanted = {"veille.cli.backup", "veille.cli.channels", "veille.cli.track", "veille.cli.extract",
                "veille.cli.explain", "veille.cli.feeds", "trafilatura", "lxml.html", "veille.matching",
                "veille.alerts", "feedparser"}
    assert not unwanted & loaded


def test_help_lists_every_command() -> None:
    done = subprocess.run([sys.executable, "-m", "veille", "--help"], capture_output=True, text=True, check=True)
    for name in COMMANDS:
        assert name in done.stdout
