"""Service settings: environment variables, then a secrets file outside the repo.

Every setting is `HOTLINE_<NAME>` in the environment. Secrets (ARI/AMI
passwords, the SIP secret desk passwords are derived from, the console's session
secret, a PostgreSQL URL, the Zalo app's and OA's keys) may instead live in
`HOTLINE_SECRETS_FILE` (default `~/.config/hotline/secrets.env`, `NAME=value` lines,
mode 0600), which `hotline secrets init` creates with random values. The environment
wins.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

DEFAULT_SECRETS_FILE = Path("~/.config/hotline/secrets.env")
GENERATED_SECRETS = ("ARI_PASSWORD", "AMI_PASSWORD", "SIP_SECRET", "CONSOLE_SECRET")


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    config: Path = Path("config/hotline.yaml")
    database_url: str = "sqlite+aiosqlite:///var/hotline.db"
    ari_url: str = "http://127.0.0.1:8088/ari"
    ari_user: str = "hotline"
    ari_password: SecretStr = SecretStr("")
    ami_user: str = "hotline"
    ami_password: SecretStr = SecretStr("")
    sip_secret: SecretStr = SecretStr("")
    app: str = "hotline"
    # REST requests over the event websocket (Asterisk >= 22.4); false: HTTP only.
    ari_rest_over_websocket: bool = True
    # Websockets REST requests are spread over, the event socket included: Asterisk
    # serves each socket's requests one at a time (ARI REST over WebSocket).
    ari_rest_sockets: int = Field(default=4, ge=1, le=16)
    # Where Asterisk reads our prompt files (a path on the PBX host).
    prompts_dir: str = "/var/lib/hotline/sounds"
    # Admin-recorded prompts that replace the synthesised ones.
    prompt_overrides: Path = Path("config/prompts")
    log_level: str = "info"
    # The call log's write-ahead journal: local disk, survives a database outage.
    spool_dir: Path = Path("var/spool")
    # Asterisk's CEL file (cel_sqlite3_custom): how calls the service did not see ended.
    cel_db: Path | None = None
    # Where this host writes the generated Asterisk config and prompts on a reload
    # (None: Asterisk is managed elsewhere; only new calls see the new YAML).
    asterisk_etc_dir: Path | None = None
    prompts_host_dir: Path | None = None
    # Overload: past these, new calls go to the fallback dialplan IVR (hotline/overload.py).
    max_active_calls: int = Field(default=1000, ge=1)
    max_loop_lag_ms: int = Field(default=250, ge=1)
    max_ari_latency_ms: int = Field(default=50, ge=1)
    # Liveness/readiness/metrics on 127.0.0.1 (0: off).
    health_port: int = Field(default=9180, ge=0, le=65535)
    # The embedded PBX (`hotline serve --embedded`).
    asterisk_root: Path = Path("~/.cache/hotline/asterisk-sid").expanduser()
    asterisk_conf: Path = Path("asterisk-conf")
    # Its files: <asterisk_root>/var/lib/hotline/<pbx_instance> (a second one, e.g. a
    # test's, beside `make run`'s takes another name and other ports).
    pbx_instance: str = Field(default="run", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    sip_port: int = Field(default=5060, ge=1, le=65535)
    http_port: int = Field(default=8088, ge=1, le=65535)
    ami_port: int = Field(default=5038, ge=1, le=65535)
    rtp_start: int = 10000
    rtp_end: int = 10999
    # The web console (`hotline console`): loopback by default, a TLS reverse proxy
    # in front for the LAN (then secure cookies: sent over HTTPS only).
    console_host: str = "127.0.0.1"
    console_port: int = Field(default=8080, ge=1, le=65535)
    console_secret: SecretStr = SecretStr("")
    console_secure_cookies: bool = False
    # The recording spool the console plays voice messages from (None: the embedded
    # PBX's, <asterisk_root>/var/lib/hotline/<pbx_instance>/spool/recording).
    console_recordings_dir: Path | None = None
    # The service's loopback HTTP server the wallboard follows (`GET /live`); empty:
    # http://127.0.0.1:<health_port> of these same settings.
    console_service_url: str = ""
    # The Zalo Official Account channel (off while zalo_app_id is empty). The keys are
    # secrets: the secrets file or the environment, never the YAML; the token pair lives
    # in the database (`hotline zalo tokens`). Base URLs: zalo/contract.py cites them.
    zalo_app_id: str = ""
    zalo_app_secret: SecretStr = SecretStr("")
    zalo_oa_secret_key: SecretStr = SecretStr("")
    zalo_openapi_url: str = "https://openapi.zalo.me"
    zalo_oauth_url: str = "https://oauth.zaloapp.com"
    zalo_business_url: str = "https://business.openapi.zalo.me"
    # How far a webhook event's timestamp may be from now before it is refused as a replay.
    zalo_webhook_max_age_seconds: int = Field(default=300, ge=10, le=3600)

    @property
    def recorded_prompts(self) -> Path | None:
        """The admin's recorded prompts directory, when there is one."""
        return self.prompt_overrides if self.prompt_overrides.is_dir() else None

    @property
    def service_url(self) -> str:
        """Where the console reads the service's live state."""
        return self.console_service_url or f"http://127.0.0.1:{self.health_port}"

    @property
    def zalo_enabled(self) -> bool:
        return bool(self.zalo_app_id)

    @property
    def events_url(self) -> str:
        return "ws" + self.ari_url.removeprefix("http")


def recordings_dir(settings: Settings) -> Path:
    """Where voice messages are read: the setting, or where the embedded PBX
    (`hotline serve --embedded`) has Asterisk write them."""
    if settings.console_recordings_dir is not None:
        return settings.console_recordings_dir
    return settings.asterisk_root / f"var/lib/hotline/{settings.pbx_instance}/spool/recording"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    secrets_file = Path(environ.get("HOTLINE_SECRETS_FILE", str(DEFAULT_SECRETS_FILE)))
    values.update(read_secrets_file(secrets_file.expanduser()))
    for key, value in environ.items():
        if key.startswith("HOTLINE_") and key != "HOTLINE_SECRETS_FILE":
            values[key.removeprefix("HOTLINE_").lower()] = value
    known = {k: v for k, v in values.items() if k in Settings.model_fields}
    return Settings.model_validate(known)


def unknown_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """`HOTLINE_*` variables that are no setting (misspelled?): `load_settings` ignores
    them, so the setting meant keeps its default."""
    environ = os.environ if environ is None else environ
    return sorted(
        key for key in environ if key.startswith("HOTLINE_") and key != "HOTLINE_SECRETS_FILE"
        and key.removeprefix("HOTLINE_").lower() not in Settings.model_fields
    )


def read_secrets_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().removeprefix("HOTLINE_").lower()] = value.strip()
    return values


def init_secrets_file(path: Path) -> bool:
    """Create the secrets file with random values; False if it already exists (then the
    generated secrets it lacks, e.g. one a newer version added, are appended to it)."""
    path = path.expanduser()
    if path.exists():
        have = read_secrets_file(path)
        lacking = [n for n in GENERATED_SECRETS if n.lower() not in have]
        if lacking:
            ends_line = path.read_bytes().endswith(b"\n") or path.stat().st_size == 0
            with path.open("a", encoding="utf-8") as fh:
                fh.write("" if ends_line else "\n")
                fh.write("".join(f"{n}={secrets.token_urlsafe(24)}\n" for n in lacking))
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = [f"{name}={secrets.token_urlsafe(24)}" for name in GENERATED_SECRETS]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# hotline secrets: generated by `hotline secrets init`; keep out of git\n")
        fh.write("\n".join(lines) + "\n")
    return True
