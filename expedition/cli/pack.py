"""`expedition pack` and `expedition pack verify`: the findings pack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import ForceOpt, JsonOpt, ProjectOpt, QuietOpt

app = typer.Typer(
    help="Build the findings pack (or verify one with `pack verify`).", invoke_without_command=True
)


@app.callback()
def pack(
    ctx: typer.Context,
    project: ProjectOpt = None,
    final: Annotated[
        bool,
        typer.Option("--final", help="Build the final pack; refused unless a review sign-off covers every finding."),
    ] = False,
    force: ForceOpt = False,
    pdf: Annotated[
        bool,
        typer.Option("--pdf", help="Also print index.html to findings/<slug>-<date>.pdf with headless Chromium."),
    ] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Build findings/<slug>-<date>/ and its .zip from the stored findings, with disclosure control."""
    if ctx.invoked_subcommand is not None:
        return
    from expedition.pack import build_pack
    from expedition.project import open_project

    result = build_pack(open_project(project), replace=force, final=final)
    printed = None
    if pdf:
        from expedition.pack.pdf import print_pdf

        printed = print_pdf(result.path / "index.html", result.path.with_name(result.path.name + ".pdf"))
    if json_:
        _render.print_json({**result.to_dict(), **({"pdf": str(printed)} if printed else {})})
        return
    if quiet:
        return
    _render.ok(f"Findings pack ({result.status}): {result.path / 'index.html'}")
    _render.note(
        f"  {len(result.findings)} findings, {result.files} files, index.html {result.index_bytes / 1024:,.0f} KiB, "
        f"{result.suppressions} disclosure-control changes (listed in manifest.json)"
    )
    _render.note(f"  zip: {result.zip}  (SHA-256 {result.zip_sha256[:16]}…)")
    if printed:
        _render.note(f"  PDF: {printed}")
    _render.note(f"  signed by {result.signer} (`expedition pack key` shows the key to publish)")
    for warning in result.warnings:
        _render.warn(warning)


@app.command("verify")
def verify(
    pack_path: Annotated[Path, typer.Argument(metavar="PACK", help="The pack folder or its .zip.")],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            metavar="PUBLIC_KEY",
            help="Require this signer: a public-key file, an 'ssh-ed25519 …' line or a SHA256:… "
            "fingerprint, as `expedition pack key` prints them. An unsigned pack then fails too.",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Check a pack: its signature, checksums, no small counts, no identifiers or personal data,
    no spreadsheet formulas, complete provenance."""
    from expedition.pack import verify_pack

    report = verify_pack(pack_path, key=key)
    if json_:
        _render.print_json(report.to_dict())
        if not report.ok:
            raise typer.Exit(1)
        return
    signature = report.signature
    if signature is not None and signature.status == "valid":
        whose = (
            "the key you asked for (--key)" if signature.pinned
            else "check that this is the fingerprint your team published, or pin it with --key"
        )
        _render.note(f"Signed by {signature.fingerprint}: {whose}")
    for warning in report.warnings:
        _render.warn(warning)
    if report.ok:
        _render.ok(
            f"{pack_path}: {report.checked} files match the manifest; {report.tables} tables and "
            f"every text checked for small counts, identifiers, personal data and spreadsheet formulas; "
            f"provenance complete for {report.findings} finding{'s' if report.findings != 1 else ''} "
            f"({report.status or 'unknown status'})"
        )
        return
    _render.error_panel(
        f"Pack verification failed: {len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}",
        "\n".join(f"• {p}" for p in report.problems),
    )
    raise typer.Exit(1)


@app.command("key")
def show_key(
    pem: Annotated[bool, typer.Option("--pem", help="Print only the public key, as PEM (for openssl).")] = False,
    json_: JsonOpt = False,
) -> None:
    """Show the public key that signs your packs, and its fingerprint, to publish (made on first use)."""
    from expedition.signing import signing_key

    signer = signing_key()
    if json_:
        _render.print_json(signer.to_dict())
        return
    if signer.created:
        _render.warn(f"Made a new signing key: {signer.source} (private: keep it out of git and of packs)")
    if pem:
        typer.echo(signer.public.pem, nl=False)
        return
    if not signer.created:
        _render.note(f"Signing key: {signer.source}")
    _render.note("Publish the fingerprint or the public key where the readers of your packs will find them "
                 "(`--pem` prints the key as PEM, for openssl).")
    typer.echo(f"Fingerprint: {signer.public.fingerprint}")
    typer.echo(f"Public key:  {signer.public.openssh}")
