"""The tiny base model's warm-up corpus: generic tool-call conversations.

The bench asks in the intents' own sentences ("What's due for CS 3114 in the next 7
days?") about held-out courses. The warm-up asks in terse command frames ("Get CS 3114
deadlines, 7 days.") about the demo term generated under its own seed, so its wording
templates and its items are disjoint from the bench's: what the base model learns is which
tool serves which kind of request and how native calls look, not the bench. The calls,
responses and answers come from the same simulated backend, so the format is the real one.
"""

from __future__ import annotations

import random
import re
import tempfile
from pathlib import Path
from typing import Any

FRAMES = (
    "{topic}?",
    "{Topic}.",
    "Need {topic}.",
    "Get {topic}.",
    "Look up {topic}.",
    "{Topic}, please.",
    "Show {topic}.",
)

# Per intent, per request in the conversation: topic phrases; the one used must name exactly
# the slots the intent fills.
TOPICS: dict[str, list[list[str]]] = {
    "courses_overview": [["course list", "my enrolled courses", "courses this term"]],
    "course_details": [["info on {name}", "{name} course details", "details for {name}"]],
    "course_details_followup": [["course list", "enrolled courses"], ["details for {name}", "{name} overview"]],
    "course_from_assignment": [
        ["assignments due in 14 days", "two-week deadlines"],
        ['course behind "{title}"', 'the class of "{title}"'],
    ],
    "due_soon_all": [["assignments due in {n} days{extra}", "deadlines, next {n} days{extra}"]],
    "due_soon_course": [["{name} assignments due in {n} days", "{name} deadlines, {n} days"]],
    "syllabus_exams": [["{name} syllabus", "exam dates for {name}"]],
    "syllabus_followup": [["deadlines this week", "work due in 7 days"], ['syllabus for the course of "{title}"']],
    "todo": [["Canvas to-do list", "to-do items"]],
    "grades_all": [["grades in all courses", "current scores"]],
    "grades_course": [["grade in {name}", "{name} score"]],
    "announcements_all": [["announcements from the last {n} days", "recent announcements, {n} days"]],
    "announcements_course": [["{name} announcements", "news from {name}"]],
    "planner": [["planner notes", "Canvas planner items"]],
    "todo_and_planner": [["to-do list and planner notes", "to-dos plus planner"]],
    "events_window": [
        [
            "calendar for the next two weeks",
            "upcoming events",
            "calendar on {day}",
            "events on {day}",
            "calendar from {day} to {last}",
            "events {day} through {last}",
        ]
    ],
    "free_time": [["free time: {phrase}", "open slots of {phrase}"]],
    "book_study_block": [
        ["a {len} {name} study block within {h} days", "{len} for {name} in the next {h} days, booked"]
    ],
    "plan_for_assignment": [
        ["a {len} session for the next deadline this week", "{len} booked for this week's first deadline"]
    ],
    "block_size": [["block length for {task}", "session length for {task}"]],
    "block_size_then_book": [
        ["a right-sized block for {task}, booked", "time for {task}, properly sized, on the calendar"]
    ],
    "move_event": [["{title} on {day} moved to {clock}", "{title} ({day}) shifted to {clock}"]],
    "cancel_event": [["{title} on {day} cancelled, {reason}", "{title} ({day}) deleted because {reason}"]],
    "book_then_move": [
        ["a {len} {subject} session soon", "{len} of {subject} booked"],
        ["that one {n} minutes {dir}", "the session moved {n} minutes {dir}"],
    ],
    "book_then_cancel": [
        ["a {len} {subject} session soon", "{len} of {subject} booked"],
        ["that session removed", "the booking cancelled"],
    ],
    "calendar_and_due": [["deadlines and calendar for 7 days", "this week's assignments and events"]],
    "spaced_known_exam": [
        [
            "spaced sessions for {subject} exam {day} {clock}{ask}",
            "spaced review before the {subject} test, {day} {clock}{ask}",
        ]
    ],
    "spaced_from_syllabus": [["spaced sessions for the next {name} exam", "{name} exam study plan"]],
    "semester_plan": [["weekly plan to {end}: {listed}{hours}", "semester schedule ending {end}: {listed}{hours}"]],
    "semester_plan_from_canvas": [["rest-of-semester plan for {name}", "{name} pacing until term end"]],
    "exam_day": [
        [
            "exam-day bracket for {subject}, {day} {t1}-{t2}{ask}",
            "review and recovery around {subject} exam {day} {t1}-{t2}{ask}",
        ]
    ],
    "exam_day_booked": [
        ["exam review for {day} {t1}-{t2}, on the calendar", "pre-exam review {day} ({t1}-{t2}) booked"]
    ],
    "which_first_pair": [['priority: "{a}" ({ac}) or "{b}" ({bc})', 'first of "{a}" ({ac}) and "{b}" ({bc})']],
    "which_first_canvas": [['priority: "{a}" or "{b}"', 'first of "{a}" and "{b}"']],
}
_SLOT = re.compile(r"\{(\w+)\}")


class GenericPhrasebook:
    """Command-style wording for every intent (see the module docstring)."""

    def phrase(self, intent: str, index: int, slots: dict[str, Any], rng: random.Random) -> str:
        options = [t for t in TOPICS[intent][index] if set(_SLOT.findall(t)) == set(slots)]
        if not options:
            raise KeyError(f"no warm-up wording for {intent} request {index} with slots {sorted(slots)}")
        topic = options[rng.randrange(len(options))].format(**slots).strip().rstrip(".")
        frame = FRAMES[rng.randrange(len(FRAMES))]
        return frame.format(topic=topic, Topic=topic[:1].upper() + topic[1:])


WARMUP_SEED = 4242
WARMUP_TERMS = 4


def warmup_corpus(rows: int, seed: int = WARMUP_SEED, terms: int = WARMUP_TERMS) -> list[dict[str, Any]]:
    """Generic conversations over `terms` demo terms (seeds `seed`, `seed + 1`, ...), an
    equal share from each. One term repeats the same ~180 items, titles and course names,
    and a model warmed up on it memorises them instead of learning to copy whatever the
    tool response holds."""
    shares = [rows // terms + (1 if k < rows % terms else 0) for k in range(terms)]
    return [row for k, share in enumerate(shares) if share for row in term_corpus(share, seed + k)]


def term_corpus(rows: int, seed: int) -> list[dict[str, Any]]:
    """Generic conversations over the demo term generated under `seed` (train-split views
    of it), worded by the GenericPhrasebook; the same gates as phase 1 apply."""
    from canvas_pipeline.data import stages
    from canvas_pipeline.data.phase1.build import (
        Phase1Config,
        Quotas,
        SplitGenerator,
        assign_course_splits,
        pairs_by_split,
    )
    from canvas_pipeline.data.stage import Quarantine
    from canvas_pipeline.data.student_view import views_from_items

    config = Phase1Config(seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        stages.run_raw_stage(out, None, seed=seed)
        stages.run_scrub_stage(out)
        items, pairs, scrubber = stages.curated_inputs(out, "rule", None)
    split_of_course = assign_course_splits(items, seed, config.split_fractions)
    views = [v for v in views_from_items(items, split_of_course) if v.split == "train"]
    pool, _ = pairs_by_split(pairs, seed, config.pair_fractions)
    generator = SplitGenerator(
        "train",
        views,
        pool["train"],
        scrubber,
        seed,
        Quotas(min_per_tool=rows // 40),
        Quarantine("warmup"),
        stage="models/base_model",
        id_prefix=f"warmup{seed}",
        phrasebook=GenericPhrasebook(),
    )
    return generator.build(rows)
