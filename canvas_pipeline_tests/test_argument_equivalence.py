"""Equivalence-aware argument scoring: a correct paraphrase of the reference call passes and a
wrong value still fails. Window ends (inclusive 23:59:59 for an exclusive midnight), free
text on the call's topic, vague horizons widened from the user's own words, and the exact
kinds (ids, integers) left exact."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from canvas_pipeline.data.phase4 import accepted as accepted_module
from canvas_pipeline.data.phase4.accepted import explicit_horizons, vague_horizon_days, widen_accepted
from canvas_pipeline.data.student_view import LOCAL_TZ
from canvas_pipeline.evaluation.arguments import match_arguments, text_on_topic, value_kind, window_end_equal
from canvas_pipeline.tools.registry import load_registry

MONDAY = datetime(2026, 9, 14, 9, 30, tzinfo=LOCAL_TZ)
FRIDAY = datetime(2026, 9, 18, 16, 0, tzinfo=LOCAL_TZ)
SUNDAY = datetime(2026, 9, 20, 20, 0, tzinfo=LOCAL_TZ)


def _ok(tool: str, produced: dict[str, Any], accepted: dict[str, list[Any]]) -> bool:
    return match_arguments(tool, produced, accepted).matched


# ------------------------------------------------------------------ window ends

# "What's on my calendar from Mon Sep 14 through Wed Sep 16?": the reference ends at the next midnight.
WINDOW = {"start_iso": ["2026-09-14T00:00:00-04:00"], "end_iso": ["2026-09-17T00:00:00-04:00"]}


@pytest.mark.parametrize(
    "end",
    [
        "2026-09-17T00:00:00-04:00",  # the reference itself
        "2026-09-17T04:00:00Z",  # the same instant in UTC
        "2026-09-16T23:59:59-04:00",  # inclusive end, last second
        "2026-09-16T23:59-04:00",  # inclusive end, last minute
        "2026-09-16T23:59:00-04:00",
        "2026-09-16T23:59:59.999-04:00",
        "2026-09-16T23:59:59.999999-04:00",
        "2026-09-17T03:59:59Z",  # the last second of the 16th, spelled in UTC
        "2026-09-16T23:59:59",  # no zone: local wall-clock time
    ],
)
def test_a_window_end_at_the_last_second_of_the_day_before_midnight_is_accepted(end: str) -> None:
    produced = {"start_iso": "2026-09-14T00:00:00-04:00", "end_iso": end}
    assert _ok("calendar.list_events", produced, WINDOW)


@pytest.mark.parametrize(
    "end",
    [
        "2026-09-16T22:00:00-04:00",  # the evening before, not its end
        "2026-09-16T23:58:00-04:00",
        "2026-09-16T23:59:30-04:00",  # neither the last minute nor the last second
        "2026-09-16T00:00:00-04:00",  # a whole day short
        "2026-09-18T00:00:00-04:00",  # the midnight a day later
        "2026-09-17T23:59:59-04:00",  # the end of the day after
        "2026-09-16T23:59:59-05:00",  # the last second in another offset is 00:59:59 local
        "2026-09-16T23:59:59Z",
        "Wednesday night",
    ],
)
def test_a_window_end_that_is_not_the_same_end_is_rejected(end: str) -> None:
    produced = {"start_iso": "2026-09-14T00:00:00-04:00", "end_iso": end}
    verdict = match_arguments("calendar.list_events", produced, WINDOW)
    assert not verdict.matched and "end_iso" in verdict.reason


def test_a_window_start_keeps_the_same_instant_rule() -> None:
    end = "2026-09-17T00:00:00-04:00"
    assert _ok("calendar.list_events", {"start_iso": "2026-09-14T04:00:00Z", "end_iso": end}, WINDOW)
    assert not _ok("calendar.list_events", {"start_iso": "2026-09-13T23:59:59-04:00", "end_iso": end}, WINDOW)


def test_only_a_midnight_end_has_an_inclusive_spelling() -> None:
    accepted = {
        "title": ["Study: Soils"],
        "start_iso": ["2026-09-14T11:30:00-04:00"],
        "end_iso": ["2026-09-14T12:30:00-04:00"],
    }
    produced = {"title": "Study: Soils", "start_iso": "2026-09-14T11:30:00-04:00"}
    assert _ok("calendar.create_event", {**produced, "end_iso": "2026-09-14T16:30:00Z"}, accepted)
    assert not _ok("calendar.create_event", {**produced, "end_iso": "2026-09-14T12:29:59-04:00"}, accepted)


def test_an_exam_end_is_a_window_end_but_the_semester_end_names_a_day() -> None:
    exam = {"exam_start_iso": ["2026-10-02T21:00:00-04:00"], "exam_end_iso": ["2026-10-03T00:00:00-04:00"]}
    produced = {"exam_start_iso": "2026-10-02T21:00:00-04:00", "exam_end_iso": "2026-10-02T23:59:59-04:00"}
    assert _ok("study.exam_bracket", produced, exam)
    # "the semester ends Dec 18" is the 18th at midnight; the evening of the 17th is another day
    semester = {"semester_end_iso": ["2026-12-18T00:00:00-05:00"], "deadlines": [[]]}
    assert not _ok(
        "study.semester_schedule", {"semester_end_iso": "2026-12-17T23:59:59-05:00", "deadlines": []}, semester
    )
    assert _ok("study.semester_schedule", {"semester_end_iso": "2026-12-18T05:00:00Z", "deadlines": []}, semester)


def test_every_registry_key_that_ends_a_window_uses_the_window_end_rule() -> None:
    routed = {
        key: value_kind(key, schema)
        for spec in load_registry()
        for key, schema in spec.properties.items()
        if key.endswith("_iso") and "end" in key
    }
    assert routed == {"end_iso": "window_end", "exam_end_iso": "window_end", "semester_end_iso": "iso"}
    assert value_kind("start_iso", {"type": "string"}) == "iso"


@given(st.times())
def test_a_time_on_the_day_before_a_midnight_end_is_accepted_only_in_its_last_minute_or_second(moment: time) -> None:
    produced = datetime.combine(datetime(2026, 9, 16).date(), moment, tzinfo=LOCAL_TZ).isoformat()
    last_second = moment.second == 59
    last_minute = moment.second == 0 and moment.microsecond == 0
    inclusive = moment.hour == 23 and moment.minute == 59 and (last_second or last_minute)
    assert window_end_equal(produced, "2026-09-17T00:00:00-04:00") == inclusive


# ------------------------------------------------------------------ free text

DELETE = {"event_id": ["evt_1"], "rationale": ["The student changed their mind.", "Soils review"]}


@pytest.mark.parametrize(
    "rationale",
    [
        "Student asked to cancel the Soils review",
        "the student changed their mind",  # the canned text, paraphrased
        "No longer needed: soils reviews are done",  # plural of a topic word
        "  Changed plans.  ",
    ],
)
def test_a_rationale_on_the_topic_is_accepted(rationale: str) -> None:
    assert _ok("calendar.delete_event", {"event_id": "evt_1", "rationale": rationale}, DELETE)


@pytest.mark.parametrize(
    "rationale",
    [
        "banana bread recipe",
        "The student wants banana bread",  # shares only request filler with the canned text
        "Conflicts with lab.",
        "",
        "   ",
        "it was the one they had",  # stop words only
        "Soils review " * 25,  # over 300 characters
        42,
    ],
)
def test_a_rationale_off_topic_empty_or_overlong_is_rejected(rationale: Any) -> None:
    verdict = match_arguments("calendar.delete_event", {"event_id": "evt_1", "rationale": rationale}, DELETE)
    assert not verdict.matched and "rationale" in verdict.reason


def test_an_empty_free_text_counts_as_leaving_it_out() -> None:
    may_omit = {**DELETE, "rationale": [*DELETE["rationale"], ""]}
    for blank in ("", "  "):
        assert _ok("calendar.delete_event", {"event_id": "evt_1", "rationale": blank}, may_omit)
    assert _ok("calendar.delete_event", {"event_id": "evt_1"}, may_omit)
    assert not _ok("calendar.delete_event", {"event_id": "evt_1", "rationale": "banana bread"}, may_omit)


def test_titles_and_descriptions_accept_a_paraphrase_on_the_topic() -> None:
    accepted = {
        "title": ["Study: Soils", "Soils exam"],
        "start_iso": ["2026-09-14T11:30:00-04:00"],
        "end_iso": ["2026-09-14T12:30:00-04:00"],
        "description": ["Recommended 90-minute block for exam_prep.", ""],
    }
    base = {"start_iso": "2026-09-14T11:30:00-04:00", "end_iso": "2026-09-14T12:30:00-04:00"}
    assert _ok("calendar.create_event", {**base, "title": "Exams prep: soils"}, accepted)
    assert _ok(
        "calendar.create_event", {**base, "title": "Soils", "description": "90 minute recommended block"}, accepted
    )
    assert not _ok("calendar.create_event", {**base, "title": "Gym"}, accepted)
    assert not _ok("calendar.create_event", {**base, "title": "Soils", "description": "banana bread"}, accepted)
    assert not _ok("calendar.create_event", {**base, "title": ""}, accepted)  # a title may not be left out


def test_plurals_meet_their_singular() -> None:
    assert text_on_topic("Two review sessions", "Study session")
    assert text_on_topic("Exams", "exam prep")
    assert text_on_topic("problem sets for classes", "class problem set")
    assert not text_on_topic("sessions", "Lab report")


@given(st.lists(st.sampled_from(sorted(ENGLISH_STOP_WORDS)), min_size=1, max_size=12))
def test_a_text_of_stop_words_only_is_never_on_topic(stop_words: list[str]) -> None:
    assert not text_on_topic(" ".join(stop_words), "Soils review session")


def test_other_natural_language_strings_keep_the_jaccard_rule() -> None:
    accepted = {
        "query": ["Which should I do first?"],
        "item_a": ["[ASSIGNMENT] Soil texture lab @SOIL210 OPEN 20pts"],
        "item_b": ["[QUIZ] Quiz 3 @SOIL210 OPEN 10pts"],
    }
    produced = {"query": "which should I do first", "item_a": accepted["item_a"][0], "item_b": accepted["item_b"][0]}
    assert _ok("reranker.priority_hint", produced, accepted)
    # one shared content word is not enough outside the free-text arguments
    assert not _ok("reranker.priority_hint", {**produced, "query": "first"}, accepted)
    assert not _ok("reranker.priority_hint", {**produced, "item_b": "[QUIZ] Soil quiz"}, accepted)


def test_a_deadline_title_inside_a_plan_is_a_label_not_free_text() -> None:
    deadline = {"title": "Draft report", "due_iso": "2026-11-02T23:59:00-05:00", "estimated_hours": 8}
    accepted = {"semester_end_iso": ["2026-12-18T00:00:00-05:00"], "deadlines": [[deadline]]}
    produced = {"semester_end_iso": "2026-12-18T00:00:00-05:00"}
    assert _ok("study.semester_schedule", {**produced, "deadlines": [dict(deadline)]}, accepted)
    assert _ok("study.semester_schedule", {**produced, "deadlines": [{**deadline, "title": "draft report!"}]}, accepted)
    assert not _ok(
        "study.semester_schedule", {**produced, "deadlines": [{**deadline, "title": "Final report"}]}, accepted
    )
    assert not _ok("study.semester_schedule", {**produced, "deadlines": [{**deadline, "estimated_hours": 9}]}, accepted)


# ------------------------------------------------------------------ exact kinds stay exact


def test_ids_enums_and_booleans_stay_exact_after_widening() -> None:
    widened = widen_accepted(
        "canvas.get_assignments",
        {"course_id": [4264], "horizon_days": [5]},
        "Whats due for SOIL 210 in the next few days?",
        FRIDAY,
        ["SOIL 210"],
    )
    assert _ok("canvas.get_assignments", {"course_id": 4264, "horizon_days": 6}, widened)
    assert not _ok("canvas.get_assignments", {"course_id": 4265, "horizon_days": 5}, widened)
    assert not _ok("canvas.get_assignments", {"course_id": "4264", "horizon_days": 5}, widened)
    assert not _ok("canvas.get_assignments", {"course_id": 4264, "horizon_days": 5, "include_submitted": True}, widened)
    rationale = widen_accepted("calendar.delete_event", DELETE, "Cancel my Soils review", FRIDAY, ["Soils review"])
    assert not _ok("calendar.delete_event", {"event_id": "evt_2", "rationale": "Soils review"}, rationale)
    assert not _ok("study.recommend_block_size", {"task_type": "exam prep"}, {"task_type": ["exam_prep"]})


# ------------------------------------------------------------------ horizons


def _horizon_ok(request: str, reference: int, produced: int, now: datetime = FRIDAY) -> bool:
    accepted = widen_accepted(
        "calendar.find_free_blocks", {"min_minutes": [60], "horizon_days": [reference]}, request, now, []
    )
    return _ok("calendar.find_free_blocks", {"min_minutes": 60, "horizon_days": produced}, accepted)


FEW_DAYS = "Put a 1-hour reading session on my calendar in the next few days."


def test_a_few_days_accepts_three_to_seven() -> None:
    assert vague_horizon_days(FEW_DAYS, 4, FRIDAY) == [3, 4, 5, 6, 7]
    for produced in (3, 4, 5, 6, 7):
        assert _horizon_ok(FEW_DAYS, 4, produced)
    for produced in (1, 2, 8, 9, 14):
        assert not _horizon_ok(FEW_DAYS, 4, produced)


@given(st.integers(-1000, 1000).filter(lambda n: not 3 <= n <= 7))
def test_a_few_days_rejects_every_integer_outside_its_range(produced: int) -> None:
    assert not _horizon_ok(FEW_DAYS, 5, produced)


def test_this_week_counts_the_days_left_through_sunday() -> None:
    request = "What's due this week?"
    assert vague_horizon_days(request, 7, FRIDAY) == [3, 4, 5, 6, 7]  # Fri, Sat, Sun at the least
    assert _horizon_ok(request, 7, 3) and _horizon_ok(request, 7, 7)
    assert not _horizon_ok(request, 7, 2) and not _horizon_ok(request, 7, 8)
    assert vague_horizon_days(request, 7, SUNDAY) == [1, 2, 3, 4, 5, 6, 7]
    assert vague_horizon_days(request, 7, MONDAY) == [7]
    # the student's local date decides: Friday 23:30 in New York is already Saturday in UTC
    assert vague_horizon_days(request, 7, datetime(2026, 9, 19, 3, 30, tzinfo=UTC)) == [3, 4, 5, 6, 7]
    assert vague_horizon_days(request, 7, datetime(2026, 9, 19, 3, 30)) == [2, 3, 4, 5, 6, 7]  # naive: local


@pytest.mark.parametrize(
    "request_text",
    ["WHATS DUE THIS WEEK", "whats due this wk", "Anything left for the rest of the week?", "this week's deadlines?"],
)
def test_phrases_match_in_any_case_and_without_apostrophes(request_text: str) -> None:
    assert vague_horizon_days(request_text, 7, FRIDAY) == [3, 4, 5, 6, 7]


@pytest.mark.parametrize(
    ("request_text", "reference", "expected"),
    [
        ("Find me a free hour in the next couple of days", 2, [2, 3]),
        ("any time in the next couple days", 3, [2, 3]),
        ("Book 45 minutes for flashcards sometime soon.", 4, list(range(3, 15))),
        ("What assignments are coming up?", 14, list(range(3, 15))),
        ("Plan the week ahead for me", 7, [7, 8]),
        ("What's on the coming week?", 8, [7, 8]),
        ("What's due next week?", 7, [7, 8, 9, 10]),  # on a Friday: through the Sunday after next
        ("Anything due in the next fortnight?", 14, [14]),
        ("Whats due over the couple of weeks ahead", 14, [14]),
        ("Find a slot in the coming days", 5, [3, 4, 5, 6, 7]),
    ],
)
def test_each_vague_phrase_accepts_its_documented_range(request_text: str, reference: int, expected: list[int]) -> None:
    assert vague_horizon_days(request_text, reference, FRIDAY) == expected


def test_next_week_on_a_monday_reaches_the_end_of_next_week() -> None:
    assert vague_horizon_days("What's due next week?", 7, MONDAY) == list(range(7, 15))


@pytest.mark.parametrize(
    ("request_text", "reference"),
    [
        ("What's due in the next 5 days?", 5),
        ("Anything due within ten days?", 10),
        ("Find a 14-day window", 14),
        ("What's due in the next two weeks?", 14),
        ("Can you book me 1 hour of Soils study time this week? Anything in the next 5 days works.", 5),
    ],
)
def test_an_explicit_count_is_exact_and_overrides_a_vague_phrase(request_text: str, reference: int) -> None:
    assert vague_horizon_days(request_text, reference, FRIDAY) == [reference]
    assert _horizon_ok(request_text, reference, reference)
    assert not _horizon_ok(request_text, reference, reference + 1)
    assert not _horizon_ok(request_text, reference, reference - 1)


def test_explicit_counts_are_read_in_digits_words_days_and_weeks() -> None:
    assert explicit_horizons("next 5 days") == [5]
    assert explicit_horizons("in ten days, or three weeks at most") == [10, 21]
    assert explicit_horizons("a 3-day window") == [3]
    assert explicit_horizons("90 minutes in the next few days") == []


def test_a_reference_outside_the_phrase_range_stands_alone() -> None:
    # the horizon came from a due date two days out, not from "this week"
    assert vague_horizon_days("Schedule 1 hour for whatever is due next this week.", 2, FRIDAY) == [2]
    # "7 days" governs the listing call of the same turn, not this one
    assert vague_horizon_days(
        "Look at what's due in the next 7 days and book 1 hour for the first one.", 2, FRIDAY
    ) == [2]
    assert vague_horizon_days("When am I free?", 9, FRIDAY) == [9]


@given(
    st.sampled_from(
        [FEW_DAYS, "What's due this week?", "next week", "soon", "couple days", "nothing vague", "in 6 days"]
    ),
    st.integers(1, 30),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(LOCAL_TZ)),
)
def test_the_reference_value_is_always_accepted(request_text: str, reference: int, now: datetime) -> None:
    widened = vague_horizon_days(request_text, reference, now)
    assert reference in widened and widened == sorted(set(widened)) and all(1 <= v <= 30 for v in widened)


# ------------------------------------------------------------------ widen_accepted


def test_widen_accepted_widens_horizons_keeps_may_omit_and_leaves_its_input_alone() -> None:
    accepted = {"horizon_days": [7, ""], "course_id": [None]}
    widened = widen_accepted("canvas.get_assignments", accepted, "What's due this week?", FRIDAY, ["ignored"])
    assert widened == {"horizon_days": [3, 4, 5, 6, 7, ""], "course_id": [None]}
    assert accepted == {"horizon_days": [7, ""], "course_id": [None]}
    assert _ok("canvas.get_assignments", {"course_id": None}, widened)  # the default may still be left out


def test_widen_accepted_appends_topics_to_free_text_once_each() -> None:
    accepted = {"event_id": ["evt_1"], "rationale": ["The student changed their mind."]}
    topics = ["Soils review", " Soils review ", "", "   ", "The student changed their mind.", "Cancel my Soils review."]
    widened = widen_accepted("calendar.delete_event", accepted, "Cancel my Soils review.", FRIDAY, topics)
    assert widened == {
        "event_id": ["evt_1"],
        "rationale": ["The student changed their mind.", "Soils review", "Cancel my Soils review."],
    }
    assert _ok(
        "calendar.delete_event", {"event_id": "evt_1", "rationale": "Student asked to cancel the Soils review"}, widened
    )
    assert not _ok("calendar.delete_event", {"event_id": "evt_1", "rationale": "banana bread"}, widened)


def test_widen_accepted_leaves_a_call_without_horizon_or_free_text_as_it_was() -> None:
    accepted = {"course_id": [4264]}
    assert (
        widen_accepted("canvas.get_course", accepted, "Tell me about SOIL 210 this week", FRIDAY, ["SOIL 210"])
        == accepted
    )


def test_the_accepted_rules_live_in_the_data_layer() -> None:
    tree = ast.parse(Path(accepted_module.__file__).read_text("utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert not {m for m in imported if m.startswith(("canvas_pipeline.evaluation", "canvas_pipeline.training"))}


def test_without_a_clock_only_the_day_independent_phrases_widen() -> None:
    assert vague_horizon_days(FEW_DAYS, 4, None) == [3, 4, 5, 6, 7]
    assert vague_horizon_days("What's due this week?", 7, None) == [7]
    assert vague_horizon_days("What's due next week?", 7, None) == [7]
    widened = widen_accepted("canvas.get_assignments", {"horizon_days": [7, ""]}, "this week", None, [])
    assert widened == {"horizon_days": [7, ""]}
