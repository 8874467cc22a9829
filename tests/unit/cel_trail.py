"""Asterisk's CEL trail for unit tests: rows as `cel_sqlite3_custom` writes them.

`FALLBACK_CONNECTED` is a call recorded from Asterisk 22 (service down, the caller
pressed 2, desk 1201 answered, the desk hung up). `CelCall` builds other calls row by
row in the same shape, as the generated fallback dialplan (`render_fallback`) marks
its steps with `CELGenUserEvent`. `write_cel` puts rows into a real SQLite file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ivr.cel import CelRow, read_cel

CEL_TABLE = (
    "CREATE TABLE cel (AcctId INTEGER PRIMARY KEY, eventtype,eventtime,cidnum,cidname,"
    "context,exten,channame,appname,appdata,uniqueid,linkedid,peer,userdeftype,eventextra)"
)

CelTuple = tuple[int, str, str, str, str, str, str, str, str, str, str, str, str, str, str]
"""(AcctId, eventtype, eventtime, cidnum, cidname, context, exten, channame, appname,
appdata, uniqueid, linkedid, peer, userdeftype, eventextra)"""

# --- recorded from Asterisk 22: the fallback IVR connects a caller to desk 1201 --------

FALLBACK_LINKEDID = "1795473076.0"
TRAIL_NOW = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
"""A moment soon after the recorded trails: what the import takes for "now"."""
FALLBACK_CALLER = "0907410001"
_C = "PJSIP/anonymous-00000000"
_D = "PJSIP/1201-00000001"
_DID = "1795473082.1"
_L = FALLBACK_LINKEDID
_DESK_NAME = "Hiệp hội doanh nghiệp tỉnh"
_BRIDGE = (
    '{"bridge_id":"3f38c0de-5b1a-4a3e-9d0c-2f7d8f0e6a11","bridge_technology":"simple_bridge"}'
)
_DESK_HANGUP = '{"hangupcause":16,"hangupsource":"PJSIP/1201-00000001","dialstatus":""}'
_CALLER_HANGUP = '{"hangupcause":16,"hangupsource":"PJSIP/1201-00000001","dialstatus":"ANSWER"}'

FALLBACK_CONNECTED: list[CelTuple] = [
    (1, "CHAN_START", "1795473076.015518", FALLBACK_CALLER, "", "hotline-public", "19001080",
     _C, "", "", _L, _L, "", "", ""),
    (2, "ANSWER", "1795473076.016376", FALLBACK_CALLER, "", "hotline-fallback", "s",
     _C, "Answer", "", _L, _L, "", "", ""),
    (3, "hotline_fallback", "1795473076.019089", FALLBACK_CALLER, "", "hotline-fallback", "s",
     _C, "CELGenUserEvent", "hotline_fallback", _L, _L, "", "hotline_fallback", '{"extra":""}'),
    (4, "hotline_branch", "1795473077.211976", FALLBACK_CALLER, "", "hotline-fallback-branch",
     "2", _C, "CELGenUserEvent", "hotline_branch,2", _L, _L, "", "hotline_branch",
     '{"extra":"2"}'),
    (5, "CHAN_START", "1795473082.406797", "1201", _DESK_NAME, "hotline-desks", "s",
     _D, "", "", _DID, _L, "", "", ""),
    (6, "ANSWER", "1795473082.413873", "1201", _DESK_NAME, "hotline-desks", "s",
     _D, "AppDial", "(Outgoing Line)", _DID, _L, "", "", ""),
    (7, "BRIDGE_ENTER", "1795473082.414542", "1201", _DESK_NAME, "hotline-desks", "s",
     _D, "AppDial", "(Outgoing Line)", _DID, _L, "", "", _BRIDGE),
    (8, "BRIDGE_ENTER", "1795473082.414705", FALLBACK_CALLER, "", "hotline-fallback-branch",
     "2", _C, "Dial", "PJSIP/1201,20", _L, _L, _D, "", _BRIDGE),
    (9, "HANGUP", "1795473083.098881", "1201", _DESK_NAME, "hotline-desks", "s",
     _D, "AppDial", "(Outgoing Line)", _DID, _L, "", "", _DESK_HANGUP),
    (10, "CHAN_END", "1795473083.098995", "1201", _DESK_NAME, "hotline-desks", "s",
     _D, "AppDial", "(Outgoing Line)", _DID, _L, "", "", ""),
    (11, "HANGUP", "1795473083.099212", FALLBACK_CALLER, "", "hotline-fallback-branch", "2",
     _C, "", "", _L, _L, "", "", _CALLER_HANGUP),
    (12, "CHAN_END", "1795473083.099301", FALLBACK_CALLER, "", "hotline-fallback-branch", "2",
     _C, "", "", _L, _L, "", "", ""),
    (13, "LINKEDID_END", "1795473083.099355", FALLBACK_CALLER, "", "hotline-fallback-branch",
     "2", _C, "", "", _L, _L, "", "", ""),
]


def write_cel(path: Path, rows: Iterable[CelTuple]) -> None:
    """Append `rows` to the CEL file at `path` (created with its table if missing)."""
    db = sqlite3.connect(path)
    try:
        db.execute(CEL_TABLE.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"))
        db.executemany(f"INSERT INTO cel VALUES ({','.join('?' * 15)})", list(rows))
        db.commit()
    finally:
        db.close()


def cel_rows(tmp_path: Path, rows: Iterable[CelTuple]) -> list[CelRow]:
    """`rows` as `read_cel` returns them from a real file."""
    path = tmp_path / "rows.db"
    path.unlink(missing_ok=True)
    write_cel(path, rows)
    return read_cel(path, 0)


# --- other calls, built row by row -----------------------------------------------------


@dataclass(frozen=True)
class Leg:
    channame: str
    uniqueid: str
    cidnum: str
    cidname: str = ""
    context: str = "hotline-fallback"
    exten: str = "s"


@dataclass
class CelCall:
    """One call's trail. Rows get ids from `first_id` and times 0.5 s apart from
    `start` (a Unix time), in the order the builder methods are called."""

    linkedid: str
    caller_number: str = "0939123456"
    start: float = 1795473100.0
    first_id: int = 1
    rows: list[CelTuple] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.caller = Leg(f"PJSIP/anonymous-{self.linkedid.replace('.', '')[-8:]}",
                          self.linkedid, self.caller_number)

    @property
    def last_id(self) -> int:
        return self.rows[-1][0]

    def when(self, eventtype: str, leg: Leg | None = None) -> datetime:
        """The time of the first `eventtype` row of `leg` (the caller by default)."""
        uniqueid = (leg or self.caller).uniqueid
        at = next(r[2] for r in self.rows if r[1] == eventtype and r[10] == uniqueid)
        return datetime.fromtimestamp(float(at), UTC)

    def add(
        self, eventtype: str, leg: Leg, *, appname: str = "", appdata: str = "",
        peer: str = "", userdeftype: str = "", extra: str = "", context: str | None = None,
        exten: str | None = None,
    ) -> CelCall:
        row_id = self.first_id + len(self.rows)
        at = f"{self.start + 0.5 * len(self.rows):.6f}"
        self.rows.append((
            row_id, eventtype, at, leg.cidnum, leg.cidname, context or leg.context,
            exten or leg.exten, leg.channame, appname, appdata, leg.uniqueid, self.linkedid,
            peer, userdeftype, extra,
        ))
        return self

    def reaches_the_fallback(self) -> CelCall:
        """The caller dials the hotline, Stasis fails, the fallback answers."""
        self.add("CHAN_START", self.caller, context="hotline-public", exten="19001080")
        self.add("ANSWER", self.caller, appname="Answer")
        return self.user("hotline_fallback")

    def user(self, name: str, extra: str = "", *, context: str | None = None,
             exten: str | None = None) -> CelCall:
        """`CELGenUserEvent(name[,extra])` on the caller's channel."""
        return self.add(
            name, self.caller, appname="CELGenUserEvent",
            appdata=f"{name},{extra}" if extra else name, userdeftype=name,
            extra=json.dumps({"extra": extra}), context=context, exten=exten,
        )

    def branch(self, key: int) -> CelCall:
        return self.user("hotline_branch", str(key), context="hotline-fallback-branch",
                         exten=str(key))

    def desk(self, extension: str, number: int) -> Leg:
        """A desk leg `Dial()` creates (CHAN_START written)."""
        leg = Leg(f"PJSIP/{extension}-{number:08x}", f"{self.linkedid}{number}",
                  extension, context="hotline-desks")
        self.add("CHAN_START", leg)
        return leg

    def bridged(self, desk: Leg) -> CelCall:
        extra = '{"bridge_id":"b1","bridge_technology":"simple_bridge"}'
        self.add("ANSWER", desk, appname="AppDial", appdata="(Outgoing Line)")
        self.add("BRIDGE_ENTER", desk, appname="AppDial", appdata="(Outgoing Line)",
                 extra=extra)
        return self.add("BRIDGE_ENTER", self.caller, appname="Dial", peer=desk.channame,
                        extra=extra)

    def hangup(self, leg: Leg, *, source: str, cause: int = 16,
               dialstatus: str = "") -> CelCall:
        """HANGUP then CHAN_END of `leg`; `source` is Asterisk's hangupsource."""
        extra = json.dumps({"hangupcause": cause, "hangupsource": source,
                            "dialstatus": dialstatus})
        self.add("HANGUP", leg, extra=extra)
        return self.add("CHAN_END", leg)

    def ends(self) -> CelCall:
        return self.add("LINKEDID_END", self.caller)
