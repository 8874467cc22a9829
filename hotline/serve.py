"""The one wiring place: build the parts from settings and run the Stasis app."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import httpx
import structlog

from calllog.announcements import AnnouncementStore
from calllog.callback_queue import CallbackQueueStore
from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.followup import CallbackActions
from calllog.presence import PresenceStore
from calllog.spool import SpooledCallLog
from calllog.store import CallLogStore
from hotline.clock import SystemClock
from hotline.health import HealthServer, HealthSources
from hotline.overload import LoadGuard
from hotline.pbxapply import PbxApplier
from hotline.reload import ConfigHolder
from hotline.retention import ReviewRecordings
from hotline.settings import Settings, recordings_dir, unknown_environment
from ivr.app import EVENTS_USED, HotlineApp
from ivr.ari.client import AriClient
from ivr.ari.errors import AriError
from ivr.ari.events import EventStream
from ivr.ari.models import Event
from ivr.live import DeskPresence
from ivr.override import OverrideSource
from ivr.presence import DeskBoard
from ivr.prompts import PromptLibrary
from ivr.recovery import CallTrail, recover
from routing.config import HotlineConfig
from routing.deadlines import case_deadline
from routing.trail import FALLBACK_CONTEXT

log = structlog.get_logger(__name__)

DRAIN_SECONDS = 30.0
RECOVERY_RETRY_SECONDS = 5.0
RECOVERY_FLUSH_SECONDS = 3.0
"""Per recovery round: how long to wait for the journal to reach the database (a
batch is applied every DB_BATCH_LINGER_SECONDS); short, as each round also looks
again at the bridged calls waiting to be adopted."""
SCHEMA_UPGRADE_SECONDS = 30.0
WATCHDOG_SECONDS = 30.0
PRESENCE_POLL_SECONDS = 2.0
"""How often the desks' presence is re-read from the database (the console writes it
there): a console change reaches calls within this long."""
CALLBACK_POLL_SECONDS = 2.0
"""How soon an operator's "Gọi lại" in the console reaches the service (a request row)."""
# The call log off the call's path: journal lines are written (one write + fsync) every
# 100 ms, and reach the database in one transaction a second (fewer syscalls and thread
# hand-offs per call; a process kill loses at most 100 ms, which the CEL import covers).
JOURNAL_LINGER_SECONDS = 0.1
DB_BATCH_LINGER_SECONDS = 1.0
# Asterisk serves at most 100 HTTP sessions (http.conf sessionlimit) and answers
# "session count exceeded" past that: stay well under it, keep the connections
# alive for reuse, and let a burst queue in the pool instead.
ARI_POOL = httpx.Limits(max_connections=40, max_keepalive_connections=40,
                        keepalive_expiry=60)


async def serve(settings: Settings, config: HotlineConfig) -> None:
    clock = SystemClock()
    report_call_trail(settings.cel_db, os.environ)
    try:
        await asyncio.wait_for(upgrade_async(settings.database_url), SCHEMA_UPGRADE_SECONDS)
    except Exception:
        # Calls are taken anyway: the spool journals them and upgrades once it can.
        log.warning("database unreachable at start; the call log is journaled until it is",
                    exc_info=True)
    engine = make_engine(settings.database_url)
    calllog = SpooledCallLog(
        CallLogStore(make_sessionmaker(engine), case_deadline=case_deadline(config)),
        settings.spool_dir,
        ensure_schema=lambda: upgrade_async(settings.database_url),
        wait_for_disk=False, flush_linger=JOURNAL_LINGER_SECONDS,
        batch_linger=DB_BATCH_LINGER_SECONDS, now=clock.now,
    )
    announcements = AnnouncementStore(make_sessionmaker(engine))
    reviews = ReviewRecordings(recordings_dir(settings), calllog, clock,
                               lambda: holder().recording.retention_days)
    password = settings.ari_password.get_secret_value()
    background: list[asyncio.Task[None]] = []
    try:
        async with httpx.AsyncClient(
            base_url=settings.ari_url, auth=(settings.ari_user, password), timeout=10.0,
            limits=ARI_POOL,
        ) as http:
            ari = AriClient(http, settings.app)
            applier = PbxApplier(
                ari=ari, etc_dir=settings.asterisk_etc_dir,
                prompts_host_dir=settings.prompts_host_dir, prompts_pbx_dir=settings.prompts_dir,
                sip_secret=settings.sip_secret.get_secret_value(),
                prompt_overrides=settings.recorded_prompts,
            )
            holder = ConfigHolder(
                settings.config, config,
                apply=applier, clock=clock,
                record=calllog.record_reload,
            )
            trail: CallTrail | None = None
            rest_streams: list[EventStream] = []

            def ari_latency() -> float:
                """The slowest websocket's smoothed REST answer time (s)."""
                return max((s.rest_latency for s in rest_streams), default=0.0)

            guard = LoadGuard(active_calls=lambda: app.active_calls,
                              max_active_calls=settings.max_active_calls,
                              max_loop_lag=settings.max_loop_lag_ms / 1000,
                              ari_latency=ari_latency,
                              max_ari_latency=settings.max_ari_latency_ms / 1000,
                              monotonic=clock.monotonic)
            desks = DeskBoard(PresenceStore(make_sessionmaker(engine)), clock)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(desks.refresh(), PRESENCE_POLL_SECONDS)
            app = HotlineApp(
                ari=ari, config=holder, prompts=PromptLibrary(settings.prompts_dir),
                desks=desks,
                calllog=calllog, fallback_context=FALLBACK_CONTEXT,
                on_left_open=lambda call_id: trail.watch(call_id) if trail else None,
                admit=guard, clock=clock,
                override=OverrideSource(announcements.latest, clock),
                callbacks=(CallbackQueueStore(make_sessionmaker(engine)),
                           CallbackActions(make_sessionmaker(engine))),
            )
            trail = CallTrail(
                ari=ari, calllog=calllog, config=holder, cel_db=settings.cel_db,
                mark_file=settings.spool_dir / "cel.mark", is_active=app.is_active,
                clock=clock,
            )

            async def recover_left_behind() -> None:
                assert trail is not None
                # Callers Asterisk holds are served at once; what needs the log waits
                # until what a previous process journaled is in the database.
                await _retrying("recovery", lambda: recover(
                    ari=ari, calllog=calllog, app_name=settings.app, hooks=app, trail=trail,
                    fallback_context=FALLBACK_CONTEXT, clock=clock,
                    log_ready=log_replayed,
                ))

            async def log_replayed() -> bool:
                """Whether what the previous process journaled is in the database. Under
                steady load the journal never runs empty: then the database answering
                will do (the journal is applied oldest first)."""
                return await calllog.flushed(RECOVERY_FLUSH_SECONDS) or calllog.db_ok

            first_connect = True

            async def connected() -> None:
                nonlocal first_connect
                log.info("hotline ready", app=settings.app, ari=settings.ari_url,
                         number=config.hotline.number)
                try:
                    await ari.filter_events(EVENTS_USED)
                except AriError as exc:  # Asterisk < 13.26: every event, still works
                    log.warning("could not filter ARI events", error=str(exc))
                if first_connect:
                    # Asterisk runs what this YAML says, whatever it ran before we started
                    # (every module reloaded, even if the files on disk already match).
                    first_connect = False
                    try:
                        await applier.reconcile(holder())
                    except Exception:
                        log.exception("could not apply the config to Asterisk at start")
                    if app.callbacks is not None:
                        background.append(asyncio.create_task(
                            _retrying("call backs", app.callbacks.resume), name="callbacks"))
                        background.append(asyncio.create_task(
                            _every(CALLBACK_POLL_SECONDS, app.callbacks.poll_requests),
                            name="callback-requests"))
                await app.reconcile()
                background.append(asyncio.create_task(recover_left_behind(), name="recovery"))

            stream = EventStream(
                url=settings.events_url, app=settings.app, user=settings.ari_user,
                password=password, on_event=app.on_event, on_connect=connected,
                monotonic=clock.monotonic,
            )
            # More sockets for REST only: apps of their own, no channels, no events.
            rest_streams += [stream] + [
                EventStream(url=settings.events_url, app=f"{settings.app}-rest-{n}",
                            user=settings.ari_user, password=password, on_event=_no_events,
                            monotonic=clock.monotonic)
                for n in range(1, settings.ari_rest_sockets)
            ] if settings.ari_rest_over_websocket else []
            ari.use_websocket(*rest_streams)
            health = None
            if settings.health_port:
                health = await HealthServer(HealthSources(
                    ari_connected=lambda: stream.connected,
                    active_calls=lambda: app.active_calls,
                    calls_by_outcome=lambda: dict(app.calls_by_outcome),
                    reloads=lambda: dict(holder.counts),
                    spool=lambda: calllog.stats,
                    calls_shed=lambda: guard.counts["fallback"],
                    calls_refused=lambda: guard.counts["refuse"],
                    loop_lag=lambda: guard.loop_lag,
                    ari_latency=ari_latency,
                    call_trail=lambda: call_trail_problem(settings.cel_db),
                    review_recordings=lambda: (reviews.use.files, reviews.use.bytes,
                                               reviews.purged),
                ), live=app.live.json_after).serve("127.0.0.1", settings.health_port)
            await calllog.start()
            background += [
                asyncio.create_task(holder.watch(), name="config-watch"),
                asyncio.create_task(applier.keep_retrying(), name="pbx-reload-retry"),
                asyncio.create_task(trail.run(), name="call-trail"),
                asyncio.create_task(_every(WATCHDOG_SECONDS, app.reconcile), name="watchdog"),
                asyncio.create_task(guard.run(), name="load-guard"),
                asyncio.create_task(reviews.run(), name="review-recordings"),
                asyncio.create_task(desks.watch(PRESENCE_POLL_SECONDS), name="desk-states"),
                asyncio.create_task(DeskPresence(ari, app.live).run(), name="desk-presence"),
            ]
            background += [asyncio.create_task(s.run(), name=f"ari-rest-{n}")
                           for n, s in enumerate(rest_streams[1:], 1)]
            reader = asyncio.create_task(stream.run(), name="ari-events")
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, holder.reload_soon)
            await _until_signal_or_done(reader)
            if not reader.done():
                log.info("stopping: waiting for calls in progress", calls=app.active_calls)
                await app.drain(DRAIN_SECONDS)
                reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await calllog.close()  # drains the journal for a few seconds, then stops
            for task in background:
                task.cancel()
            desks.close()  # its wrap-up timers
            await asyncio.gather(*background, return_exceptions=True)
            if health is not None:
                health.close()
            if not reader.cancelled() and reader.exception() is not None:
                raise RuntimeError("ARI event reader failed") from reader.exception()
    finally:
        await calllog.close()
        await engine.dispose()


def call_trail_problem(cel_db: Path | None) -> str | None:
    """Why the service has no call trail (Asterisk's CEL file), None when it has one."""
    if cel_db is None:
        return "HOTLINE_CEL_DB is not set"
    if not cel_db.exists():
        return f"{cel_db} does not exist"
    if not cel_db.is_file():
        return f"{cel_db} is not a file"
    if not os.access(cel_db, os.R_OK):
        return f"{cel_db} is not readable"
    return None


def report_call_trail(cel_db: Path | None, environ: Mapping[str, str]) -> None:
    """Say loudly at start when calls handed to the fallback dialplan cannot be followed."""
    for name in unknown_environment(environ):
        log.warning("unknown HOTLINE_ setting ignored (misspelled?)", name=name)
    problem = call_trail_problem(cel_db)
    if problem is not None:
        log.error("no call trail: calls shed or handed to the fallback dialplan are logged "
                  "without how they ended (closed as failed, call back owed), and calls the "
                  "fallback takes while the service is down are not logged at all",
                  reason=problem, setting="HOTLINE_CEL_DB")


def _no_events(event: Event) -> None:
    """A REST-only socket's app has no channels: nothing to hand over."""


async def _every(seconds: float, step: Callable[[], Awaitable[None]]) -> None:
    """Watchdog: a hangup event lost without the websocket dropping would leave a call
    task waiting for ever; `reconcile` wakes calls whose channels are gone."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await step()
        except Exception:
            log.warning("watchdog step failed", exc_info=True)


async def _retrying(what: str, step: Callable[[], Awaitable[None]]) -> None:
    """Run `step` until it succeeds (e.g. the database is down at start)."""
    while True:
        try:
            await step()
            return
        except Exception:
            log.warning(f"{what} failed; retrying", exc_info=True)
            await asyncio.sleep(RECOVERY_RETRY_SECONDS)


async def _until_signal_or_done(task: asyncio.Task[None]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()

