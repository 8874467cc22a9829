"""Applying a reloaded YAML to Asterisk (`hotline.pbxapply.PbxApplier`): the generated
files are rewritten first, then the two modules are reloaded over ARI."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from hotline.pbxapply import PbxApplier
from ivr.ari.client import AriClient
from ivr.ari.errors import AriHttpError
from routing.config import HotlineConfig, load_config

CONFIG = load_config(Path(__file__).resolve().parents[2] / "config" / "hotline.yaml")


class ModuleReloads:
    """`AriClient.reload_module`, noting which generated files existed at each reload."""

    def __init__(self, etc_dir: Path | None, error: Exception | None = None) -> None:
        self.etc_dir = etc_dir
        self.error = error
        self.reloaded: list[tuple[str, list[str]]] = []

    async def reload_module(self, module: str) -> None:
        present = sorted(p.name for p in self.etc_dir.iterdir()) if self.etc_dir else []
        self.reloaded.append((module, present))
        if self.error is not None:
            raise self.error


def test_fake_has_the_signature_of_the_real_client() -> None:
    assert inspect.signature(ModuleReloads.reload_module) == inspect.signature(
        AriClient.reload_module)


def applier(ari: ModuleReloads, etc_dir: Path | None) -> PbxApplier:
    return PbxApplier(
        ari=ari,  # type: ignore[arg-type]  # a typed stand-in, checked above
        etc_dir=etc_dir, prompts_host_dir=None, prompts_pbx_dir="/var/lib/hotline/prompts",
        sip_secret="s3cret",
    )


def reordered(config: HotlineConfig) -> HotlineConfig:
    branches = [
        b.model_copy(update={"desks": ["1402", "1401"]}) if b.key == 4 else b
        for b in config.branches
    ]
    return config.model_copy(update={"branches": branches})


async def test_files_are_rewritten_before_asterisk_reloads_them(tmp_path: Path) -> None:
    ari = ModuleReloads(tmp_path)

    await applier(ari, tmp_path)(reordered(CONFIG))

    generated = ["extensions.conf", "pjsip_desks.conf"]
    assert ari.reloaded == [("res_pjsip.so", generated), ("pbx_config.so", generated)]
    dialplan = (tmp_path / "extensions.conf").read_text(encoding="utf-8")
    assert dialplan.index("PJSIP/1402") < dialplan.index("PJSIP/1401")
    assert "[1401]" in (tmp_path / "pjsip_desks.conf").read_text(encoding="utf-8")


async def test_nothing_is_written_or_reloaded_without_an_asterisk_config_directory() -> None:
    ari = ModuleReloads(None)

    await applier(ari, None)(CONFIG)

    assert ari.reloaded == []


async def test_a_failed_module_reload_is_raised_to_the_reload(tmp_path: Path) -> None:
    ari = ModuleReloads(tmp_path, AriHttpError("PUT", "/asterisk/modules/res_pjsip.so", 409,
                                               '{"message": "Module could not be reloaded"}'))

    with pytest.raises(AriHttpError):
        await applier(ari, tmp_path)(CONFIG)
    assert [module for module, _ in ari.reloaded] == ["res_pjsip.so"]
