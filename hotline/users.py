"""`hotline users add|passwd|disable`: the console's accounts, from the PBX host's shell.

Passwords come from a prompt (asked twice) or, with `--password-stdin`, from the first
line of standard input; never from an argument (it would show in `ps` and the shell's
history). Every change is written to the console's audit log, from "cli".
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import datetime

from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.users import AuditEntry, DuplicateUserError, Role, UnknownUserError, UserStore
from console.passwords import hash_password
from routing.config import HotlineConfig

ReadPassword = Callable[[], str]


def add_users_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p_users = sub.add_parser("users", help="console users (roles, passwords)")
    users_sub = p_users.add_subparsers(dest="users_command", required=True)
    p_add = users_sub.add_parser("add", help="create a console user")
    p_add.add_argument("username")
    p_add.add_argument("--role", required=True, choices=[r.value for r in Role])
    p_add.add_argument("--agency", default=None,
                       help="the agency (as named in the YAML) an agency user belongs to")
    p_add.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of standard input")
    p_pw = users_sub.add_parser("passwd", help="set a console user's password")
    p_pw.add_argument("username")
    p_pw.add_argument("--password-stdin", action="store_true")
    p_off = users_sub.add_parser("disable", help="stop a console user from logging in")
    p_off.add_argument("username")


def password_reader(from_stdin: bool) -> ReadPassword:
    def read() -> str:
        if from_stdin:
            return sys.stdin.readline().rstrip("\r\n")
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise ValueError("the two passwords differ")
        return first

    return read


def agencies(config: HotlineConfig) -> set[str]:
    return {b.agency for b in config.branches} | {s.agency for s in config.stations}


async def run_users(
    database_url: str, args: argparse.Namespace, *, config: HotlineConfig, now: datetime,
    read_password: ReadPassword,
) -> tuple[int, str]:
    """(exit code, message) of one `hotline users` command."""
    await upgrade_async(database_url)  # the first admin may come before any service start
    engine = make_engine(database_url)
    store = UserStore(make_sessionmaker(engine))
    by = f"cli:{getpass.getuser()}"
    try:
        match args.users_command:
            case "add":
                role = Role(args.role)
                if role is Role.AGENCY and args.agency not in agencies(config):
                    known = ", ".join(sorted(agencies(config)))
                    return 2, f"--agency must be an agency of the YAML: {known}"
                password = read_password()
                await store.add(args.username, role, args.agency,
                                hash_password(password, username=args.username), at=now)
                detail = f"{args.username}: {role.value}" + (
                    f" ({args.agency})" if args.agency else "")
                await store.audit(AuditEntry(now, by, "cli", "user_added", detail))
                return 0, f"user {args.username} added ({role.value})"
            case "passwd":
                if await store.by_name(args.username) is None:
                    raise UnknownUserError(args.username)
                password = read_password()
                await store.set_password(
                    args.username, hash_password(password, username=args.username), at=now)
                await store.audit(AuditEntry(now, by, "cli", "password_changed",
                                             args.username))
                return 0, f"password of {args.username} changed"
            case _:
                await store.set_active(args.username, False, at=now)
                await store.audit(AuditEntry(now, by, "cli", "user_disabled", args.username))
                return 0, f"user {args.username} disabled"
    except (DuplicateUserError, UnknownUserError, ValueError) as exc:
        return 4, str(exc)
    finally:
        await engine.dispose()
