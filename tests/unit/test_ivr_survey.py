"""The post-call survey (`ivr.survey.ask_rating`): when the desk hangs up first the
caller, still on the line, rates the call with one key; driven through `handle_call`
with the `FakeAri` of test_ivr_call_flow."""

from __future__ import annotations

from typing import Any

import pytest

from calllog.model import Outcome, SurveyResult
from ivr.prompts import Prompt
from routing.config import HotlineConfig
from tests.unit.test_ivr_call_flow import (
    ADOPTED_DESK,
    CALLER_ID,
    CONFIG,
    SILENCE,
    Call,
    CallerAtMenu,
    adopt,
    connect_to_desk,
    finished,
    media,
    new_call,
)

QUESTION = media(Prompt.SURVEY_QUESTION)
AGAIN = media(Prompt.SURVEY_INVALID, Prompt.SURVEY_QUESTION)
THANKS = media(Prompt.SURVEY_THANKS)
QUICK = 0.05
"""A survey timeout short enough for a test of a caller who presses nothing."""


def with_survey(config: HotlineConfig = CONFIG, **changes: Any) -> HotlineConfig:
    return config.model_copy(update={"survey": config.survey.model_copy(update=changes)})


def with_branch(config: HotlineConfig, key: int, **changes: Any) -> HotlineConfig:
    branches = [b.model_copy(update=changes) if b.key == key else b for b in config.branches]
    return config.model_copy(update={"branches": branches})


async def desk_hangs_up_then(call: Call, *survey: CallerAtMenu) -> None:
    """Connect the caller to desk 1401 (branch 4); the desk hangs up; the caller answers
    the survey question(s) with `survey`; wait for the call to end."""
    call.ari.survey = list(survey)
    task = await connect_to_desk(call, "4")
    call.ari.desk_hangs_up(call.desk_channel_id("1401"), cause=16)
    await finished(task)


def survey_plays(call: Call) -> list[list[str]]:
    """What the caller heard after the bridge (the menu and ringback come before)."""
    return call.ari.played()[2:]


async def after_bridge(call: Call) -> list[str]:
    kinds = await call.kinds()
    return kinds[kinds.index("bridged") + 1:]


async def assert_connected_and_ended_by_the_desk(call: Call) -> None:
    record = await call.record()
    assert record.outcome is Outcome.CONNECTED
    assert (record.hangup_by, record.hangup_cause) == ("desk", 16)
    assert record.desk_answered == "1401"
    assert record.ended_at is not None
    (ended,) = await call.details("ended")
    assert ended == {"outcome": "connected", "hangup_by": "desk", "cause": 16}


# --- the caller answers -------------------------------------------------------------


async def test_caller_rating_4_is_stored_thanked_and_hung_up() -> None:
    call = new_call()
    await desk_hangs_up_then(call, "4")

    ari, desk = call.ari, call.desk_channel_id("1401")
    assert survey_plays(call) == [QUESTION, THANKS]
    question, thanks = ari.called("play")[2:]
    assert question.args["channel_id"] == thanks.args["channel_id"] == CALLER_ID
    # The key stops the question (barge-in); the caller is hung up after the thanks.
    assert ari.called("stop_playback")[-1].args["playback_id"] == question.args["playback_id"]
    assert ari.hung_up() == [desk, CALLER_ID]
    assert ari.index("destroy_bridge") < ari.index("play", media=QUESTION)
    assert ari.index("play", media=THANKS) < ari.index("hangup", channel_id=CALLER_ID)
    assert ari.bridges == {} and ari.called("continue_in_dialplan") == []

    record = await call.record()
    assert (record.survey, record.survey_score) == (SurveyResult.ANSWERED, 4)
    # Talk time ends when the desk hangs up, not after the survey.
    assert record.bridged_at and record.talk_ended_at and record.ended_at
    assert record.bridged_at < record.talk_ended_at < record.ended_at
    await assert_connected_and_ended_by_the_desk(call)

    assert await after_bridge(call) == [
        "prompt", "prompt_end", "survey_key", "survey", "prompt", "prompt_end", "ended",
    ]
    assert await call.details("survey_key") == [{"digit": "4", "attempt": 1}]
    assert await call.details("survey") == [{"result": "answered", "score": 4, "scale": 5}]
    prompts = await call.details("prompt")
    assert [p["prompts"] for p in prompts[-2:]] == ["survey_question", "survey_thanks"]
    assert [p["playback"] for p in prompts[-2:]] == [
        question.args["playback_id"], thanks.args["playback_id"],
    ]
    timeline = await call.timeline()
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)


@pytest.mark.parametrize("key", ["1", "5"], ids=["lowest", "highest"])
async def test_every_key_of_the_scale_is_a_rating(key: str) -> None:
    call = new_call()
    await desk_hangs_up_then(call, key)

    record = await call.record()
    assert (record.survey, record.survey_score) == (SurveyResult.ANSWERED, int(key))
    assert survey_plays(call) == [QUESTION, THANKS]


async def test_skip_key_skips_without_a_score_or_thanks() -> None:
    call = new_call()
    await desk_hangs_up_then(call, "0")

    assert survey_plays(call) == [QUESTION]
    assert call.ari.hung_up()[-1] == CALLER_ID
    record = await call.record()
    assert (record.survey, record.survey_score) == (SurveyResult.SKIPPED, None)
    await assert_connected_and_ended_by_the_desk(call)
    assert await call.details("survey_key") == [{"digit": "0", "attempt": 1}]
    assert await call.details("survey") == [{"result": "skipped", "score": None, "scale": 5}]


async def test_silence_after_the_question_is_no_answer_without_a_second_question() -> None:
    call = new_call(with_survey(timeout_seconds=QUICK))
    await desk_hangs_up_then(call, SILENCE)

    assert survey_plays(call) == [QUESTION]
    assert call.ari.hung_up()[-1] == CALLER_ID
    record = await call.record()
    assert (record.survey, record.survey_score) == (SurveyResult.NO_ANSWER, None)
    await assert_connected_and_ended_by_the_desk(call)
    assert await after_bridge(call) == ["prompt", "prompt_end", "survey_key", "survey", "ended"]
    assert await call.details("survey_key") == [{"digit": None, "attempt": 1}]
    assert await call.details("survey") == [{"result": "no_answer", "score": None, "scale": 5}]
    (question_end,) = (await call.details("prompt_end"))[-1:]
    assert question_end["reason"] == "finished"


async def test_invalid_key_says_so_and_asks_once_more() -> None:
    call = new_call()
    await desk_hangs_up_then(call, "7", "5")

    assert survey_plays(call) == [QUESTION, AGAIN, THANKS]
    record = await call.record()
    assert (record.survey, record.survey_score) == (SurveyResult.ANSWERED, 5)
    assert await call.details("survey_key") == [
        {"digit": "7", "attempt": 1},
        {"digit": "5", "attempt": 2},
    ]
    assert await call.details("survey") == [{"result": "answered", "score": 5, "scale": 5}]


async def test_invalid_then_skip_key_skips() -> None:
    call = new_call()
    await desk_hangs_up_then(call, "*", "0")

    assert survey_plays(call) == [QUESTION, AGAIN]
    assert (await call.record()).survey is SurveyResult.SKIPPED


async def test_two_invalid_keys_are_no_answer() -> None:
    call = new_call()
    await desk_hangs_up_then(call, "9", "*")

    assert survey_plays(call) == [QUESTION, AGAIN]  # no third question, no thanks
    assert call.ari.hung_up()[-1] == CALLER_ID
    record = await call.record()
    assert (record.survey, record.survey_score) == (SurveyResult.NO_ANSWER, None)
    await assert_connected_and_ended_by_the_desk(call)
    assert await call.details("survey_key") == [
        {"digit": "9", "attempt": 1},
        {"digit": "*", "attempt": 2},
    ]
    assert await call.details("survey") == [{"result": "no_answer", "score": None, "scale": 5}]


async def test_invalid_key_then_silence_is_no_answer() -> None:
    call = new_call(with_survey(timeout_seconds=QUICK))
    await desk_hangs_up_then(call, "6", SILENCE)

    assert survey_plays(call) == [QUESTION, AGAIN]
    assert (await call.record()).survey is SurveyResult.NO_ANSWER
    assert [d["digit"] for d in await call.details("survey_key")] == ["6", None]


async def test_keys_above_a_shorter_scale_are_invalid() -> None:
    call = new_call(with_survey(scale=3))
    await desk_hangs_up_then(call, "4", "3")

    assert survey_plays(call) == [QUESTION, AGAIN, THANKS]
    record = await call.record()
    assert (record.survey, record.survey_score) == (SurveyResult.ANSWERED, 3)
    assert await call.details("survey") == [{"result": "answered", "score": 3, "scale": 3}]


async def test_a_configured_skip_key_skips_and_0_is_then_invalid() -> None:
    call = new_call(with_survey(skip_key="#"))
    await desk_hangs_up_then(call, "0", "#")

    assert survey_plays(call) == [QUESTION, AGAIN]
    assert (await call.record()).survey is SurveyResult.SKIPPED


# --- the caller hangs up during the survey -------------------------------------------


async def test_caller_hanging_up_during_the_question_leaves_hung_up_and_no_score() -> None:
    call = new_call()
    task = await connect_to_desk(call, "4")  # no survey answers: the question plays on
    desk = call.desk_channel_id("1401")
    call.ari.desk_hangs_up(desk, cause=16)
    await call.ari.until("play", 3)  # menu, ringback, the question

    record = await call.record()
    assert record.survey is SurveyResult.HUNG_UP  # saved before the question is asked
    call.ari.caller_hangs_up(cause=16)
    await finished(task)

    assert call.ari.hung_up() == [desk]  # the caller went first: nothing to hang up
    record = await call.record()
    assert (record.survey, record.survey_score) == (SurveyResult.HUNG_UP, None)
    await assert_connected_and_ended_by_the_desk(call)
    assert await after_bridge(call) == ["prompt", "ended"]


async def test_caller_hanging_up_after_an_invalid_key_leaves_hung_up() -> None:
    call = new_call()
    task = await connect_to_desk(call, "4")
    call.ari.survey = ["8"]  # then the question plays again, unanswered
    call.ari.desk_hangs_up(call.desk_channel_id("1401"), cause=16)
    await call.ari.until("play", 4)
    call.ari.caller_hangs_up(cause=16)
    await finished(task)

    assert survey_plays(call) == [QUESTION, AGAIN]
    record = await call.record()
    assert (record.survey, record.survey_score) == (SurveyResult.HUNG_UP, None)
    await assert_connected_and_ended_by_the_desk(call)
    assert await call.details("survey_key") == [{"digit": "8", "attempt": 1}]
    assert await call.details("survey") == []


# --- no survey -----------------------------------------------------------------------


async def test_branch_without_survey_hangs_the_caller_up_at_once() -> None:
    call = new_call(with_branch(CONFIG, 4, survey=False))
    await desk_hangs_up_then(call)

    assert survey_plays(call) == []
    assert call.ari.hung_up() == [call.desk_channel_id("1401"), CALLER_ID]
    record = await call.record()
    assert (record.survey, record.survey_score) == (None, None)
    await assert_connected_and_ended_by_the_desk(call)
    assert await after_bridge(call) == ["ended"]


async def test_other_branches_keep_their_survey_when_one_turns_it_off() -> None:
    config = with_branch(CONFIG, 9, survey=False)
    assert [b.key for b in config.branches if not b.survey] == [9]
    call = new_call(config)
    await desk_hangs_up_then(call, "2")
    assert (await call.record()).survey_score == 2


async def test_caller_hanging_up_first_gets_no_survey() -> None:
    call = new_call()
    task = await connect_to_desk(call, "4")
    call.ari.caller_hangs_up(cause=16)
    await finished(task)

    assert survey_plays(call) == []
    assert call.ari.hung_up() == [call.desk_channel_id("1401")]
    record = await call.record()
    assert record.outcome is Outcome.CONNECTED and record.hangup_by == "caller"
    assert (record.survey, record.survey_score) == (None, None)
    assert await after_bridge(call) == ["ended"]


async def test_adopted_call_hangs_the_caller_up_without_a_survey_when_the_desk_does() -> None:
    call = new_call()
    call.ari.survey = ["4"]  # would answer, were it asked
    task = await adopt(call)
    call.ari.desk_hangs_up(ADOPTED_DESK, cause=16)
    await finished(task)

    assert call.ari.played() == []
    assert CALLER_ID in call.ari.hung_up()
    record = await call.record()
    assert record.outcome is Outcome.CONNECTED
    assert (record.hangup_by, record.hangup_cause) == ("desk", 16)
    assert (record.survey, record.survey_score) == (None, None)
    assert await call.kinds() == ["adopted", "ended"]
