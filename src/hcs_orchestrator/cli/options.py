"""What every ``hcs`` subcommand shares: help that shows defaults, ``--debug``, data directories."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any, NoReturn

#: The data directory every command uses unless given ``--data-dir``.
DEFAULT_DATA_DIR = "hcs-data"


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that states each option's default (where there is one worth stating)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if text is None or "default" in text or text == argparse.SUPPRESS:
            return text
        if action.default in (None, False, argparse.SUPPRESS) or action.required:
            return text
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text
        return f"{text} (default: %(default)s)"


class HcsParser(argparse.ArgumentParser):
    """A parser whose usage errors are two lines: what is wrong, and where help is."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> NoReturn:
        """Print the problem and how to get help (not the whole usage); exit with 2."""
        self.exit(2, f"{self.prog}: error: {message}\n(`{self.prog} --help` lists the options)\n")


class CommandParser(HcsParser):
    """A subcommand's parser: defaults in its help, and ``--debug`` after the command too."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        add_debug_option(self, default=argparse.SUPPRESS)


def add_debug_option(parser: argparse.ArgumentParser, default: Any = False) -> None:
    """Add ``--debug``: show the traceback of an error instead of its one-line message."""
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="on an error, show the full traceback (for a bug report)",
    )


def existing_data_dir(text: str) -> Path:
    """``--data-dir`` of a command that reads: the directory must exist (none is created).

    Raises:
        argparse.ArgumentTypeError: naming the path that does not exist.
    """
    path = Path(text)
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise argparse.ArgumentTypeError(
            f"{path.resolve()} {what}; give the data directory `hcs acquire` or `hcs demo` wrote to"
        )
    return path


def add_data_dir_option(parser: argparse.ArgumentParser, *, must_exist: bool) -> None:
    """Add ``--data-dir`` (default ``hcs-data``); a command that only reads needs it to exist."""
    parser.add_argument(
        "--data-dir",
        type=existing_data_dir if must_exist else Path,
        default=DEFAULT_DATA_DIR,
        help="data directory" if must_exist else "data directory (created if missing)",
    )


def positive_int(text: str) -> int:
    """A whole number of at least 1, for options such as ``--limit``.

    Raises:
        argparse.ArgumentTypeError: naming the value and what is allowed.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (>= 1)") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: give a number >= 1")
    return value


def hcs_command(argv0: str | None = None) -> str:
    """How to run ``hcs`` again from the user's shell, for hints such as "browse: ...".

    ``hcs`` when the ``hcs`` on PATH is the one running; otherwise the running script's
    absolute path (``./dev demo`` runs ``.venv/bin/hcs``, which is not on PATH), or
    ``python -m hcs_orchestrator.cli`` when hcs was started that way.

    Args:
        argv0: the running program (``sys.argv[0]`` by default).
    """
    script = Path(argv0 if argv0 is not None else sys.argv[0])
    if script.name != "hcs":
        return f"{shlex.quote(sys.executable)} -m hcs_orchestrator.cli"
    on_path = shutil.which("hcs")
    if on_path is not None and Path(on_path).resolve() == script.resolve():
        return "hcs"
    return shlex.quote(str(script.resolve()))
