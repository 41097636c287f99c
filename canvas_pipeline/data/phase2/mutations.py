"""Named mutations of a decision point's correct continuation, one function each.

A rejected continuation is built in up to three stages, each stage's mutations belonging
to one axis:

- a *source* says which calls the model makes instead of the chosen ones: a redundant chain
  (axis 4), a call made before what it depends on (axis 5), a call where the answer was
  due (axis 8); without one, the chosen calls are used;
- an *edit* changes one of those calls: its tool (axis 1), its keys (axis 2), its values
  (axis 3), its tool family (axis 7);
- a *render* writes the calls as broken text instead of native calls (axis 6).

A single-axis pair uses one mutation; a mixed pair combines stages of different axes.
Every mutation raises NotApplicable where it has nothing to work on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from canvas_pipeline.data.phase1.dialogue import NotApplicable
from canvas_pipeline.data.phase2.points import DecisionPoint
from canvas_pipeline.tools.chat_format import message_calls
from canvas_pipeline.tools.codec import CALL_CLOSE, ToolCall, canonical_arguments, serialize_call
from canvas_pipeline.tools.registry import load_registry

HALLUCINATED = {
    "canvas.list_courses": "canvas.get_courses",
    "canvas.get_course": "canvas.get_course_info",
    "canvas.get_assignments": "canvas.list_assignments",
    "canvas.get_syllabus": "canvas.fetch_syllabus",
    "canvas.get_todo": "canvas.get_todo_list",
    "canvas.get_grades": "canvas.get_scores",
    "canvas.list_announcements": "canvas.get_announcements",
    "canvas.list_planner_items": "canvas.get_planner",
    "calendar.list_events": "calendar.get_events",
    "calendar.find_free_blocks": "calendar.find_free_time",
    "calendar.create_event": "calendar.add_event",
    "calendar.modify_event": "calendar.update_event",
    "calendar.delete_event": "calendar.remove_event",
    "study.spaced_schedule": "study.make_study_plan",
    "study.semester_schedule": "study.plan_semester",
    "study.recommend_block_size": "study.block_size",
    "study.exam_bracket": "study.exam_day_plan",
    "reranker.priority_hint": "reranker.rank_items",
}

MISSPELLED = {
    "horizon_days": "horizon_day",
    "course_id": "courseId",
    "course_ids": "courses",
    "start_iso": "start_time",
    "end_iso": "end_time",
    "exam_iso": "exam_date",
    "exam_start_iso": "exam_start",
    "exam_end_iso": "exam_end",
    "min_minutes": "minutes",
    "task_type": "type",
    "event_id": "id",
    "past_days": "days_back",
    "active_only": "only_active",
    "include_submitted": "submitted",
    "semester_end_iso": "end_date",
    "deadlines": "milestones",
    "n_sessions": "sessions",
    "item_a": "first_item",
    "item_b": "second_item",
    "query": "question",
    "title": "name",
    "rationale": "reason",
    "earliest_hour": "start_hour",
    "latest_hour": "end_hour",
    "exclude_weekends": "no_weekends",
    "review_minutes": "review_time",
}

INVENTED = {
    "canvas.get_assignments": ("days_ahead", 7),
    "calendar.list_events": ("days", 7),
    "calendar.find_free_blocks": ("duration_minutes", 60),
    "calendar.create_event": ("attendees", ["me"]),
    "canvas.get_grades": ("term", "current"),
}
GENERIC_INVENTED = (("limit", 10), ("user_id", 12345), ("timezone", "America/New_York"), ("verbose", True))

BAD_DATES = ("next Friday at 3pm", "2026-02-30T25:00:00", "tomorrow morning", "13/45/2026 9:00", "soon")


# A wrong tool of the same family, with the arguments it needs made from the request's.
def _no_args(call: ToolCall) -> dict[str, Any]:
    return {}


def _course_args(call: ToolCall) -> dict[str, Any]:
    return {"course_id": call.arguments["course_id"]} if "course_id" in call.arguments else {}


CONFUSABLE: dict[str, tuple[tuple[str, Callable[[ToolCall], dict[str, Any]]], ...]] = {
    "canvas.list_courses": (("canvas.get_grades", _no_args), ("canvas.get_todo", _no_args)),
    "canvas.get_course": (("canvas.get_syllabus", _course_args), ("canvas.get_grades", _course_args)),
    "canvas.get_assignments": (("canvas.get_todo", _no_args), ("canvas.list_planner_items", _no_args)),
    "canvas.get_syllabus": (("canvas.get_course", _course_args), ("canvas.get_assignments", _course_args)),
    "canvas.get_todo": (("canvas.get_assignments", _no_args), ("canvas.list_announcements", _no_args)),
    "canvas.get_grades": (("canvas.get_assignments", _course_args), ("canvas.list_courses", _no_args)),
    "canvas.list_announcements": (("canvas.list_planner_items", _no_args), ("canvas.get_todo", _no_args)),
    "canvas.list_planner_items": (("canvas.get_todo", _no_args), ("canvas.list_announcements", _no_args)),
    "calendar.list_events": (("calendar.find_free_blocks", _no_args),),
    "calendar.find_free_blocks": (("calendar.list_events", _no_args),),
    "calendar.create_event": (
        ("calendar.list_events", lambda c: {"start_iso": c.arguments["start_iso"], "end_iso": c.arguments["end_iso"]}),
    ),
    "calendar.modify_event": (
        (
            "calendar.delete_event",
            lambda c: {"event_id": c.arguments["event_id"], "rationale": "Requested by the student."},
        ),
    ),
    "calendar.delete_event": (
        ("calendar.modify_event", lambda c: {"event_id": c.arguments["event_id"], "title": "Cancelled"}),
    ),
    "study.spaced_schedule": (
        (
            "study.exam_bracket",
            lambda c: {"exam_start_iso": c.arguments["exam_iso"], "exam_end_iso": c.arguments["exam_iso"]},
        ),
    ),
    "study.exam_bracket": (("study.spaced_schedule", lambda c: {"exam_iso": c.arguments["exam_start_iso"]}),),
    "study.semester_schedule": (
        ("study.spaced_schedule", lambda c: {"exam_iso": c.arguments["deadlines"][0]["due_iso"]}),
    ),
    "study.recommend_block_size": (("study.spaced_schedule", lambda c: {"exam_iso": "2026-12-10T09:00:00-05:00"}),),
}

OTHER_FAMILY: dict[str, tuple[ToolCall, ...]] = {
    "calendar": (ToolCall("canvas.get_assignments", {"horizon_days": 7}), ToolCall("canvas.get_todo", {})),
    "canvas": (ToolCall("calendar.list_events", {}), ToolCall("calendar.find_free_blocks", {"min_minutes": 60})),
    "study": (ToolCall("canvas.get_todo", {}), ToolCall("calendar.list_events", {})),
    "reranker": (ToolCall("canvas.get_grades", {}), ToolCall("calendar.list_events", {})),
}

REDUNDANT_POOL = (
    ToolCall("canvas.list_courses", {"active_only": True}),
    ToolCall("canvas.get_todo", {}),
    ToolCall("canvas.list_planner_items", {}),
    ToolCall("calendar.list_events", {}),
    ToolCall("canvas.get_grades", {}),
    ToolCall("canvas.list_announcements", {"past_days": 7}),
    ToolCall("canvas.get_assignments", {"horizon_days": 14}),
)


def _family(name: str) -> str:
    return name.split(".", 1)[0]


def _copy(call: ToolCall, name: str | None = None, arguments: dict[str, Any] | None = None) -> ToolCall:
    return ToolCall(name or call.name, canonical_arguments(dict(call.arguments if arguments is None else arguments)))


# ------------------------------------------------------------------ sources (axes 4, 5, 8)


def _need_call_point(point: DecisionPoint) -> list[ToolCall]:
    if point.kind != "call":
        raise NotApplicable("not a call decision")
    return point.calls


def _single_call_request(point: DecisionPoint) -> ToolCall:
    calls = _need_call_point(point)
    if len(calls) != 1 or point.later_calls() or any(m.get("tool_calls") for m in point.prompt):
        raise NotApplicable("the request is not answered by one call")
    return calls[0]


def redundant_chain(point: DecisionPoint, rng: random.Random) -> list[ToolCall]:
    """Axis 4: the one call that answers, buried in 3-4 calls nobody asked for."""
    needed = _single_call_request(point)
    extra = [c for c in REDUNDANT_POOL if c.name != needed.name]
    chain = [needed, *rng.sample(extra, rng.choice((3, 4)))]
    rng.shuffle(chain)
    return chain


VARIANT_VALUES = {
    "horizon_days": (3, 5, 7, 10, 14, 21, 30, 45, 60, 90),
    "past_days": (1, 3, 5, 7, 10, 14, 30),
    "min_minutes": (30, 45, 60, 90, 120, 180),
    "minutes_per_session": (30, 45, 60, 90, 120),
    "weekly_hours_available": (4, 6, 8, 10, 12, 15),
}


def repeated_variants(point: DecisionPoint, rng: random.Random) -> list[ToolCall]:
    """Axis 4: the same question asked four times over with different (valid) knobs."""
    needed = _single_call_request(point)
    spec = load_registry()[needed.name]
    keys = [k for k in VARIANT_VALUES if k in spec.properties]
    if not keys:
        raise NotApplicable("nothing to vary")
    key = keys[0]
    current = needed.arguments.get(key)
    others = [v for v in VARIANT_VALUES[key] if v != current]
    values = ([current] if current is not None else []) + rng.sample(others, 4 - (current is not None))
    return [_copy(needed, arguments={**needed.arguments, key: v}) for v in sorted(values)]


def _later_call(point: DecisionPoint, chosen_tool: str, later_tools: tuple[str, ...]) -> ToolCall:
    calls = _need_call_point(point)
    if [c.name for c in calls] != [chosen_tool]:
        raise NotApplicable(f"chosen call is not {chosen_tool}")
    for call in point.later_calls():
        if call.name in later_tools:
            return call
    raise NotApplicable(f"no later {later_tools}")


def create_before_free_blocks(point: DecisionPoint, rng: random.Random) -> list[ToolCall]:
    """Axis 5: books the event before finding out the slot is free."""
    return [_later_call(point, "calendar.find_free_blocks", ("calendar.create_event",))]


def course_call_before_lookup(point: DecisionPoint, rng: random.Random) -> list[ToolCall]:
    """Axis 5: a course-specific call with an id nobody has looked up yet."""
    later = _later_call(
        point,
        "canvas.list_courses",
        (
            "canvas.get_course",
            "canvas.get_syllabus",
            "canvas.get_grades",
            "canvas.get_assignments",
            "canvas.list_announcements",
        ),
    )
    if "course_id" not in later.arguments and "course_ids" not in later.arguments:
        raise NotApplicable("later call is not course-specific")
    return [later]


def event_change_before_lookup(point: DecisionPoint, rng: random.Random) -> list[ToolCall]:
    """Axis 5: changes an event whose id has not been seen."""
    return [_later_call(point, "calendar.list_events", ("calendar.modify_event", "calendar.delete_event"))]


def plan_before_syllabus(point: DecisionPoint, rng: random.Random) -> list[ToolCall]:
    """Axis 5: plans for an exam date before reading it in the syllabus."""
    return [_later_call(point, "canvas.get_syllabus", ("study.spaced_schedule",))]


def _answer_point(point: DecisionPoint) -> list[ToolCall]:
    if point.kind != "answer":
        raise NotApplicable("not an answer decision")
    done = [c for m in point.prompt if m["role"] == "assistant" for c in message_calls(m)]
    if not done:
        raise NotApplicable("no call before the answer")
    return done


def repeat_last_call(point: DecisionPoint, rng: random.Random) -> list[ToolCall]:
    """Axis 8: asks again for what it already has instead of answering."""
    return [_answer_point(point)[-1]]


def unneeded_extra_call(point: DecisionPoint, rng: random.Random) -> list[ToolCall]:
    """Axis 8: keeps calling a tool the answer does not need."""
    done = {c.name for c in _answer_point(point)}
    options = [c for c in REDUNDANT_POOL if c.name not in done]
    return [options[rng.randrange(len(options))]]


# ------------------------------------------------------------------ edits (axes 1, 2, 3, 7)


def hallucinated_tool(call: ToolCall, point: DecisionPoint, rng: random.Random) -> ToolCall:
    """Axis 1: a plausible tool that is not in the registry (`canvas.list_assignments`)."""
    return _copy(call, name=HALLUCINATED[call.name])


def wrong_real_tool(call: ToolCall, point: DecisionPoint, rng: random.Random) -> ToolCall:
    """Axis 1: a real tool of the same family that does not answer the request."""
    options = CONFUSABLE.get(call.name)
    if not options:
        raise NotApplicable(f"no confusable tool for {call.name}")
    name, make_args = options[rng.randrange(len(options))]
    try:
        return _copy(call, name=name, arguments=make_args(call))
    except (KeyError, TypeError, IndexError):
        raise NotApplicable(f"{call.name} arguments do not carry over to {name}") from None


def drop_required_key(call: ToolCall, point: DecisionPoint, rng: random.Random) -> ToolCall:
    """Axis 2: a required argument left out."""
    required = (
        [k for k in load_registry()[call.name].required if k in call.arguments] if call.name in load_registry() else []
    )
    if not required:
        raise NotApplicable("no required argument")
    key = required[rng.randrange(len(required))]
    return _copy(call, arguments={k: v for k, v in call.arguments.items() if k != key})


def invent_key(call: ToolCall, point: DecisionPoint, rng: random.Random) -> ToolCall:
    """Axis 2: an argument the tool does not have (the old `days_ahead`)."""
    key, value = INVENTED.get(call.name) or GENERIC_INVENTED[rng.randrange(len(GENERIC_INVENTED))]
    return _copy(call, arguments={**call.arguments, key: value})


def misspell_key(call: ToolCall, point: DecisionPoint, rng: random.Random) -> ToolCall:
    """Axis 2: a real argument under a wrong name."""
    keys = [k for k in call.arguments if k in MISSPELLED]
    if not keys:
        raise NotApplicable("no argument to misspell")
    key = keys[rng.randrange(len(keys))]
    return _copy(call, arguments={(MISSPELLED[k] if k == key else k): v for k, v in call.arguments.items()})


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return "all" if value > 1000 else str(value)
    if isinstance(value, str):
        return 1700000000
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    raise NotApplicable("no value to retype")


def wrong_value_type(call: ToolCall, point: DecisionPoint, rng: random.Random) -> ToolCall:
    """Axis 3: a value of the wrong type (`course_id: "all"`, a number as text)."""
    keys = [k for k, v in call.arguments.items() if isinstance(v, (bool, int, str, list)) and not isinstance(v, dict)]
    if not keys:
        raise NotApplicable("no argument")
    if "course_id" in keys:
        key = "course_id"
    else:
        key = keys[rng.randrange(len(keys))]
    return _copy(call, arguments={**call.arguments, key: _wrong_type(call.arguments[key])})


OUT_OF_RANGE = {
    "earliest_hour": 25,
    "latest_hour": 27,
    "preferred_hour": 26,
    "n_sessions": 12,
    "min_minutes": -30,
    "minutes_per_session": 0,
    "review_minutes": -15,
    "horizon_days": -7,
    "past_days": 0,
}


def out_of_range_value(call: ToolCall, point: DecisionPoint, rng: random.Random) -> ToolCall:
    """Axis 3: a number off the clock or below zero (hour 25, -7 days)."""
    spec = load_registry()[call.name] if call.name in load_registry() else None
    keys = [k for k in OUT_OF_RANGE if spec is not None and k in spec.properties]
    if not keys:
        raise NotApplicable("no numeric argument")
    present = [k for k in keys if k in call.arguments]
    key = (present or keys)[rng.randrange(len(present or keys))]
    return _copy(call, arguments={**call.arguments, key: OUT_OF_RANGE[key]})


def malformed_date(call: ToolCall, point: DecisionPoint, rng: random.Random) -> ToolCall:
    """Axis 3: an ISO 8601 argument that is not a date-time ("next Friday at 3pm")."""
    keys = [k for k, v in call.arguments.items() if k.endswith("_iso") and isinstance(v, str)]
    if not keys:
        raise NotApplicable("no ISO argument")
    key = keys[rng.randrange(len(keys))]
    return _copy(call, arguments={**call.arguments, key: BAD_DATES[rng.randrange(len(BAD_DATES))]})


def _other_family(call: ToolCall, rng: random.Random) -> ToolCall:
    options = OTHER_FAMILY[_family(call.name)]
    return options[rng.randrange(len(options))]


def calendar_question_canvas_tool(call: ToolCall, point: DecisionPoint, rng: random.Random) -> ToolCall:
    """Axis 7: a calendar request answered with a Canvas tool."""
    if _family(call.name) != "calendar":
        raise NotApplicable("not a calendar call")
    return _other_family(call, rng)


def canvas_question_calendar_tool(call: ToolCall, point: DecisionPoint, rng: random.Random) -> ToolCall:
    """Axis 7: a Canvas request answered with a calendar tool."""
    if _family(call.name) != "canvas":
        raise NotApplicable("not a canvas call")
    return _other_family(call, rng)


def study_question_other_tool(call: ToolCall, point: DecisionPoint, rng: random.Random) -> ToolCall:
    """Axis 7: a study-planning or priority request answered from another family."""
    if _family(call.name) not in ("study", "reranker"):
        raise NotApplicable("not a study or reranker call")
    return _other_family(call, rng)


# ------------------------------------------------------------------ renders (axis 6)


def _spoken(call: ToolCall) -> str:
    if not call.arguments:
        return f"I will call {call.name} to check that for you."
    args = ", ".join(f"{k} set to {v}" for k, v in call.arguments.items())
    return f"I will call {call.name} with {args} to find out."


def prose_instead_of_call(calls: list[ToolCall], rng: random.Random) -> str:
    """Axis 6: says it will call the tool instead of calling it."""
    return " Then ".join(_spoken(c) for c in calls)


def broken_envelope(calls: list[ToolCall], rng: random.Random) -> str:
    """Axis 6: a native call whose envelope is not closed, or whose braces are."""
    text = serialize_call(calls[0])
    if rng.random() < 0.5 or not calls[0].arguments:
        return text[: -len(CALL_CLOSE)]
    return text.replace("}" + CALL_CLOSE, CALL_CLOSE)


def python_repr_arguments(calls: list[ToolCall], rng: random.Random) -> str:
    """Axis 6: arguments written with Python's str(dict), not the native format."""
    if not any(c.arguments for c in calls):
        raise NotApplicable("no arguments to misformat")
    return "".join(f"<|tool_call>call:{c.name}{c.arguments!r}{CALL_CLOSE}" for c in calls)


# ------------------------------------------------------------------ the table

Source = Callable[[DecisionPoint, random.Random], list[ToolCall]]
Edit = Callable[[ToolCall, DecisionPoint, random.Random], ToolCall]
Render = Callable[[list[ToolCall], random.Random], str]


@dataclass(frozen=True)
class Mutation:
    name: str
    axis: int
    stage: str  # source | edit | render
    fn: Callable[..., Any]


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("hallucinated_tool", 1, "edit", hallucinated_tool),
    Mutation("wrong_real_tool", 1, "edit", wrong_real_tool),
    Mutation("drop_required_key", 2, "edit", drop_required_key),
    Mutation("invent_key", 2, "edit", invent_key),
    Mutation("misspell_key", 2, "edit", misspell_key),
    Mutation("wrong_value_type", 3, "edit", wrong_value_type),
    Mutation("out_of_range_value", 3, "edit", out_of_range_value),
    Mutation("malformed_date", 3, "edit", malformed_date),
    Mutation("redundant_chain", 4, "source", redundant_chain),
    Mutation("repeated_variants", 4, "source", repeated_variants),
    Mutation("create_before_free_blocks", 5, "source", create_before_free_blocks),
    Mutation("course_call_before_lookup", 5, "source", course_call_before_lookup),
    Mutation("event_change_before_lookup", 5, "source", event_change_before_lookup),
    Mutation("plan_before_syllabus", 5, "source", plan_before_syllabus),
    Mutation("prose_instead_of_call", 6, "render", prose_instead_of_call),
    Mutation("broken_envelope", 6, "render", broken_envelope),
    Mutation("python_repr_arguments", 6, "render", python_repr_arguments),
    Mutation("calendar_question_canvas_tool", 7, "edit", calendar_question_canvas_tool),
    Mutation("canvas_question_calendar_tool", 7, "edit", canvas_question_calendar_tool),
    Mutation("study_question_other_tool", 7, "edit", study_question_other_tool),
    Mutation("repeat_last_call", 8, "source", repeat_last_call),
    Mutation("unneeded_extra_call", 8, "source", unneeded_extra_call),
)
BY_NAME = {m.name: m for m in MUTATIONS}


def by_axis(axis: int) -> list[Mutation]:
    return [m for m in MUTATIONS if m.axis == axis]
