"""Applying a reloaded YAML to Asterisk (`hotline.pbxapply.PbxApplier`): the generated
files are rewritten first, then the two modules are reloaded over ARI."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hotline.pbxapply import PbxApplier
from ivr.ari.client import AriClient
from ivr.ari.errors import AriHttpError
from routing.config import HotlineConfig, load_config

CONFIG = load_config(Path(__file__).resolve().parents[2] / "config" / "hotline.yaml")


class ModuleReloads:
    """`AriClient.reload_module`, noting which generated files existed at each reload."""

    def __init__(self, etc_dir: Path | None, error: Exception | None = None,
                 failures: int | None = None) -> None:
        """`error` is raised by every reload, or by the first `failures` ones."""
        self.etc_dir = etc_dir
        self.error = error
        self.failures = failures
        self.reloaded: list[tuple[str, list[str]]] = []
        self.accepted = asyncio.Event()

    async def reload_module(self, module: str) -> None:
        present = sorted(p.name for p in self.etc_dir.iterdir()) if self.etc_dir else []
        self.reloaded.append((module, present))
        if self.error is not None and (self.failures is None
                                       or len(self.reloaded) <= self.failures):
            raise self.error
        self.accepted.set()

    def modules(self) -> list[str]:
        return [module for module, _ in self.reloaded]


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


def refused() -> AriHttpError:
    return AriHttpError("PUT", "/asterisk/modules/res_pjsip.so", 409,
                        '{"message": "Module could not be reloaded"}')


async def test_a_failed_module_reload_is_raised_to_the_reload(tmp_path: Path) -> None:
    ari = ModuleReloads(tmp_path, refused())

    with pytest.raises(AriHttpError), capture_logs():
        await applier(ari, tmp_path)(CONFIG)
    # the dialplan is still reloaded: Asterisk gets as close to the YAML as it can
    assert ari.modules() == ["res_pjsip.so", "pbx_config.so"]


async def test_a_failed_reload_is_retried_at_the_next_apply_though_no_file_changed(
    tmp_path: Path,
) -> None:
    ari = ModuleReloads(tmp_path, refused(), failures=1)
    apply = applier(ari, tmp_path)
    with pytest.raises(AriHttpError), capture_logs():
        await apply(reordered(CONFIG))
    assert ari.modules() == ["res_pjsip.so", "pbx_config.so"]

    await apply(reordered(CONFIG))  # the same YAML: nothing to write

    assert ari.modules()[2:] == ["res_pjsip.so"]
    await apply(reordered(CONFIG))  # confirmed now: nothing more to reload
    assert len(ari.reloaded) == 3


async def test_a_failed_reload_is_retried_on_its_own(tmp_path: Path) -> None:
    ari = ModuleReloads(tmp_path, refused(), failures=3)
    apply = applier(ari, tmp_path)
    with pytest.raises(AriHttpError), capture_logs():
        await apply(reordered(CONFIG))
    assert ari.modules() == ["res_pjsip.so", "pbx_config.so"]  # both refused
    assert apply.unconfirmed == {"res_pjsip.so", "pbx_config.so"}

    with pytest.raises(AriHttpError), capture_logs():
        await apply.retry()  # res_pjsip refused once more, pbx_config taken
    assert ari.modules()[2:] == ["res_pjsip.so", "pbx_config.so"]
    assert apply.unconfirmed == {"res_pjsip.so"}

    await apply.retry()
    await apply.retry()
    assert ari.modules()[4:] == ["res_pjsip.so"]
    assert apply.unconfirmed == set()


async def test_the_periodic_retry_keeps_trying_until_asterisk_takes_the_reload(
    tmp_path: Path,
) -> None:
    ari = ModuleReloads(tmp_path, refused(), failures=4)
    apply = applier(ari, tmp_path)
    with pytest.raises(AriHttpError), capture_logs():
        await apply(reordered(CONFIG))

    with capture_logs() as logs:
        retrying = asyncio.create_task(apply.keep_retrying(0.001))
        await asyncio.wait_for(ari.accepted.wait(), 10)
        retrying.cancel()
        await asyncio.gather(retrying, return_exceptions=True)

    assert ari.modules()[:6] == ["res_pjsip.so", "pbx_config.so"] * 3
    assert apply.unconfirmed == set()
    assert any(e["event"] == "Asterisk reload failed; will retry" for e in logs)


async def test_at_start_both_modules_are_reloaded_though_the_files_already_match(
    tmp_path: Path,
) -> None:
    await applier(ModuleReloads(tmp_path), tmp_path)(CONFIG)  # the previous run wrote them
    ari = ModuleReloads(tmp_path)

    await applier(ari, tmp_path).reconcile(CONFIG)  # this run's first connect

    assert ari.modules() == ["res_pjsip.so", "pbx_config.so"]


async def test_without_an_asterisk_config_directory_the_start_reloads_nothing() -> None:
    ari = ModuleReloads(None)

    apply = applier(ari, None)
    await apply.reconcile(CONFIG)
    await apply.retry()

    assert ari.reloaded == []
