"""Every module a reader can hold in mind (issue 16): no .py module of the product is longer than 400 lines.

Physical lines, as `wc -l` counts them (a last line without its newline counts too), blank lines and docstrings
included: they are what a reader scrolls through. The benchmarks (bench/) are held to it too.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("protocol", "server", "persistence", "valgame_client", "locustfiles", "bench")
MAX_LINES = 400


def line_count(path: Path) -> int:
    # bytes.splitlines splits on \n, \r\n and \r only, as an editor does; str.splitlines would also split on form
    # feeds and Unicode line separators inside strings.
    return len(path.read_bytes().splitlines())


def modules() -> list[Path]:
    return sorted(path for root in ROOTS for path in (REPO / root).rglob("*.py"))


def too_long(paths: list[Path], limit: int) -> list[str]:
    """The modules of `paths` longer than `limit` lines, each named with its length."""
    lengths = [(path, line_count(path)) for path in paths]
    return [f"{path.relative_to(REPO)}: {lines} lines (at most {limit})" for path, lines in lengths if lines > limit]


def test_the_modules_are_found() -> None:
    found = {path.relative_to(REPO).as_posix() for path in modules()}
    assert {"protocol/__init__.py", "server/node.py", "persistence/sqlite.py", "valgame_client/core.py",
            "locustfiles/game_user.py"} <= found


def test_a_long_module_is_named_with_its_length() -> None:
    long = REPO / "persistence" / "port.py"
    lines = line_count(long)
    assert too_long([long], lines) == []
    assert too_long([long], lines - 1) == [f"persistence/port.py: {lines} lines (at most {lines - 1})"]


def test_the_line_count_is_the_physical_one(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(b'"""doc"""\n\nx = "\x0c"\r\ny = 1')  # a form feed inside a string is no line break
    assert line_count(path) == 4


def test_every_module_is_at_most_400_lines() -> None:
    over = too_long(modules(), MAX_LINES)
    assert not over, "split these modules along a seam a reader would expect:\n" + "\n".join(over)
