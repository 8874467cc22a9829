"""Apply a reloaded YAML to Asterisk: generated endpoints and dialplan, prompts, reload.

Only the parts the YAML drives are rewritten (`pjsip_desks.conf`,
`extensions.conf`, the synthesised prompts); then `res_pjsip` and `pbx_config`
are reloaded over ARI. Neither reload touches a call in progress: a bridged call
keeps its channels, a caller in the fallback dialplan keeps its place.

A module whose file changed stays *unconfirmed* until Asterisk has accepted its
reload: a refused reload (or ARI down) is tried again at every later apply, even when
no file changes any more, and by `keep_retrying` in the background. Each module is
tried even when another one fails, so Asterisk gets as close to the YAML as it can.
At start (`reconcile`) every module is reloaded, whatever the files on disk say: the
previous process may have written them and died before Asterisk took them.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from dialplan.generate import write_asterisk_config
from hotline.prompts import build_prompts
from ivr.ari.client import AriClient
from routing.config import HotlineConfig

log = structlog.get_logger(__name__)

MODULE_OF = {"pjsip_desks.conf": "res_pjsip.so", "extensions.conf": "pbx_config.so"}
"""Which module reads each generated file: only those whose file changed are reloaded,
endpoints first (the new dialplan may dial a new desk)."""
RETRY_SECONDS = 30.0


@dataclass
class PbxApplier:
    ari: AriClient
    etc_dir: Path | None
    """Asterisk's configuration directory as this host sees it (None: not ours to write)."""
    prompts_host_dir: Path | None
    prompts_pbx_dir: str
    sip_secret: str
    prompt_overrides: Path | None = None
    unconfirmed: set[str] = field(default_factory=set, init=False)
    """Modules whose file changed and whose reload Asterisk has not yet accepted."""
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def __call__(self, config: HotlineConfig) -> None:
        await self._apply(config, everything=False)

    async def reconcile(self, config: HotlineConfig) -> None:
        """At start: write the files and reload every module, changed or not."""
        await self._apply(config, everything=True)

    async def retry(self) -> None:
        """Reload the modules not yet confirmed (nothing when there are none)."""
        async with self._lock:
            if self.unconfirmed:
                reloaded = await self._reload_unconfirmed()
                log.info("Asterisk reload retried", reloaded=reloaded)

    async def keep_retrying(self, seconds: float = RETRY_SECONDS) -> None:
        while True:
            await asyncio.sleep(seconds)
            with contextlib.suppress(Exception):  # logged per module, tried again later
                await self.retry()

    async def _apply(self, config: HotlineConfig, *, everything: bool) -> None:
        async with self._lock:
            if self.prompts_host_dir is not None:
                await asyncio.to_thread(
                    build_prompts, config, self.prompts_host_dir, self.prompt_overrides
                )
            if self.etc_dir is None:
                log.info("no Asterisk config directory set: endpoints and dialplan not "
                         "rewritten")
                return
            changed = await asyncio.to_thread(
                write_asterisk_config, config, self.sip_secret, self.etc_dir,
                self.prompts_pbx_dir,
            )
            self.unconfirmed |= {MODULE_OF[p.name] for p in changed}
            if everything:
                self.unconfirmed |= set(MODULE_OF.values())
            reloaded = await self._reload_unconfirmed()
        log.info("Asterisk config applied", etc_dir=str(self.etc_dir), reloaded=reloaded,
                 desks=len(config.desks), stations=len(config.stations))

    async def _reload_unconfirmed(self) -> list[str]:
        """Reload each unconfirmed module; raise the first failure after trying them all."""
        reloaded: list[str] = []
        failure: Exception | None = None
        for module in MODULE_OF.values():
            if module not in self.unconfirmed:
                continue
            try:
                await self.ari.reload_module(module)
            except Exception as exc:
                log.warning("Asterisk reload failed; will retry", module=module,
                            error=f"{type(exc).__name__}: {exc}")
                failure = failure or exc
                continue
            self.unconfirmed.discard(module)
            reloaded.append(module)
        if failure is not None:
            raise failure
        return reloaded
