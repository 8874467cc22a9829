"""The one wiring place: build the parts from settings and run the Stasis app."""

from __future__ import annotations

import asyncio
import signal

import httpx
import structlog

from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.store import CallLogStore
from dialplan.generate import FALLBACK_CONTEXT
from hotline.health import HealthServer, HealthSources
from hotline.reload import ConfigHolder
from hotline.settings import Settings
from ivr.app import HotlineApp
from ivr.ari.client import AriClient
from ivr.ari.events import EventStream
from ivr.prompts import PromptLibrary
from routing.config import HotlineConfig

log = structlog.get_logger(__name__)

DRAIN_SECONDS = 30.0


async def serve(settings: Settings, config: HotlineConfig) -> None:
    await upgrade_async(settings.database_url)
    holder = ConfigHolder(settings.config, config)
    engine = make_engine(settings.database_url)
    password = settings.ari_password.get_secret_value()
    try:
        async with httpx.AsyncClient(
            base_url=settings.ari_url, auth=(settings.ari_user, password), timeout=10.0
        ) as http:
            app = HotlineApp(
                ari=AriClient(http, settings.app),
                config=holder,
                prompts=PromptLibrary(settings.prompts_dir),
                calllog=CallLogStore(make_sessionmaker(engine)),
                fallback_context=FALLBACK_CONTEXT,
            )

            async def connected() -> None:
                log.info("hotline ready", app=settings.app, ari=settings.ari_url,
                         number=config.hotline.number)
                await app.reconcile()

            stream = EventStream(
                url=settings.events_url, app=settings.app, user=settings.ari_user,
                password=password, on_event=app.on_event, on_connect=connected,
            )
            health = None
            if settings.health_port:
                health = await HealthServer(HealthSources(
                    ari_connected=lambda: stream.connected,
                    active_calls=lambda: app.active_calls,
                    calls_by_outcome=lambda: dict(app.calls_by_outcome),
                    reloads=lambda: dict(holder.counts),
                )).serve("127.0.0.1", settings.health_port)
            reader = asyncio.create_task(stream.run(), name="ari-events")
            watcher = asyncio.create_task(holder.watch(), name="config-watch")
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, holder.reload)
            await _until_signal_or_done(reader)
            watcher.cancel()
            if not reader.done():
                log.info("stopping: waiting for calls in progress", calls=app.active_calls)
                await app.drain(DRAIN_SECONDS)
                reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            if health is not None:
                health.close()
            if not reader.cancelled() and reader.exception() is not None:
                raise RuntimeError("ARI event reader failed") from reader.exception()
    finally:
        await engine.dispose()


async def _until_signal_or_done(task: asyncio.Task[None]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
