"""Provision the embedded PBX from the YAML: generated dialplan/endpoints and prompts."""

from __future__ import annotations

from dialplan.generate import write_asterisk_config
from hotline.pbx import EmbeddedAsterisk, PbxCredentials, PbxPorts
from hotline.prompts import build_prompts
from hotline.settings import Settings
from routing.config import HotlineConfig


def embedded_pbx(
    settings: Settings, name: str = "run", ports: PbxPorts | None = None
) -> EmbeddedAsterisk:
    return EmbeddedAsterisk(
        root=settings.asterisk_root,
        name=name,
        conf_src=settings.asterisk_conf,
        ports=ports
        or PbxPorts(
            sip=settings.sip_port,
            http=settings.http_port,
            ami=settings.ami_port,
            rtp_start=settings.rtp_start,
            rtp_end=settings.rtp_end,
        ),
        credentials=PbxCredentials(
            ari_user=settings.ari_user,
            ari_password=settings.ari_password.get_secret_value(),
            ami_user=settings.ami_user,
            ami_password=settings.ami_password.get_secret_value(),
        ),
    )


def provision(pbx: EmbeddedAsterisk, config: HotlineConfig, settings: Settings) -> None:
    """Render base config, generate desks + dialplan from the YAML, build the prompts."""
    pbx.prepare()
    write_asterisk_config(config, settings.sip_secret.get_secret_value(), pbx.etc_dir,
                          pbx.sounds_pbx_dir)
    build_prompts(config, pbx.sounds_host_dir, settings.recorded_prompts)


def settings_for(pbx: EmbeddedAsterisk, settings: Settings) -> Settings:
    """The service settings that point at this embedded PBX."""
    return settings.model_copy(
        update={
            "ari_url": pbx.ari_url,
            "prompts_dir": pbx.sounds_pbx_dir,
            "prompts_host_dir": pbx.sounds_host_dir,
            "asterisk_etc_dir": pbx.etc_dir,
            "cel_db": pbx.cel_db,
        }
    )


__all__ = ["embedded_pbx", "provision", "settings_for"]
