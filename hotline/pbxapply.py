"""Apply a reloaded YAML to Asterisk: generated endpoints and dialplan, prompts, reload.

Only the parts the YAML drives are rewritten (`pjsip_desks.conf`,
`extensions.conf`, the synthesised prompts); then `res_pjsip` and `pbx_config`
are reloaded over ARI. Neither reload touches a call in progress: a bridged call
keeps its channels, a caller in the fallback dialplan keeps its place.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import structlog

from dialplan.generate import write_asterisk_config
from hotline.prompts import build_prompts
from ivr.ari.client import AriClient
from routing.config import HotlineConfig

log = structlog.get_logger(__name__)

MODULE_OF = {"pjsip_desks.conf": "res_pjsip.so", "extensions.conf": "pbx_config.so"}
"""Which module reads each generated file: only those whose file changed are reloaded."""


@dataclass(frozen=True)
class PbxApplier:
    ari: AriClient
    etc_dir: Path | None
    """Asterisk's configuration directory as this host sees it (None: not ours to write)."""
    prompts_host_dir: Path | None
    prompts_pbx_dir: str
    sip_secret: str
    prompt_overrides: Path | None = None

    async def __call__(self, config: HotlineConfig) -> None:
        if self.prompts_host_dir is not None:
            await asyncio.to_thread(
                build_prompts, config, self.prompts_host_dir, self.prompt_overrides
            )
        if self.etc_dir is None:
            log.info("no Asterisk config directory set: endpoints and dialplan not rewritten")
            return
        changed = await asyncio.to_thread(
            write_asterisk_config, config, self.sip_secret, self.etc_dir, self.prompts_pbx_dir
        )
        for path in changed:
            await self.ari.reload_module(MODULE_OF[path.name])
        log.info("Asterisk config applied", etc_dir=str(self.etc_dir),
                 reloaded=[MODULE_OF[p.name] for p in changed], desks=len(config.desks),
                 stations=len(config.stations))
