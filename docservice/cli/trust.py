"""The EU trusted lists: refresh, load, list."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from docservice.cli.root import current_runtime, main
from docservice.errors import DocserviceError


@main.group("trust")
def trust_group() -> None:
    """EU trusted lists (signature-verified): whom own certificates (eID) may chain to, and
    which signatures are qualified."""


def _trust_warnings(lists: list[Any]) -> None:
    now = datetime.now(UTC)
    for info in lists:
        if info.is_stale(now):
            due = (f"its next update was due {info.next_update:%Y-%m-%d}" if info.next_update
                   else "it is closed (no next update)")
            click.echo(f"warning: the {info.territory} list #{info.sequence_number} is past its "
                       f"next-update date: {due}; refresh it", err=True)
        if info.note:
            click.echo(f"warning: {info.note}", err=True)


@trust_group.command("refresh")
@click.option("--lotl", "lotl_url", default=None, metavar="URL",
              help="Where to fetch the EU List of Trusted Lists (default: the EU's own address).")
@click.option("--territory", "territories", multiple=True, metavar="XX",
              help="Fetch only this territory's list (repeatable; default: every one).")
@click.option("--tl", "mirrors", multiple=True, metavar="XX=URL",
              help="Fetch XX's list from URL instead of the address the LOTL gives (repeatable).")
def trust_refresh(lotl_url: str | None, territories: tuple[str, ...],
                  mirrors: tuple[str, ...]) -> None:
    """Fetch the LOTL and the member states' lists, verify every signature, store those that
    verify. Exit 1 when a list was refused (the others are stored)."""
    from docservice.signing.trust import EU_LOTL_URL, refresh

    by_territory: dict[str, str] = {}
    for mirror in mirrors:
        territory, sep, url = mirror.partition("=")
        if not sep or not territory.strip() or not url.strip():
            raise click.BadParameter(f"{mirror!r} is not XX=URL", param_hint="--tl")
        by_territory[territory.strip().upper()] = url.strip()
    try:
        result = refresh(current_runtime().settings.trust_path,
                         lotl_url=lotl_url or EU_LOTL_URL, territories=territories or None,
                         mirrors=by_territory)
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"LOTL #{result.lotl.sequence_number} (issued {result.lotl.issued_at:%Y-%m-%d}) "
               f"verified, signed by {result.lotl.signed_by}.")
    for info in result.stored:
        click.echo(f"{info.territory}: list #{info.sequence_number} (issued "
                   f"{info.issued_at:%Y-%m-%d}) verified and stored.")
    for territory, reason in sorted(result.refused.items()):
        kept = next((i for i in result.kept if i.territory == territory), None)
        click.echo(f"error: {territory}: refused: {reason}"
                   + (f" (keeping the stored list #{kept.sequence_number})" if kept else ""),
                   err=True)
    _trust_warnings([result.lotl, *result.stored, *result.kept])
    click.echo(f"{len(result.stored)} list(s) stored, {len(result.refused)} refused, "
               f"in {result.folder}.")
    if result.refused:
        sys.exit(1)


@trust_group.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--unsigned-ok", is_flag=True,
              help="Store the list even if its signature does not verify; every verification "
                   "that relies on it then says so.")
def trust_load(file: Path, unsigned_ok: bool) -> None:
    """Load a list from a file (offline): the LOTL, or a member state's list, which must verify
    with the certificates the stored LOTL names for it."""
    from docservice.signing.trust import load_file

    try:
        result = load_file(file, current_runtime().settings.trust_path, unsigned_ok=unsigned_ok)
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    info = result.info
    how = (f"signature verified, signed by {info.signed_by}" if info.verified
           else "signature NOT verified (--unsigned-ok)")
    what = "the EU LOTL" if info.is_lotl else f"the {info.territory} trusted list"
    click.echo(f"Loaded {what} #{info.sequence_number} (issued {info.issued_at:%Y-%m-%d}; "
               f"{how}) into {result.folder}"
               + ("." if info.is_lotl else f": {len(result.entries)} CA/QC identities, "
                  f"{result.qualified_count} granted for e-signatures."))
    if result.belgian_eid_roots:
        click.echo("Belgian eID roots: " + ", ".join(
            f"{e.common_name} ({'qualified' if e.qualified else e.status_name})"
            for e in result.belgian_eid_roots))
    _trust_warnings([info])


@trust_group.command("list")
def trust_list() -> None:
    """Print the stored lists, then each CA: qualified or not, valid until, subject."""
    from docservice.signing.trust import load_trust_store

    folder = current_runtime().settings.trust_path
    try:
        store = load_trust_store(folder)
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    if not store.lists:
        click.echo(f"The trust store in {folder} is empty: run `docservice trust refresh` "
                   "(or `docservice trust load FILE.xml`).")
        return
    for info in sorted(store.lists, key=lambda i: (not i.is_lotl, i.territory)):
        click.echo(f"list {info.territory:<3} #{info.sequence_number:<4} issued "
                   f"{info.issued_at:%Y-%m-%d}, next update "
                   f"{f'{info.next_update:%Y-%m-%d}' if info.next_update else 'none'}, "
                   + ("signature verified" if info.verified else "signature NOT verified")
                   + f", from {info.source}")
    for entry in store.entries:
        click.echo(f"{'qualified' if entry.qualified else 'not qualified':<13}  "
                   f"{entry.not_after:%Y-%m-%d}  {entry.territory}  {entry.subject}")
    click.echo(f"{len(store.entries)} certificate(s), {len(store.qualified)} qualified, "
               f"from {len(store.lists)} list(s), in {folder}")
    _trust_warnings(list(store.lists))
