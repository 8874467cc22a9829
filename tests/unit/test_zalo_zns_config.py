"""The YAML's `zalo.zns` section: every notification off when absent, switched on with
its template id, and mistakes refused with file, line and field (`hotline config check`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing.config import ConfigError, parse_config
from zalo.notify import notices_on

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "hotline.yaml"


def with_zalo(section: str) -> str:
    return SHIPPED.read_text(encoding="utf-8") + "\n" + section


def test_every_notification_is_off_when_the_section_is_absent() -> None:
    config = parse_config(SHIPPED.read_text(encoding="utf-8"), SHIPPED)
    assert notices_on(config.zalo.zns) == {}


def test_a_notification_is_switched_on_by_its_template_id() -> None:
    config = parse_config(with_zalo(
        'zalo:\n  zns:\n    case_opened: {template_id: "300001"}\n'
        '    campaign_rating: {template_id: "300003", max_attempts: 3}\n'), SHIPPED)
    on = notices_on(config.zalo.zns)
    assert {k.value: (n.template_id, n.max_attempts) for k, n in on.items()} == {
        "case_opened": ("300001", 5), "campaign_rating": ("300003", 3)}


@pytest.mark.parametrize(("section", "where"), [
    ('zalo:\n  zns:\n    case_opened: {template_id: "abc"}\n', "zalo.zns.case_opened.template_id"),
    ('zalo:\n  zns:\n    case_opend: {template_id: "1"}\n', "zalo.zns.case_opend"),
    ('zalo:\n  zns:\n    call_rating: {template_id: "1", max_attempts: 0}\n',
     "zalo.zns.call_rating.max_attempts"),
    ('zalo:\n  app_secret: "s3cret"\n', "zalo.app_secret"),
])
def test_a_mistake_in_the_zalo_section_is_refused_with_its_line_and_field(
    section: str, where: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(with_zalo(section), SHIPPED)
    assert any(where in problem and "hotline.yaml:" in problem
               for problem in refused.value.problems), refused.value.problems
