"""Accounts: add, change a password, deactivate, list, API tokens."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from sqlalchemy import select

from docservice.cli.root import CLI_ACTOR, command_work, main
from docservice.models import User
from docservice.services import users


@main.group("users")
def users_group() -> None:
    """Accounts of coordinators, auditors and admins."""


@users_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="Full name.")
@click.option("--role", type=click.Choice(["coordinator", "auditor", "admin"]),
              default="coordinator", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_add(email: str, name: str, role: str, password_stdin: bool) -> None:
    """Add an account (the password is asked for, or read from standard input)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with command_work() as session:
        user = users.add_user(session, email=email, name=name, role=role, password=password)
    click.echo(f"Added {user.role} {user.email}.")


@users_group.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_password(email: str, password_stdin: bool) -> None:
    """Give an account a new password; every login session of the account ends."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with command_work() as session:
        user = users.user_by_email(session, email)
        users.set_password(session, user, password, actor=CLI_ACTOR)
    click.echo(f"New password for {user.email}; its sessions have ended.")


@users_group.command("deactivate")
@click.argument("email")
def users_deactivate(email: str) -> None:
    """Stop an account from logging in; every login session of the account ends now."""
    with command_work() as session:
        user = users.user_by_email(session, email)
        users.deactivate(session, user, actor=CLI_ACTOR)
    click.echo(f"Deactivated {user.email}; its sessions have ended.")


@users_group.command("list")
def users_list() -> None:
    """Print every account: e-mail, role, active or not, live API tokens."""
    from docservice.services.api_tokens import tokens_of

    with command_work() as session:
        accounts = list(session.scalars(select(User).order_by(User.email)))
        for user in accounts:
            live = [t for t in tokens_of(session, user.id) if t.revoked_at is None]
            click.echo(f"{user.email:<40} {user.role:<12} "
                       f"{'active' if user.active else 'deactivated':<12} "
                       f"{len(live)} API token(s)  {user.name}")
    click.echo(f"{len(accounts)} account(s)")


@users_group.command("token")
@click.argument("email")
@click.option("--name", default="api", show_default=True,
              help="What the token is for (shown in `users list`).")
@click.option("--revoke", is_flag=True, help="Revoke every token of this account instead.")
def users_token(email: str, name: str, revoke: bool) -> None:
    """Create an API token for a coordinator (printed once; only its hash is kept)."""
    from docservice.services import api_tokens

    now = datetime.now(UTC)
    with command_work() as session:
        if revoke:
            count = api_tokens.revoke_tokens(session, email, now=now, actor=CLI_ACTOR)
            message = f"Revoked {count} token(s) of {email}."
        else:
            token, secret = api_tokens.create_token(session, email, name=name, now=now,
                                                    actor=CLI_ACTOR)
            message = secret
    click.echo(message)
    if not revoke:
        click.echo(f"(token {token.prefix}… for {email}: keep it secret, it is shown only "
                   "once; use it as 'Authorization: Bearer <token>' on /api/v1)", err=True)
