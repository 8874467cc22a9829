"""The `hotline` command: serve, console, users, config check, asterisk-config, secrets init,
zalo check."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path

import structlog
import uvloop

from calllog.followup import CallbackResult
from dialplan.generate import desk_password, write_asterisk_config
from hotline.announce import add_announce_parser, run_announce
from hotline.banner import banner_hours
from hotline.callbacks import PAGE_SIZE, list_callbacks, mark_done
from hotline.cases import add_cases_parser, default_operator, run_cases
from hotline.clock import SystemClock
from hotline.console_wiring import (
    ConsoleSetupError,
    console_url,
    run_console,
    spawn_console,
    stop_console,
)
from hotline.embedded import embedded_pbx, provision, settings_for
from hotline.pbx import TEST_TRUNK_ADDRESS, PbxError
from hotline.prompts import PromptBuildError, build_prompts, wav_seconds
from hotline.report import add_report_arguments, report_command
from hotline.serve import serve
from hotline.settings import DEFAULT_SECRETS_FILE, Settings, init_secrets_file, load_settings
from hotline.terminal import printable
from hotline.users import add_users_parser, password_reader, run_users
from hotline.zalo import add_zalo_parser, run_zalo
from routing.clock import Clock
from routing.config import ConfigError, HotlineConfig, load_config
from routing.deadlines import case_deadline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the Stasis application")
    p_serve.add_argument("--embedded", action="store_true",
                         help="also set up and run the embedded Asterisk 22 (chroot)")
    sub.add_parser("console", help="run the operating team's web console")
    add_users_parser(sub)
    p_config = sub.add_parser("config", help="configuration commands")
    config_sub = p_config.add_subparsers(dest="config_command", required=True)
    p_check = config_sub.add_parser("check", help="validate the YAML file")
    p_check.add_argument("file", nargs="?", type=Path)
    p_ast = sub.add_parser("asterisk-config", help="generate desk endpoints and dialplan")
    p_ast.add_argument("--out", type=Path, required=True)
    p_ast.add_argument("--prompts-dir", default=None, help="prompt directory on the PBX")
    p_prompts = sub.add_parser("prompts", help="synthesise the prompt WAVs from the YAML")
    p_prompts.add_argument("--out", type=Path, default=Path("var/prompts"))
    p_cb = sub.add_parser("callbacks", help="citizens waiting for a call back")
    p_cb.add_argument("--all", action="store_true",
                      help="include the handled ones (after the pending ones)")
    p_cb.add_argument("--page", type=_positive, default=1, help="which page (from 1)")
    p_cb.add_argument("--limit", type=_positive, default=PAGE_SIZE,
                      help=f"call backs a page (default {PAGE_SIZE})")
    cb_sub = p_cb.add_subparsers(dest="callbacks_command")
    p_done = cb_sub.add_parser("done", help="mark a call back handled")
    p_done.add_argument("call_id", type=_id_prefix,
                        help="the call's id (the start of it is enough if only one "
                             "pending call back has it)")
    p_done.add_argument("--note", default=None)
    p_done.add_argument("--result", choices=[r.value for r in CallbackResult],
                        default=CallbackResult.REACHED.value,
                        help="reached (default) and wrong_number close it; not_reached "
                             "keeps it pending, the attempt counted")
    p_done.add_argument("--by", metavar="NAME", default=None,
                        help="who called back (default: $USER)")
    add_cases_parser(sub)
    add_report_arguments(sub.add_parser("report", help="the period's figures (md, csv, xlsx)"))
    p_secrets = sub.add_parser("secrets", help="secrets file commands")
    secrets_sub = p_secrets.add_subparsers(dest="secrets_command", required=True)
    secrets_sub.add_parser("init", help="create the secrets file with random values")
    secrets_sub.add_parser("desks", help="print each desk's SIP login (for phone set-up)")
    add_zalo_parser(sub)
    add_announce_parser(sub)
    args = parser.parse_args(argv)

    settings = load_settings()
    clock = SystemClock()
    _configure_logging(settings.log_level)
    try:
        match args.command:
            case "serve":
                return _serve(settings, embedded=args.embedded, clock=clock)
            case "console":
                _run_service(run_console(settings, clock))
                return 0
            case "users":
                code, text = asyncio.run(run_users(
                    settings.database_url, args, config=load_config(settings.config),
                    now=clock.now(),
                    read_password=password_reader(getattr(args, "password_stdin", False))))
                print(printable(text), file=sys.stdout if code == 0 else sys.stderr)
                return code
            case "config":
                return _config_check(args.file or settings.config)
            case "asterisk-config":
                config = load_config(settings.config)
                prompts = args.prompts_dir or settings.prompts_dir
                for path in write_asterisk_config(
                    config, _sip_secret(settings), args.out, prompts
                ):
                    print(path)
                return 0
            case "secrets":
                return _secrets(args.secrets_command, settings)
            case "prompts":
                config = load_config(settings.config)
                built = build_prompts(config, args.out, settings.recorded_prompts)
                for prompt, path in built.items():
                    print(f"{path}  {wav_seconds(path):5.1f} s  {prompt.value}")
                return 0
            case "callbacks":
                if args.callbacks_command == "done":
                    ok, message = asyncio.run(
                        mark_done(settings.database_url, args.call_id, args.note,
                                  at=clock.now(), by=args.by or default_operator(),
                                  result=args.result)
                    )
                    print(printable(message), file=sys.stdout if ok else sys.stderr)
                    return 0 if ok else 4
                print(printable(asyncio.run(list_callbacks(
                    settings.database_url, include_done=args.all, page=args.page,
                    limit=args.limit,
                )), keep_newlines=True))
                return 0
            case "cases":
                code, text = asyncio.run(run_cases(
                    settings.database_url, args, now=clock.now(),
                    case_deadline=_case_deadline(settings.config)))
                print(printable(text, keep_newlines=True),
                      file=sys.stdout if code == 0 else sys.stderr)
                return code
            case "report":
                return report_command(args, settings)
            case "announce":
                code, text = asyncio.run(run_announce(settings, args, clock.now(),
                                                      default_operator()))
                print(printable(text, keep_newlines=True),
                      file=sys.stdout if code == 0 else sys.stderr)
                return code
            case "zalo":
                code, text = asyncio.run(run_zalo(settings, args, clock))
                print(printable(text, keep_newlines=True),
                      file=sys.stdout if code == 0 else sys.stderr)
                return code
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except PbxError as exc:
        print(f"embedded Asterisk: {exc}", file=sys.stderr)
        return 3
    except PromptBuildError as exc:
        print(f"prompts: {exc}", file=sys.stderr)
        return 5
    except ConsoleSetupError as exc:
        print(f"console: {exc}", file=sys.stderr)
        return 6
    return 1


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1, got {text!r}")
    return value


def _id_prefix(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "give the call's id (or the start of it): an empty id would match every call")
    return text


def _case_deadline(path: Path) -> Callable[[datetime], datetime] | None:
    """New cases' deadline from the YAML's working days; None (no deadline recorded)
    when the YAML cannot be read: the cases commands still work."""
    try:
        return case_deadline(load_config(path))
    except (ConfigError, OSError):
        return None


def _config_check(path: Path) -> int:
    """Print every problem of the file, one `file:line field: message` per line, or OK."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    print(f"{path}: OK — {len(config.branches)} branches, {len(config.desks)} desks, "
          f"{len(config.stations)} stations, hotline {config.hotline.number}")
    if config.callback.trunk is not None:
        print(f"  call-backs through trunk {config.callback.trunk} (key "
              f"{config.callback.key}, {config.callback.attempts} tries)")
    return 0


def _run_service(main: Coroutine[None, None, None]) -> None:
    # uvloop's event loop: at 15 calls/s it took the service from 5.7-6.3 to 5.1-5.7 ms
    # of CPU per call (same box, same moment) and lowered DTMF -> desk INVITE p99.
    uvloop.run(main)


def _serve(settings: Settings, *, embedded: bool, clock: Clock) -> int:
    config = load_config(settings.config)
    if not embedded:
        _run_service(serve(settings, config))
        return 0
    pbx = embedded_pbx(settings, name=settings.pbx_instance)
    provision(pbx, config, settings)
    # Until the service's loop takes SIGTERM over (and again once it has let go of it), a
    # SIGTERM unwinds through the `finally` below instead of leaving the PBX and the
    # console running without us.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    console = None
    try:
        pbx.start()
        # The console is a process of its own: its crash or restart never touches a call.
        console = spawn_console()
        _print_banner(settings, config, pbx.ports.sip, now=clock.now())
        _run_service(serve(settings_for(pbx, settings), config))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up is bounded: let it end
        if console is not None:
            stop_console(console)
        pbx.stop()
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _print_banner(
    settings: Settings, config: HotlineConfig, sip_port: int, *, now: datetime
) -> None:
    print(f"\n{config.hotline.name}")
    print(f"  hotline number : {config.hotline.number}  (sip:{config.hotline.number}"
          f"@127.0.0.1:{sip_port}, no login needed from the test trunk {TEST_TRUNK_ADDRESS}"
          ", or from a desk login)")
    for line in banner_hours(config, now, settings.config):
        print(line)
    for branch in config.branches:
        print(f"  key {branch.key} -> desk(s) {', '.join(branch.desks)}  {branch.name}"
              f" ({branch.agency})")
    print("  desk logins    : `hotline secrets desks` (user = extension, registrar "
          f"127.0.0.1:{sip_port})")
    print(f"  test call      : sipp -sn uac -s {config.hotline.number} 127.0.0.1:{sip_port}"
          f" -i {TEST_TRUNK_ADDRESS} -m 1  (or a softphone logged in as a desk: dial the"
          " number, press 1-9)")
    print(f"  console        : {console_url(settings)}  (first admin: `hotline users add"
          " admin --role admin`)\n", flush=True)


def _secrets(command: str, settings: Settings) -> int:
    import os

    path = Path(os.environ.get("HOTLINE_SECRETS_FILE", str(DEFAULT_SECRETS_FILE))).expanduser()
    if command == "init":
        created = init_secrets_file(path)
        print(f"{path}: {'created' if created else 'exists, kept'}")
        return 0
    config = load_config(settings.config)
    logins = [(d.extension, d.name) for d in config.desks]
    logins += [(s.extension, s.agency) for s in config.stations]
    if config.callback.trunk is not None and config.callback.contact is None:
        logins.append((config.callback.trunk, "call-back trunk (the provider registers)"))
    for extension, label in logins:
        print(f"{extension}\t{desk_password(_sip_secret(settings), extension)}\t{label}")
    return 0


def _sip_secret(settings: Settings) -> str:
    secret = settings.sip_secret.get_secret_value()
    if not secret:
        raise SystemExit("no SIP secret: set HOTLINE_SIP_SECRET or run `hotline secrets init`")
    return secret


def _configure_logging(level: str) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


if __name__ == "__main__":
    sys.exit(main())
