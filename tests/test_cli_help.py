"""`--help` in plain words fitted to the terminal, and every usage error as one `error: ...` line, exit 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperOption

from veille.cli import app, load_commands

VEILLE = str(Path(sys.executable).with_name("veille"))

# what Typer shows of a Python type: <str>, <bool>, <list[str]>, <int range>, and {name} for an argument
TYPE_MARKERS = re.compile(r"<(?:str|int|float|bool|path|datetime|list\[[^>]*\]|(?:int|float) range)>|\{[a-z_]+\}")
BOXES = set("╭╮╰╯│─")


def commands() -> Iterator[tuple[list[str], object]]:
    load_commands()
    root = typer.main.get_command(app)

    def walk(command: object, path: list[str]) -> Iterator[tuple[list[str], object]]:
        yield path, command
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    yield from walk(root, [])


ALL = [path for path, _ in commands()]


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(p) for p in ALL}
    assert {"", "feeds", "feeds add", "feeds list", "track add", "channels add", "matches", "status", "run"} <= names
    assert len(ALL) >= 25


def test_every_option_has_a_description() -> None:
    missing = [
        f"veille {' '.join(path)} {'/'.join(param.opts)}"
        for path, command in commands()
        for param in getattr(command, "params", [])
        if isinstance(param, TyperOption) and not param.hidden and not param.help
    ]
    assert missing == []


@pytest.mark.parametrize("columns", [60, 120])
def test_help_shows_no_python_types_and_fits_the_terminal(
    columns: int, veille_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # in this process (Click's test runner would force 80 columns), as `veille ... --help` runs it
    monkeypatch.setenv("COLUMNS", str(columns))
    root = typer.main.get_command(app)
    widest = 0
    for path in ALL:
        code = root.main([*path, "--help"], prog_name="veille", standalone_mode=False)
        text = capsys.readouterr().out
        where = f"veille {' '.join(path)} --help"
        assert code == 0, (where, text)
        assert text.startswith(f"Usage: veille {' '.join(path)}".rstrip()), where
        assert not TYPE_MARKERS.findall(text), (where, TYPE_MARKERS.findall(text))
        assert not BOXES & set(text), where
        too_long = [line for line in text.splitlines() if len(line) > columns]
        assert too_long == [], (where, too_long)
        widest = max(widest, *map(len, text.splitlines()))
    # the text fills the terminal: wrapped at its width, not at Click's usual 80 columns
    assert columns - 12 <= widest <= columns


def test_help_of_the_real_command_names_values_and_wraps(veille_env: dict[str, str]) -> None:
    env = {**os.environ, **veille_env, "COLUMNS": "60"}
    done = subprocess.run([VEILLE, "feeds", "add", "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == "Usage: veille feeds add [OPTIONS] URL"
    assert any(line.strip().startswith("--every DURATION") for line in lines)
    assert any(line.strip().startswith("--tag TAG") for line in lines)
    assert max(map(len, lines)) <= 60
    # a paragraph of the description wraps rather than running off the screen
    assert sum(1 for line in lines if line.startswith("  ") and "feed" in line) >= 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["feeds", "add", "https://example.org/feed", "--every", "nonsense"], "--every: not a duration"),
        (["feeds", "list", "--bogus"], "no such option: --bogus (see `veille feeds list --help`)"),
        (["feeds", "add"], "missing argument 'URL' (see `veille feeds add --help`)"),
        (["track", "add", "Kyutai", "--min-mentions", "0"], "invalid value for '--min-mentions'"),
        (["matches", "--limit", "zero"], "invalid value for '--limit'"),
        (["nope"], "no such command 'nope'"),
    ],
)
def test_a_usage_error_is_one_error_line_and_exit_2(args: list[str], message: str, veille_env: dict[str, str]) -> None:
    env = {**os.environ, **veille_env, "COLUMNS": "80"}
    done = subprocess.run([VEILLE, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert message in lines[0]
    assert not BOXES & set(done.stderr)


def test_a_group_without_a_command_shows_its_commands(veille_env: dict[str, str]) -> None:
    done = subprocess.run([VEILLE, "feeds"], env={**os.environ, **veille_env}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "Commands:" in done.stderr and "list" in done.stderr
    assert not BOXES & set(done.stderr)
