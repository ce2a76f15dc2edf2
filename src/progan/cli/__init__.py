"""The ``progan`` command.

Every module in this package whose name does not start with ``_`` is one
sub-command: it defines a :mod:`click` command named ``command``. Module
``training_video`` becomes ``progan training-video``. Sub-commands are imported
only when used, so ``progan toy`` never pays for importing the metrics stack.

Errors: any :class:`progan.errors.UserError` or click usage error is printed as
one line on stderr and exits with code 2, never as a traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Any

import click

from progan.errors import UserError

__all__ = ["main", "cli"]


def _module_for(name: str) -> str:
    return f"{__name__}.{name.replace('-', '_')}"


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        names = [
            m.name.replace("_", "-")
            for m in pkgutil.iter_modules(__path__)
            if not m.name.startswith("_")
        ]
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.list_commands(ctx):
            return None
        module = importlib.import_module(_module_for(cmd_name))
        command = getattr(module, "command")
        assert isinstance(command, click.Command), f"{module.__name__}.command is not a click command"
        return command


@click.group(cls=_LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="progan")
def cli() -> None:
    """Progressive Growing of GANs with BigGAN techniques: prepare data, train, evaluate, generate."""


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``progan`` console script; exit code 2 on any user error."""
    try:
        return cli.main(args=argv, prog_name="progan", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("progan: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        # click's own usage errors, made one line like ours.
        ctx = e.ctx if isinstance(e, click.UsageError) else None
        cmd = f" {ctx.command_path.split(' ', 1)[1]}" if ctx and " " in ctx.command_path else ""
        click.echo(f"progan{cmd}: error: {_one_line(e.format_message())}", err=True)
        sys.exit(2)
    except UserError as e:
        click.echo(f"progan: error: {_one_line(str(e))}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("progan: interrupted", err=True)
        sys.exit(130)
