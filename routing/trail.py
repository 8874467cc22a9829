"""The names a call leaves behind in Asterisk, spelled once.

The generated dialplan (`dialplan.generate`) writes them (contexts, `CELGenUserEvent`
names, the name of a voice message) and the service reads them back (`ivr.cel`
imports Asterisk's CEL trail, `ivr.recovery` recognises its own channels and bridges
after a restart). A name spelled differently on each side silently unlogs calls, so
both sides import it from here. Pure constants: no I/O.
"""

from __future__ import annotations

from typing import Final

# --- dialplan contexts ---------------------------------------------------------------

PUBLIC_CONTEXT: Final = "hotline-public"
DESK_CONTEXT: Final = "hotline-desks"
STATION_CONTEXT: Final = "hotline-stations"
FALLBACK_CONTEXT: Final = "hotline-fallback"
"""Where the static fallback IVR starts (`STASISSTATUS=FAILED`, or a call handed over)."""
BRANCH_CONTEXT: Final = "hotline-fallback-branch"
HOURS_CONTEXT: Final = "hotline-fallback-hours"
HOLIDAY_CONTEXT: Final = "hotline-fallback-holidays"
WORKDAY_CONTEXT: Final = "hotline-fallback-workdays"
CALLBACK_TRUNK_CONTEXT: Final = "hotline-callback-trunk"
"""The call-back trunk's own context: whatever comes in from it is hung up."""

# --- CEL user events the fallback dialplan raises (`CELGenUserEvent(name[,extra])`) ----

FALLBACK_EVENT: Final = "hotline_fallback"
"""First step of the fallback IVR: the call is one the importer must log."""
BRANCH_EVENT: Final = "hotline_branch"
"""extra: the branch key the caller chose."""
MESSAGE_EVENT: Final = "hotline_message"
"""extra: the voice message's name (`RECORDING_PREFIX` ...)."""
CLOSED_EVENT: Final = "hotline_closed"
"""extra: "closed" or "holiday"."""
UNREACHABLE_EVENT: Final = "hotline_unreachable"
NO_SELECTION_EVENT: Final = "hotline_no_selection"

USER_EVENTS: Final = frozenset({
    FALLBACK_EVENT, BRANCH_EVENT, MESSAGE_EVENT, CLOSED_EVENT, UNREACHABLE_EVENT,
    NO_SELECTION_EVENT,
})
USER_EVENT_PREFIX: Final = "hotline_"
"""Every name above starts so (the importer picks the call's user events by it)."""

# --- Stasis args the dialplan gives --------------------------------------------------

PRESENCE_ARG: Final = "presence"
"""A desk's presence code: `Stasis(hotline,presence,login|pause[,reason digit])`."""

# --- ids and names the service gives Asterisk's objects ---------------------------------

DESK_LEG_ID: Final = "desk"
"""A desk leg's channel id is `desk-<hex>`."""
DESK_LEG_PREFIX: Final = f"{DESK_LEG_ID}-"
BRIDGE_ID: Final = "bridge"
"""A call's bridge id is `bridge-<hex>`."""
BRIDGE_PREFIX: Final = f"{BRIDGE_ID}-"
BRIDGE_NAME_PREFIX: Final = "hotline-"
"""A call's bridge is named `hotline-<caller channel id>`."""
CALLBACK_PREFIX: Final = "callback-"
"""A call back's desk and citizen legs and its bridge: `callback-desk-<hex>`,
`callback-citizen-<hex>`, `callback-bridge-<hex>` (left alone by recovery: talking
legs of a call back talk on; nothing else of a caller's waits in them)."""
QUEUE_VARIABLE: Final = "HOTLINE_QUEUE"
"""Set on a caller's channel while it waits in a queue: `<branch key>,<joined at, ISO>`
(empty once it left), so a restarted service finds its queued callers in Asterisk
even before the call log can be read."""
RECORDING_PREFIX: Final = "vm-"
"""Voice messages are named `vm-<unique id, dots as dashes>`."""
