"""`expedition review --by NAME`: a named reviewer's quality-assurance sign-off."""

from __future__ import annotations

from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import JsonOpt, ProjectOpt, QuietOpt


def review(
    by: Annotated[str, typer.Option("--by", help="The reviewer's name, as it will appear in the pack.")],
    role: Annotated[
        str, typer.Option("--role", help="The reviewer's role, e.g. analytical assurer, peer reviewer.")
    ] = "analytical assurer",
    note: Annotated[str, typer.Option("--note", help="A comment recorded with the sign-off.")] = "",
    as_: Annotated[
        str, typer.Option("--as", help="The Aqua Book role signing: commissioner, analyst or assurer "
                          "(the assurer's sign-off is the one a final pack needs).")
    ] = "assurer",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Sign off without asking to confirm.")] = False,
    project: ProjectOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Record a quality-assurance sign-off of the stored findings (after the Aqua Book).

    The reviewer attests that assumptions were checked, methods reviewed, numbers verified, the
    analysis validated against the question and the outputs checked for disclosure. A finding
    that changes afterwards is no longer covered; `expedition pack --final` needs a sign-off.
    """
    from expedition.project import open_project
    from expedition.review import AQUA_ROLES, ROLE_CHECKS, ReviewError, sign_off, stored_fingerprints

    if as_ not in ROLE_CHECKS:
        raise ReviewError(f"{as_!r} is not one of the Aqua Book's roles",
                          f"sign off as one of: {', '.join(AQUA_ROLES)} (e.g. --as commissioner)")
    proj = open_project(project)
    if not yes and not json_:
        ids = ", ".join(stored_fingerprints(proj)) or "none"
        _render.note(f"Signing off the findings ({ids}) as {by} ({role}), the {as_}. You attest that:")
        for _, text in ROLE_CHECKS[as_]:
            _render.note(f"  • {text}")
        if not typer.confirm("Record this sign-off?", default=False, err=True):
            raise typer.Abort()
    result = sign_off(proj, by, role=role, note=note, aqua_role=as_)
    if json_:
        _render.print_json(result.to_dict())
    elif not quiet:
        after = ("`expedition pack --final` can now build the final pack." if as_ == "assurer"
                 else "A final pack also needs the assurer's sign-off (`--as assurer`).")
        _render.ok(
            f"Signed off by {result.by} ({result.role}), the {as_}, at {result.time}: "
            f"{len(result.findings)} finding(s). {after}"
        )
