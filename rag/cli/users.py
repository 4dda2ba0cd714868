"""`python -m rag users ...`: add accounts, set passwords, change roles, deactivate, from a shell;
`python -m rag setup-code`: a new code for the first-run form."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from rag.auth import (
    ROLES,
    add_user,
    change_role,
    list_accounts,
    new_setup_code,
    revoke_account_sessions,
    set_active,
    set_password,
    setup_code_message,
)
from rag.errors import InvalidInput

if TYPE_CHECKING:
    from rag.console import Console

ACTOR = "command line"
# Without it a password set here is the person's own (an administrator setting up their account);
# with it, it is one to pass on, and the console asks for a new one at the first sign-in.
TEMPORARY_HELP = "the person must choose a new password at their next sign-in"


def add_users_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "setup-code", help="print a new one-time code for the first-run form (the previous one stops working)"
    )
    p.set_defaults(run=_setup_code)
    users = sub.add_parser("users", help="manage accounts and roles")
    commands = users.add_subparsers(required=True, metavar="ACTION")
    p = commands.add_parser("add", help="add an account (asks for its password)")
    p.add_argument("email")
    p.add_argument("--role", choices=ROLES, required=True)
    p.add_argument("--name", default="")
    password = p.add_mutually_exclusive_group()
    password.add_argument("--no-password", action="store_true", help="for OIDC sign-in only")
    password.add_argument("--temporary", action="store_true", help=TEMPORARY_HELP)
    p.set_defaults(run=_add)
    p = commands.add_parser("list", help="list the accounts")
    p.set_defaults(run=_list)
    p = commands.add_parser(
        "password", help="set a new password (lifts a sign-in lock, signs the account out everywhere)"
    )
    p.add_argument("email")
    p.add_argument("--temporary", action="store_true", help=TEMPORARY_HELP)
    p.set_defaults(run=_password)
    p = commands.add_parser("sign-out", help="sign an account out of every browser")
    p.add_argument("email")
    p.set_defaults(run=_sign_out)
    p = commands.add_parser("role", help="change an account's role")
    p.add_argument("email")
    p.add_argument("role", choices=ROLES)
    p.set_defaults(run=_role)
    for name, active in (("deactivate", False), ("reactivate", True)):
        p = commands.add_parser(name, help=f"{name} an account")
        p.add_argument("email")
        p.set_defaults(run=_activation, active=active)


def read_password() -> str:
    """Typed twice at a terminal; one line when piped (`echo ... | python -m rag users add ...`)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise InvalidInput("The two passwords differ.")
    return first


def _add(console: Console, args: argparse.Namespace) -> int:
    password = None if args.no_password else read_password()
    account = add_user(
        console.engine,
        args.email,
        args.role,
        actor=ACTOR,
        password=password,
        name=args.name,
        temporary=args.temporary,
    )
    print(f"added {account.email} as {account.role}")
    return 0


def _list(console: Console, args: argparse.Namespace) -> int:
    for a in list_accounts(console.engine):
        print(f"{a.email:<40} {a.role:<18} {'active' if a.active else 'deactivated'}")
    return 0


def _password(console: Console, args: argparse.Namespace) -> int:
    set_password(console.engine, args.email, read_password(), actor=ACTOR, temporary=args.temporary)
    print(f"new {'temporary ' * args.temporary}password set for {args.email}; signed out everywhere")
    return 0


def _sign_out(console: Console, args: argparse.Namespace) -> int:
    ended = revoke_account_sessions(console.engine, args.email)
    print(f"{args.email}: {ended} session{'s' * (ended != 1)} ended")
    return 0


def _role(console: Console, args: argparse.Namespace) -> int:
    change_role(console.engine, args.email, args.role, actor=ACTOR)
    print(f"{args.email} is now {args.role}")
    return 0


def _activation(console: Console, args: argparse.Namespace) -> int:
    set_active(console.engine, args.email, args.active, actor=ACTOR)
    print(f"{args.email} is {'active' if args.active else 'deactivated'}")
    return 0


def _setup_code(console: Console, args: argparse.Namespace) -> int:
    print(setup_code_message(new_setup_code(console.engine)))
    return 0
