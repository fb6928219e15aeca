"""How every ``hcs`` command and command group is built on typer.

Every group is made by :func:`command_group`, every command is registered with
:func:`command_settings`: plain help (no boxes, so it reads the same in a terminal, a
pipe and the reference page) that states each option's default, ``-h`` as well as
``--help``, and ``--debug`` accepted after any command as well as before it (it is one
option, declared once by the root command and shared by every command below it).

Errors are formatted here too: a usage mistake (an unknown option, a missing argument,
a value not allowed) is :func:`usage_error` lines; any other error is :func:`one_line`
unless ``--debug`` asked for its traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

#: Where ``--debug`` records that it was given, in the (shared) context metadata.
DEBUG_KEY = "hcs.debug"
#: The name of the one ``--debug`` option (on the root command).
DEBUG_OPTION = "debug"
#: Help text is wrapped at this width at most, whatever the terminal.
MAX_HELP_WIDTH = 88

CONTEXT_SETTINGS: dict[str, Any] = {
    "help_option_names": ["-h", "--help"],
    "max_content_width": MAX_HELP_WIDTH,
}


def _with_debug(params: list[Any], ctx: typer.Context) -> list[Any]:
    """``params`` plus the root command's ``--debug`` (unless this is the root)."""
    root = ctx.find_root()
    if root is ctx:
        return params
    shared = [p for p in root.command.params if p.name == DEBUG_OPTION]
    return [*params, *shared]


class HcsCommand(TyperCommand):
    """An ``hcs`` command: its own options, and ``--debug``."""

    def get_params(self, ctx: typer.Context) -> list[Any]:  # type: ignore[override]
        """The command's parameters, then ``--debug``."""
        return _with_debug(super().get_params(ctx), ctx)


class HcsGroup(TyperGroup):
    """An ``hcs`` command group (``hcs``, ``hcs lab``, ``hcs merfish``): and ``--debug``."""

    def get_params(self, ctx: typer.Context) -> list[Any]:  # type: ignore[override]
        """The group's parameters, then ``--debug``."""
        return _with_debug(super().get_params(ctx), ctx)


class HcsRoot(HcsGroup):
    """The ``hcs`` command: an error a command did not handle ends it with one line."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        """Run the command line; an unexpected error is one line, or with ``--debug`` raised."""
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # typer's own: the exit code, or a usage mistake :func:`main` reports
        except BrokenPipeError:
            # The reader went away (``hcs ... | head``): nothing more to say, to anyone.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        except Exception as exc:
            if debug_asked(ctx):
                raise
            print(f"error: {one_line(exc)}", file=sys.stderr)
            print("(run again with --debug to see where it happened)", file=sys.stderr)
            return 1


def remember_debug(ctx: typer.Context, value: bool) -> bool:
    """``--debug``'s callback: note it in the metadata every nested context shares."""
    if value:
        ctx.meta[DEBUG_KEY] = True
    return value


def debug_asked(ctx: typer.Context) -> bool:
    """Whether ``--debug`` was given anywhere on the command line."""
    return bool(ctx.meta.get(DEBUG_KEY))


def command_group(help_text: str, *, root: bool = False) -> typer.Typer:
    """A typer application: ``hcs`` itself (``root``), or a group such as ``hcs lab``."""
    return typer.Typer(
        cls=HcsRoot if root else HcsGroup,
        help=help_text,
        rich_markup_mode=None,  # plain help: the same text on a terminal, in a pipe, in docs
        add_completion=False,
        pretty_exceptions_enable=False,
        no_args_is_help=False,
        context_settings=CONTEXT_SETTINGS,
    )


def command_settings(help_text: str, short_help: str | None = None) -> dict[str, Any]:
    """The keywords of ``app.command(...)`` for an ``hcs`` command."""
    return {
        "cls": HcsCommand,
        "help": help_text,
        "short_help": short_help,
        "context_settings": CONTEXT_SETTINGS,
    }


def usage_error(exc: typer.TyperException) -> str:
    """A usage mistake as two lines: what is wrong (naming the option), and where help is.

    ``exc`` is one of typer's (click's) usage errors: an unknown option, a missing
    argument or option, a value not allowed (its message names the option).
    """
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "hcs"
    # (typer checks values with pydantic, whose messages of a refused choice start so)
    message = exc.format_message().replace("Value error, ", "")
    return f"{where}: error: {message}\n(`{where} --help` lists the options)"


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message's first line, or its type if it has none."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
