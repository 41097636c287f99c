"""The tiny base model's warm-up corpus: generic tool-call conversations.

The tiny model starts from random weights, so the warm-up is all the language it knows
before SFT. It asks in terse command frames ("Get CS 3114 deadlines, 7 days.") with
several everyday words per concept (announcements, news, posts), lower-cased or
unpunctuated as often as not, about the demo terms generated under its own seeds. Its
wording shares no phrasing with phase 1's templates or the bench's held-out phrasebook
(tested: 0 bench user turns verbatim or by skeleton in the full corpus), and its items
are not the bench's: what the base model learns is which tool serves which kind of
request and how native calls look, not the bench. The calls, responses and answers come
from the same simulated backend, so the format is the real one.
"""

from __future__ import annotations

import random
import re
from typing import Any

FRAMES = (
    "{topic}?",
    "{Topic}.",
    "Need {topic}.",
    "Get {topic}.",
    "Look up {topic}.",
    "{Topic}, please.",
    "Show {topic}.",
    "Pull up {topic}.",
    "Check {topic}.",
    "I want {topic}.",
)

# Per intent, per request in the conversation: topic phrases; the one used must name exactly
# the slots the intent fills. Each concept comes in several everyday words (announcements,
# news, posts; delete, remove, drop), as a pretrained model would know them: the tiny model
# learns its whole vocabulary here.
TOPICS: dict[str, list[list[str]]] = {
    "courses_overview": [["course list", "my enrolled courses", "courses this term", "my classes", "class list"]],
    "course_details": [
        ["info on {name}", "{name} course details", "details for {name}", "{name} workload", "what {name} covers"]
    ],
    "course_details_followup": [
        ["course list", "enrolled courses", "my classes"],
        ["details for {name}", "{name} overview", "the {name} class"],
    ],
    "course_from_assignment": [
        ["assignments due in 14 days", "two-week deadlines", "work due over two weeks"],
        ['course behind "{title}"', 'the class of "{title}"', 'which class "{title}" is for'],
    ],
    "due_soon_all": [
        [
            "assignments due in {n} days{extra}",
            "deadlines, next {n} days{extra}",
            "homework due within {n} days{extra}",
            "what is due in {n} days{extra}",
        ]
    ],
    "due_soon_course": [
        ["{name} assignments due in {n} days", "{name} deadlines, {n} days", "{name} homework for {n} days"]
    ],
    "syllabus_exams": [["{name} syllabus", "exam dates for {name}", "{name} test schedule", "when {name} exams are"]],
    "syllabus_followup": [
        ["deadlines this week", "work due in 7 days", "homework this week"],
        ['syllabus for the course of "{title}"', 'exams in the class of "{title}"'],
    ],
    "todo": [["Canvas to-do list", "to-do items", "open to-do items", "my task list", "things left to do"]],
    "grades_all": [["grades in all courses", "current scores", "my marks", "how I am doing in my classes"]],
    "grades_course": [["grade in {name}", "{name} score", "{name} marks", "how I am doing in {name}"]],
    "announcements_all": [
        [
            "announcements from the last {n} days",
            "recent announcements, {n} days",
            "course news, past {n} days",
            "posts from instructors in {n} days",
            "class updates from the last {n} days",
        ]
    ],
    "announcements_course": [["{name} announcements", "news from {name}", "{name} updates", "posts in {name}"]],
    "planner": [["planner notes", "Canvas planner items", "my planner", "notes in the planner"]],
    "todo_and_planner": [["to-do list and planner notes", "to-dos plus planner", "tasks and planner notes"]],
    "events_window": [
        [
            "calendar for the next two weeks",
            "upcoming events",
            "my schedule for two weeks",
            "calendar on {day}",
            "events on {day}",
            "schedule for {day}",
            "calendar from {day} to {last}",
            "events {day} through {last}",
            "schedule {day} to {last}",
        ]
    ],
    "free_time": [["free time: {phrase}", "open slots of {phrase}", "gaps in my calendar for {phrase}"]],
    "book_study_block": [
        [
            "a {len} {name} study block within {h} days",
            "{len} for {name} in the next {h} days, booked",
            "{len} of {name} studying scheduled within {h} days",
        ]
    ],
    "plan_for_assignment": [
        [
            "a {len} session for the next deadline this week",
            "{len} booked for this week's first deadline",
            "{len} of work time on my next assignment",
        ]
    ],
    "block_size": [["block length for {task}", "session length for {task}", "how long to work on {task}"]],
    "block_size_then_book": [
        [
            "a right-sized block for {task}, booked",
            "time for {task}, properly sized, on the calendar",
            "a session of the right length for {task} scheduled",
        ]
    ],
    "move_event": [
        [
            "{title} on {day} moved to {clock}",
            "{title} ({day}) shifted to {clock}",
            "{title} on {day} rescheduled to {clock}",
        ]
    ],
    "cancel_event": [
        [
            "{title} on {day} cancelled, {reason}",
            "{title} ({day}) deleted because {reason}",
            "{title} on {day} removed since {reason}",
        ]
    ],
    "book_then_move": [
        ["a {len} {subject} session soon", "{len} of {subject} booked", "{len} for {subject} scheduled"],
        ["that one {n} minutes {dir}", "the session moved {n} minutes {dir}", "the booking shifted {n} minutes {dir}"],
    ],
    "book_then_cancel": [
        ["a {len} {subject} session soon", "{len} of {subject} booked", "{len} for {subject} scheduled"],
        ["that session removed", "the booking cancelled", "that event deleted", "the new block dropped"],
    ],
    "calendar_and_due": [
        ["deadlines and calendar for 7 days", "this week's assignments and events", "homework plus schedule, 7 days"]
    ],
    "spaced_known_exam": [
        [
            "spaced sessions for {subject} exam {day} {clock}{ask}",
            "spaced review before the {subject} test, {day} {clock}{ask}",
            "review sessions spread out before {subject} exam {day} {clock}{ask}",
        ]
    ],
    "spaced_from_syllabus": [
        ["spaced sessions for the next {name} exam", "{name} exam study plan", "review plan for the {name} test"]
    ],
    "semester_plan": [
        [
            "weekly plan to {end}: {listed}{hours}",
            "semester schedule ending {end}: {listed}{hours}",
            "week-by-week hours until {end}: {listed}{hours}",
        ]
    ],
    "semester_plan_from_canvas": [
        ["rest-of-semester plan for {name}", "{name} pacing until term end", "weekly hours for {name} to the end"]
    ],
    "exam_day": [
        [
            "exam-day bracket for {subject}, {day} {t1}-{t2}{ask}",
            "review and recovery around {subject} exam {day} {t1}-{t2}{ask}",
        ]
    ],
    "exam_day_booked": [
        ["exam review for {day} {t1}-{t2}, on the calendar", "pre-exam review {day} ({t1}-{t2}) booked"]
    ],
    "which_first_pair": [
        [
            'priority: "{a}" ({ac}) or "{b}" ({bc})',
            'first of "{a}" ({ac}) and "{b}" ({bc})',
            'more urgent: "{a}" ({ac}) vs "{b}" ({bc})',
        ]
    ],
    "which_first_canvas": [['priority: "{a}" or "{b}"', 'first of "{a}" and "{b}"', 'more urgent: "{a}" vs "{b}"']],
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
        text = frame.format(topic=topic, Topic=topic[:1].upper() + topic[1:])
        # Requests come lower-cased and unpunctuated as often as not.
        if rng.random() < 0.3 and '"' not in text:  # a quoted title stays as the student saw it
            text = text.lower()
        if rng.random() < 0.3:
            text = text.rstrip(".?!")
        return text


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
    from canvas_pipeline.data.phase1.build import Quotas, SplitGenerator
    from canvas_pipeline.data.stage import Quarantine
    from canvas_pipeline.data.stages import demo_split_inputs

    views, pool, scrubber = demo_split_inputs(seed, "train")
    generator = SplitGenerator(
        "train",
        views,
        pool,
        scrubber,
        seed,
        Quotas(min_per_tool=rows // 40),
        Quarantine("warmup"),
        stage="models/base_model",
        id_prefix=f"warmup{seed}",
        phrasebook=GenericPhrasebook(),
    )
    return generator.build(rows)
