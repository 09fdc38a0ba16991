"""The `expedition` command: a thin Typer layer over the library.

Each command lives in its own module, parses its arguments, calls one library function and
renders the result. Every expected failure (an `ExpeditionError`) becomes a short red panel on
stderr and an exit code — 1 when data or a pack failed a check, 2 for usage, configuration or
environment problems (a full disk, permissions, a read-only folder, a terminal that cannot show
the output: `expedition.errors.environment_error`) — with a traceback only under
``expedition --debug``; anything else is a bug (exit 3).
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from expedition.errors import EXIT_INTERNAL, ExpeditionError, environment_error

# Exceptions Typer/Click use for control flow and usage errors: let them through untouched.
# Typer >= 0.26 bundles its own copy of Click; older Typer uses the click package.
_PASS_THROUGH: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort)
try:
    from typer._click.exceptions import ClickException as _ClickException
except ImportError:  # pragma: no cover - older Typer
    from click import ClickException as _ClickException
_PASS_THROUGH += (_ClickException,)


def _debug_requested(ctx: typer.Context) -> bool:
    root = ctx.find_root()
    return bool(root.params.get("debug")) or os.environ.get("EXPEDITION_DEBUG") == "1"


class ExpeditionGroup(TyperGroup):
    """Maps exceptions to the error panel and exit codes, for every subcommand below it."""

    def invoke(self, ctx: typer.Context) -> Any:
        from expedition import _lock
        from expedition.cli import _render

        _lock.set_wait_notice(_render.waiting)
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except ExpeditionError as exc:
            if _debug_requested(ctx):
                raise
            _render.error_panel("Error", exc.what, exc.fix, exc.where or None)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _render.err_console.print("[red]Interrupted.[/red] Nothing half-written was kept.")
            raise typer.Exit(130) from None
        except Exception as exc:
            if _debug_requested(ctx):
                raise
            problem = environment_error(exc)  # a full disk, permissions, a read-only folder...
            if problem is not None:
                _render.error_panel("Error", problem.what, problem.fix, problem.where or None)
                raise typer.Exit(problem.exit_code) from None
            _render.error_panel(
                "Unexpected error",
                f"{type(exc).__name__}: {exc}",
                "this is a bug in expedition, not in your data or set-up. Run the same command "
                "as `expedition --debug ...` and report the traceback.",
            )
            raise typer.Exit(EXIT_INTERNAL) from None


app = typer.Typer(
    name="expedition",
    cls=ExpeditionGroup,
    help="Data expeditions: scaffold, profile, validate, analyse and publish findings packs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"expedition {version('expedition')}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks instead of short error messages.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Data expeditions: scaffold, profile, validate, analyse and publish findings packs.

    Start with `expedition demo`, or `expedition new NAME` for your own expedition.
    """


def _register() -> None:
    from expedition.cli import data, demo, ethics, guard, new, pack, run, status, steps
    from expedition.cli import review as review_cmd
    from expedition.cli import schema, validate
    from expedition.cli import profile as profile_cli
    from expedition.cli import link as link_cmd
    from expedition.cli import prepare as prepare_cmd
    from expedition.cli import score

    app.command("new")(new.new)
    app.command("demo")(demo.demo)
    app.command("status")(status.status)
    app.add_typer(data.app, name="data")
    app.command("profile")(profile_cli.profile)
    app.add_typer(steps.app, name="steps")
    app.command("run")(run.run)
    app.add_typer(pack.app, name="pack")
    app.add_typer(schema.app, name="schema")
    app.command("validate")(validate.validate)
    app.command("prepare")(prepare_cmd.prepare)
    app.command("link")(link_cmd.link)
    app.command("review")(review_cmd.review)
    app.command("score")(score.score)
    app.command("guard")(guard.guard)
    app.command("ethics")(ethics.ethics)


_register()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="expedition")
