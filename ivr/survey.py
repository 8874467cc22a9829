"""After the desk hangs up: ask the caller to rate the call with one key.

Keys 1..scale rate, the skip key skips; any other key is said to be invalid and
the question asked once more; silence after the question ends the survey. The
result (and score) goes on the call row and in the timeline; a caller hanging up
mid-survey leaves the result `hung_up` and no score.
"""

from __future__ import annotations

from calllog.model import SurveyResult
from ivr.context import CallContext
from ivr.menu import play_and_collect
from ivr.prompts import Prompt


async def ask_rating(ctx: CallContext) -> None:
    ctx.step("survey")
    survey = ctx.config.survey
    record = ctx.record
    record.survey = SurveyResult.HUNG_UP  # until the caller answers or the survey ends
    await ctx.save()
    prompts = [Prompt.SURVEY_QUESTION]
    result, score = SurveyResult.NO_ANSWER, None
    for attempt in (1, 2):
        digit = await play_and_collect(ctx, prompts, timeout=survey.timeout_seconds)
        await ctx.note("survey_key", digit=digit, attempt=attempt)
        if digit is None:
            break
        if digit == survey.skip_key:
            result = SurveyResult.SKIPPED
            break
        if digit.isdigit() and 1 <= int(digit) <= survey.scale:
            result, score = SurveyResult.ANSWERED, int(digit)
            break
        prompts = [Prompt.SURVEY_INVALID, Prompt.SURVEY_QUESTION]
    record.survey, record.survey_score = result, score
    await ctx.save()
    await ctx.note("survey", result=str(result), score=score, scale=survey.scale)
    if result is SurveyResult.ANSWERED:
        await play_and_collect(ctx, [Prompt.SURVEY_THANKS], timeout=0.1)
