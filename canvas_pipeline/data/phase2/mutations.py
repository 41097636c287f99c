"""Named mutations of a decision point's correct continuation, one function each.

A rejected continuation is built in up to three stages, each stage's mutations belonging
to one axis:

- a *source* says what the model says instead of the chosen continuation: more calls than
  needed or fewer (axis 4), a call made before what it depends on or a prerequisite run
  again (axis 5), a call where the answer was due or an answer where a call was due
  (axis 8); without one, the chosen calls are used;
- an *edit* changes one of those calls: its tool (axis 1), its keys (axis 2), its values
  (axis 3), its tool family (axis 7);
- a *render* writes the calls as broken text instead of native calls (axis 6).

Wrong parts come from the conversation and the split's own trajectories (`SplitPool`):
another course's id, a date a day off, a real call made elsewhere, a real answer given
elsewhere; misspelt and invented names are generated. The context-dependent axes (4, 5,
7, 8) go both ways, so which side is right depends on the conversation so far, never on
the shape of a side. Every mutation raises NotApplicable where it has nothing to work on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from canvas_pipeline.data.backend import parse_iso
from canvas_pipeline.data.course_names import clean_text
from canvas_pipeline.data.phase1.dialogue import NotApplicable
from canvas_pipeline.data.phase2.points import DecisionPoint, prior_calls, revealed, unrevealed_dependency
from canvas_pipeline.data.phase2.pool import SplitPool, call_key, family
from canvas_pipeline.data.student_view import human_date
from canvas_pipeline.tools.codec import CALL_CLOSE, ToolCall, canonical_arguments, serialize_call
from canvas_pipeline.tools.registry import load_registry

FREE_TEXT_KEYS = frozenset({"title", "rationale", "query", "description"})


def _copy(call: ToolCall, name: str | None = None, arguments: dict[str, Any] | None = None) -> ToolCall:
    return ToolCall(name or call.name, canonical_arguments(dict(call.arguments if arguments is None else arguments)))


def _need_call_point(point: DecisionPoint) -> list[ToolCall]:
    if point.kind != "call":
        raise NotApplicable("not a call decision")
    return point.calls


def _usable_extra(
    point: DecisionPoint,
    pool: SplitPool,
    rng: random.Random,
    families: set[str] | None,
    options: list[ToolCall] | None = None,
) -> ToolCall:
    """A real call from elsewhere in the split (from `options` when given) that this
    conversation neither needs now nor later, whose ids the conversation has already shown
    (else it would be an ordering error)."""
    used = {c.name for c in point.calls} | {c.name for c in point.later_calls()}
    done = {call_key(c) for c in prior_calls(point)}
    shown = revealed(point)
    options = options or pool.calls
    for _ in range(40):
        call = pool.pick(options, rng)
        if families is not None and family(call.name) not in families:
            continue
        if call.name in used or call_key(call) in done or unrevealed_dependency(call, shown):
            continue
        return call
    raise NotApplicable("no usable call elsewhere in the split")


# ------------------------------------------------------------------ sources (axes 4, 5, 8)


def over_calling(point: DecisionPoint, rng: random.Random, pool: SplitPool) -> list[ToolCall]:
    """Axis 4, one way: the calls that answer plus one real call nobody asked for, drawn from
    the calls the split makes two at a time (the ones under-calling leaves out), so that no
    tool and no number of calls marks the wrong side: each is as often missing as extra."""
    needed = _need_call_point(point)
    shared = [c for calls in pool.partners.values() for c in calls]
    extra = _usable_extra(point, pool, rng, None, shared or None)
    return list(needed) + [extra] if rng.random() < 0.5 else [extra, *needed]


def under_calling(point: DecisionPoint, rng: random.Random, pool: SplitPool) -> list[ToolCall]:
    """Axis 4, the other way: one call where the request needs two (one of them left out)."""
    needed = _need_call_point(point)
    if len(needed) < 2:
        raise NotApplicable("the request needs one call")
    kept = list(needed)
    kept.pop(rng.randrange(len(kept)))
    return kept


DEPENDENT_AFTER = {
    "canvas.list_courses": (
        "canvas.get_course",
        "canvas.get_syllabus",
        "canvas.get_grades",
        "canvas.get_assignments",
        "canvas.list_announcements",
    ),
    "calendar.list_events": ("calendar.modify_event", "calendar.delete_event"),
    "calendar.find_free_blocks": ("calendar.create_event",),
    "canvas.get_syllabus": ("study.spaced_schedule",),
}


def _guess(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool) -> ToolCall:
    """The dependent call as another conversation of the split made it, with an id, a slot
    or a date this conversation has not shown: a guess that reads like a real call, never
    a value read off this trajectory's future."""
    shown = revealed(point)
    options = [
        c
        for c in pool.calls
        if c.name == call.name and c.arguments != call.arguments and unrevealed_dependency(c, shown)
    ]
    if not options:
        raise NotApplicable(f"no other {call.name} in the split to guess from")
    return pool.pick(options, rng)


def call_before_prerequisite(point: DecisionPoint, rng: random.Random, pool: SplitPool) -> list[ToolCall]:
    """Axis 5, one way: the later, dependent call made now, with the id, slot or date it
    needs guessed (courses before listing them, an event before finding it, a booking
    before the free slot, a plan before reading the exam date)."""
    calls = _need_call_point(point)
    if len(calls) != 1 or calls[0].name not in DEPENDENT_AFTER:
        raise NotApplicable("not a prerequisite call")
    for later in point.later_calls():
        if later.name in DEPENDENT_AFTER[calls[0].name]:
            return [_guess(later, point, rng, pool)]
    raise NotApplicable("no later dependent call")


def rerun_prerequisite(point: DecisionPoint, rng: random.Random, pool: SplitPool) -> list[ToolCall]:
    """Axis 5, the other way: the prerequisite run again although its result is already in
    the conversation, instead of the call that uses it."""
    needed = _need_call_point(point)
    done = prior_calls(point)
    needed_keys = {call_key(c) for c in needed}
    options = [c for c in done if call_key(c) not in needed_keys and c.name in DEPENDENT_AFTER]
    if not options:
        raise NotApplicable("no prerequisite in the conversation")
    return [options[-1]]


def _answer_point(point: DecisionPoint) -> list[ToolCall]:
    if point.kind != "answer":
        raise NotApplicable("not an answer decision")
    done = prior_calls(point)
    if not done:
        raise NotApplicable("no call before the answer")
    return done


def repeat_prior_call(point: DecisionPoint, rng: random.Random, pool: SplitPool) -> list[ToolCall]:
    """Axis 8, one way: asks again for what it already has instead of answering."""
    done = _answer_point(point)
    return [done[-1] if rng.random() < 0.7 else pool.pick(done, rng)]


def call_after_answer_known(point: DecisionPoint, rng: random.Random, pool: SplitPool) -> list[ToolCall]:
    """Axis 8, one way: keeps calling, with a real call the answer does not need."""
    _answer_point(point)
    return [_usable_extra(point, pool, rng, None)]


def premature_answer(point: DecisionPoint, rng: random.Random, pool: SplitPool) -> str:
    """Axis 8, the other way: answers before the result it needs is in, with an answer that
    reads like a real one (another conversation's answer to the same kind of request)."""
    _need_call_point(point)
    options = [a for a in pool.answers.get(point.intent, []) if a and a not in _own_answers(point)]
    if not options:
        raise NotApplicable("no answer to this kind of request elsewhere in the split")
    return pool.pick(options, rng)


def _own_answers(point: DecisionPoint) -> set[str]:
    return {str(m.get("content") or "") for m in point.later if m["role"] == "assistant" and not m.get("tool_calls")}


# ------------------------------------------------------------------ edits (axes 1, 2, 3, 7)

VERB_SYNONYMS = {
    "get": ("fetch", "list", "retrieve", "read", "load", "show", "lookup", "query"),
    "list": ("get", "fetch", "show", "all", "read", "enumerate"),
    "find": ("get", "search", "lookup", "compute", "locate"),
    "create": ("add", "new", "make", "schedule", "book", "insert"),
    "modify": ("update", "edit", "change", "move", "patch", "reschedule"),
    "delete": ("remove", "cancel", "drop", "clear"),
    "recommend": ("suggest", "get", "compute", "estimate"),
    "spaced": ("spacing", "study", "review"),
    "semester": ("term", "weekly", "full"),
    "exam": ("test", "final", "day"),
    "priority": ("rank", "compare", "order"),
}
SUFFIXES = ("info", "list", "details", "data", "all", "v2", "for_course", "by_id", "summary")
WRONG_FAMILIES = ("lms", "canvas_api", "cal", "planner", "schedule", "student", "tools")


def _camel(words: list[str]) -> str:
    return words[0] + "".join(w.title() for w in words[1:])


def _plural_toggle(word: str) -> str:
    return word[:-1] if word.endswith("s") else word + "s"


def _rename(name: str, rng: random.Random) -> str:
    fam, _, tool = name.partition(".")
    words = tool.split("_")
    for _ in range(rng.choice((1, 2))):
        move = rng.randrange(5)
        if move == 0 and words[0] in VERB_SYNONYMS:
            words[0] = rng.choice(VERB_SYNONYMS[words[0]])
        elif move == 1 and len(words) > 1:
            words[-1] = _plural_toggle(words[-1])
        elif move == 2:
            words.append(rng.choice(SUFFIXES))
        elif move == 3:
            fam = rng.choice(WRONG_FAMILIES)
        elif len(words) > 1:
            words = [_camel(words)]
    return f"{fam}.{'_'.join(words)}"


def hallucinated_tool(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool) -> ToolCall:
    """Axis 1: a plausible tool that is not in the registry, generated from the real name
    (a synonym verb, a plural, a suffix, a camelCase or a made-up family)."""
    registry = load_registry()
    for _ in range(20):
        name = _rename(call.name, rng)
        if name not in registry and name != call.name:
            return _copy(call, name=name)
    raise NotApplicable("no new name")


def wrong_real_tool(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool) -> ToolCall:
    """Axis 1: a real tool of the same family that does not answer the request, made as the
    split's trajectories really call it."""
    if call.name in {c.name for c in point.later_calls()}:
        raise NotApplicable("the conversation uses every tool of the family")
    return _usable_extra(point, pool, rng, {family(call.name)})


def drop_required_key(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool) -> ToolCall:
    """Axis 2: a required argument left out."""
    registry = load_registry()
    required = [k for k in registry[call.name].required if k in call.arguments] if call.name in registry else []
    if not required:
        raise NotApplicable("no required argument")
    key = required[rng.randrange(len(required))]
    return _copy(call, arguments={k: v for k, v in call.arguments.items() if k != key})


def invent_key(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool) -> ToolCall:
    """Axis 2: an argument the tool does not have: another tool's key with a value the split
    uses for it, or one of its own keys with a made-up qualifier."""
    registry = load_registry()
    own = set(registry[call.name].properties) if call.name in registry else set(call.arguments)
    borrowed = sorted(k for k in pool.arguments if k not in own)
    if borrowed and rng.random() < 0.6:
        key = pool.pick(borrowed, rng)
        value = pool.pick(pool.arguments[key], rng)
    elif call.arguments:
        base = pool.pick(sorted(call.arguments), rng)
        key, value = f"{base}_{rng.choice(('max', 'min', 'filter', 'list', 'type', 'all'))}", call.arguments[base]
    else:
        raise NotApplicable("nothing to invent from")
    if key in own:
        raise NotApplicable("invented key exists")
    return _copy(call, arguments={**call.arguments, key: value})


def _misspell(key: str, rng: random.Random) -> str:
    words = key.split("_")
    moves: list[Callable[[], str]] = [lambda: _camel(words), lambda: "".join(words)]
    if len(words) > 1:
        moves += [lambda: "_".join(words[:-1]), lambda: "_".join(reversed(words))]
        moves.append(lambda: "_".join([*words[:-1], _plural_toggle(words[-1])]))
        if words[-1] == "iso":
            moves.append(lambda: "_".join([*words[:-1], rng.choice(("date", "time", "datetime", "at"))]))
    else:
        moves.append(lambda: _plural_toggle(key))
    return rng.choice(moves)()


def misspell_key(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool) -> ToolCall:
    """Axis 2: a real argument under a wrong name, generated (camelCase, joined, shortened,
    reordered, a plural, `_date` for `_iso`)."""
    registry = load_registry()
    own = set(registry[call.name].properties) if call.name in registry else set()
    if not call.arguments:
        raise NotApplicable("no argument to misspell")
    key = pool.pick(sorted(call.arguments), rng)
    wrong = _misspell(key, rng)
    if wrong in own or wrong in call.arguments:
        raise NotApplicable("misspelling is a real key")
    return _copy(call, arguments={(wrong if k == key else k): v for k, v in call.arguments.items()})


def _retyped(key: str, value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and key.endswith("_iso"):
        return int(parse_iso(value).timestamp())
    if isinstance(value, list) and all(isinstance(v, (int, str)) for v in value):
        return ",".join(map(str, value))
    raise NotApplicable("no value to retype")


def wrong_value_type(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool) -> ToolCall:
    """Axis 3: the right value with the wrong type (a number as text, a date as a Unix time,
    a list as one string)."""
    keys = [k for k, v in call.arguments.items() if k not in FREE_TEXT_KEYS and not isinstance(v, dict)]
    if not keys:
        raise NotApplicable("no argument")
    key = pool.pick(keys, rng)
    return _copy(call, arguments={**call.arguments, key: _retyped(key, call.arguments[key])})


HOUR_KEYS = ("earliest_hour", "latest_hour", "preferred_hour")


def out_of_range_value(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool) -> ToolCall:
    """Axis 3: a number off the clock or not positive, computed from the real one (an hour
    plus 24, a duration negated)."""
    keys = [k for k, v in call.arguments.items() if isinstance(v, int) and not isinstance(v, bool)]
    keys = [k for k in keys if k in HOUR_KEYS or k.endswith(("_days", "_minutes", "_session", "_available"))]
    if not keys:
        raise NotApplicable("no numeric argument")
    key = pool.pick(keys, rng)
    value = call.arguments[key]
    wrong = value + 24 if key in HOUR_KEYS else -value if value else -rng.choice((1, 7, 30))
    return _copy(call, arguments={**call.arguments, key: wrong})


def _malformed(value: str, rng: random.Random) -> str:
    moment = parse_iso(value)
    forms = [
        human_date(moment) + moment.strftime(" at %-I:%M %p"),
        moment.strftime("%m/%d/%Y %H:%M"),
        moment.strftime("%d.%m.%Y"),
        moment.strftime("%Y-%m-%dT%H:%M:%S").replace("-", "/"),
    ]
    if moment.day > 12:
        forms.append(moment.strftime(f"%Y-{moment.day:02d}-{moment.month:02d}T%H:%M:%S"))
    return rng.choice(forms)


def malformed_date(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool) -> ToolCall:
    """Axis 3: the right moment written as something that is not ISO 8601 ("Friday, March 6,
    2026 at 3:00 PM", "03/06/2026 15:00", day and month swapped)."""
    keys = [k for k, v in call.arguments.items() if k.endswith("_iso") and isinstance(v, str)]
    if not keys:
        raise NotApplicable("no ISO argument")
    key = pool.pick(keys, rng)
    return _copy(call, arguments={**call.arguments, key: _malformed(call.arguments[key], rng)})


def context_value(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool) -> ToolCall:
    """Axis 3: a real but wrong value from the conversation: another course it has shown, a
    date a day off, another event it has listed, another window the split asks for."""
    shown = revealed(point)
    args = dict(call.arguments)
    keys = [k for k in args if k not in FREE_TEXT_KEYS]
    rng.shuffle(keys)
    for key in keys:
        value = args[key]
        if key == "course_id" and isinstance(value, int):
            courses = [c for c in pool.course_ids if f'"course_id":{c}' in shown and c != value]
            if courses:
                return _copy(call, arguments={**args, key: pool.pick(courses, rng)})
        elif key == "event_id":
            events = [e for e in pool.event_ids if f'"event_id":"{e}"' in shown and e != value]
            if events:
                return _copy(call, arguments={**args, key: pool.pick(events, rng)})
        elif key.endswith("_iso") and isinstance(value, str):
            moved = (parse_iso(value) + timedelta(days=rng.choice((-1, 1)))).isoformat()
            return _copy(call, arguments={**args, key: moved})
        elif isinstance(value, int) and not isinstance(value, bool):
            others = sorted({v for v in pool.arguments.get(key, []) if isinstance(v, int) and v > 0 and v != value})
            if others:
                return _copy(call, arguments={**args, key: pool.pick(others, rng)})
    raise NotApplicable("no value with a plausible alternative")


FAMILY_SLACK = 3


def _other_family(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool, source: set) -> ToolCall:
    """A real call of another family; a family already chosen more often than rejected (by
    more than a few pairs) is skipped, and the replacement is the family rejected least, so
    that over the axis every family is as often right as wrong."""
    own = family(call.name)
    if own not in source:
        raise NotApplicable(f"{call.name} is not in {sorted(source)}")
    if pool.family_balance[own] > FAMILY_SLACK:
        raise NotApplicable(f"{own} is already the chosen family of enough pairs")
    others = sorted({family(c.name) for c in pool.calls} - {family(c.name) for c in point.calls})
    rng.shuffle(others)
    for target in sorted(others, key=lambda f: -pool.family_balance[f]):
        try:
            replacement = _usable_extra(point, pool, rng, {target})
        except NotApplicable:
            continue
        pool.family_balance[own] += 1
        pool.family_balance[target] -= 1
        return replacement
    raise NotApplicable("no usable call of another family")


def calendar_question_other_tool(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool) -> ToolCall:
    """Axis 7: a calendar request answered with another family's tool."""
    return _other_family(call, point, rng, pool, {"calendar"})


def canvas_question_other_tool(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool) -> ToolCall:
    """Axis 7: a Canvas request answered with another family's tool."""
    return _other_family(call, point, rng, pool, {"canvas"})


def study_question_other_tool(call: ToolCall, point: DecisionPoint, rng: random.Random, pool: SplitPool) -> ToolCall:
    """Axis 7: a study-planning or priority request answered from another family."""
    return _other_family(call, point, rng, pool, {"study", "reranker"})


# ------------------------------------------------------------------ renders (axis 6)

SPOKEN = (
    "I will call {name}{args} to check that for you.",
    "Let me use {name}{args}.",
    "Calling {name}{args} now.",
    "I'd run {name}{args} for this.",
    "To answer, I need {name}{args}.",
)


def _spoken(call: ToolCall, rng: random.Random) -> str:
    """A call said in prose; what it says is text a student reads, so the reranker's item
    strings lose their anonymisation placeholders and registrar codes as answers do."""
    args = ", ".join(f"{k}={v}" for k, v in call.arguments.items())
    return clean_text(rng.choice(SPOKEN).format(name=call.name, args=f" ({args})" if args else ""))


def prose_instead_of_call(calls: list[ToolCall], rng: random.Random) -> str:
    """Axis 6: says it will call the tool instead of calling it."""
    return " ".join(_spoken(c, rng) for c in calls)


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

Source = Callable[[DecisionPoint, random.Random, SplitPool], "list[ToolCall] | str"]
Edit = Callable[[ToolCall, DecisionPoint, random.Random, SplitPool], ToolCall]
Render = Callable[[list[ToolCall], random.Random], str]


@dataclass(frozen=True)
class Mutation:
    name: str
    axis: int
    stage: str  # source | edit | render
    fn: Callable[..., Any]
    # Axes 4, 5, 8 go both ways: "more" where the rejected side says more than the
    # conversation needs (more calls, a call too early, a call after the answer is known),
    # "less" where it says less (fewer calls, a prerequisite again, an answer too early).
    direction: str = ""


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("hallucinated_tool", 1, "edit", hallucinated_tool),
    Mutation("wrong_real_tool", 1, "edit", wrong_real_tool),
    Mutation("drop_required_key", 2, "edit", drop_required_key),
    Mutation("invent_key", 2, "edit", invent_key),
    Mutation("misspell_key", 2, "edit", misspell_key),
    Mutation("wrong_value_type", 3, "edit", wrong_value_type),
    Mutation("out_of_range_value", 3, "edit", out_of_range_value),
    Mutation("malformed_date", 3, "edit", malformed_date),
    Mutation("context_value", 3, "edit", context_value),
    Mutation("over_calling", 4, "source", over_calling, "more"),
    Mutation("under_calling", 4, "source", under_calling, "less"),
    Mutation("call_before_prerequisite", 5, "source", call_before_prerequisite, "more"),
    Mutation("rerun_prerequisite", 5, "source", rerun_prerequisite, "less"),
    Mutation("prose_instead_of_call", 6, "render", prose_instead_of_call),
    Mutation("broken_envelope", 6, "render", broken_envelope),
    Mutation("python_repr_arguments", 6, "render", python_repr_arguments),
    Mutation("calendar_question_other_tool", 7, "edit", calendar_question_other_tool),
    Mutation("canvas_question_other_tool", 7, "edit", canvas_question_other_tool),
    Mutation("study_question_other_tool", 7, "edit", study_question_other_tool),
    Mutation("repeat_prior_call", 8, "source", repeat_prior_call, "more"),
    Mutation("call_after_answer_known", 8, "source", call_after_answer_known, "more"),
    Mutation("premature_answer", 8, "source", premature_answer, "less"),
)
BY_NAME = {m.name: m for m in MUTATIONS}


def by_axis(axis: int) -> list[Mutation]:
    return [m for m in MUTATIONS if m.axis == axis]


def directions(axis: int) -> list[str]:
    return sorted({m.direction for m in by_axis(axis) if m.direction})
