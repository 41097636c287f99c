"""The student requests phase 1 is made of: each intent is a small program that phrases a
request, makes the calls a careful assistant would make (in dependency order, no more than
needed), reads the real responses, and composes the answer from them.

`INTENTS` lists every intent with the tools it calls; the quota planner uses that list.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from canvas_pipeline.data.backend import PriorityPair, item_label, parse_iso
from canvas_pipeline.data.held_out_phrasings import HELD_OUT_OFF_TOPIC, HeldOutPhrasebook
from canvas_pipeline.data.phase1.dialogue import Dialogue, NotApplicable
from canvas_pipeline.data.student_view import LOCAL_TZ, Course, Item, human_date, human_time, local_iso

# ------------------------------------------------------------------ helpers


def _when(iso: str | None) -> str:
    return "no due date" if iso is None else human_time(parse_iso(iso))


def _pts(points: float | None) -> str:
    return "ungraded" if points is None else f"{points:g} pts"


def _item_line(entry: dict[str, Any], courses: dict[int, str] | None = None) -> str:
    course = f" [{courses[entry['course_id']]}]" if courses and entry["course_id"] in courses else ""
    return f"- {entry['title']}{course}: due {_when(entry['due_at'])}, {_pts(entry['points'])}"


def _course_names(d: Dialogue) -> dict[int, str]:
    return {c.course_id: c.short_name for c in d.view.courses}


def _pick_course(d: Dialogue, predicate: Callable[[Course], bool] = lambda c: True) -> Course:
    return d.pick_course([c for c in d.view.courses if predicate(c)])


def _course_entry(listing: dict[str, Any], course: Course) -> dict[str, Any]:
    entry = next((c for c in listing["courses"] if c["course_id"] == course.course_id), None)
    if entry is None:
        raise NotApplicable(f"course {course.course_id} not listed")
    return entry


def _upcoming(d: Dialogue, days_ahead: int, course: Course | None = None) -> list[Item]:
    until = d.now + timedelta(days=days_ahead)
    pool = course.items if course else d.view.items
    return sorted(
        (i for i in pool if i.state == "unsubmitted" and i.due_at is not None and d.now <= i.due_at <= until),
        key=lambda i: (i.due_at, i.item_id),
    )


def _future_day(d: Dialogue, lo: int, hi: int) -> datetime:
    day = (d.now.astimezone(LOCAL_TZ) + timedelta(days=d.rng.randint(lo, hi))).date()
    return datetime.combine(day, time(0, 0), tzinfo=LOCAL_TZ)


def _at_hour(day: datetime, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day.date(), time(hour, minute), tzinfo=LOCAL_TZ)


def _clock(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%I:%M %p").lstrip("0")


def _hours_phrase(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours > 1 else ''}"
    return f"{minutes} minutes"


def _study_title(item_title: str) -> str:
    return f"Work on {item_title[:50]}"


# ------------------------------------------------------------------ canvas


def courses_overview(d: Dialogue) -> None:
    d.user(
        d.say(
            (
                "What classes am I taking this term?",
                "Which courses am I enrolled in right now?",
                "List my current courses.",
                "Remind me what I'm registered for this semester.",
                "What are all my Canvas courses?",
                "Show me the courses I'm in.",
            )
        )
    )
    listing = d.call("canvas.list_courses", active_only=True)
    lines = "\n".join(f"- {c['name']} ({c['code']})" for c in listing["courses"])
    d.answer(
        f"You're enrolled in {len(listing['courses'])} course{'s' if len(listing['courses']) != 1 else ''} this term:\n{lines}"
    )


def _describe_course(info: dict[str, Any]) -> str:
    kinds = ", ".join(f"{n} {k}" for k, n in info["items_by_type"].items())
    return f"{info['name']} ({info['code']}) runs in {info['term']}. Its Canvas work: {kinds}. Canvas doesn't list credit hours for it."


def course_details(d: Dialogue) -> None:
    course = _pick_course(d)
    d.user(
        d.say(
            (
                "Tell me about my {name} course.",
                "What's {name} like in terms of workload?",
                "Can you pull up the course info for {name}?",
                "Give me an overview of {name}.",
                "What kind of assignments does {name} have?",
            ),
            name=course.short_name,
        )
    )
    listing = d.call("canvas.list_courses", active_only=True)
    entry = _course_entry(listing, course)
    info = d.call("canvas.get_course", course_id=entry["course_id"])
    d.answer(_describe_course(info))


def course_details_followup(d: Dialogue) -> None:
    d.user(d.say(("What courses am I in?", "Which classes do I have this term?", "List my courses, please.")))
    listing = d.call("canvas.list_courses", active_only=True)
    d.answer("Your courses: " + "; ".join(f"{c['name']} ({c['code']})" for c in listing["courses"]) + ".")
    course = _pick_course(d)
    entry = _course_entry(listing, course)
    d.user(
        d.say(
            (
                "Give me the details for {name}.",
                "What's in {name}?",
                "And {name}? What does that one involve?",
                "Tell me more about {name}.",
            ),
            name=course.short_name,
        )
    )
    info = d.call("canvas.get_course", course_id=entry["course_id"])
    d.answer(_describe_course(info))


def course_from_assignment(d: Dialogue) -> None:
    if not _upcoming(d, 14):
        raise NotApplicable("nothing due")
    d.user(d.say(("What's due in the next two weeks?", "What assignments are coming up in the next 14 days?")))
    due = d.call("canvas.get_assignments", horizon_days=14)
    if not due["assignments"]:
        raise NotApplicable("nothing due")
    names = _course_names(d)
    d.answer(
        f"{due['count']} item{'s' if due['count'] != 1 else ''} due in the next 14 days:\n"
        + "\n".join(_item_line(a, names) for a in due["assignments"])
    )
    entry = d.pick(due["assignments"])
    d.user(
        d.say(
            (
                'Which course is "{title}" for, and what\'s that course like?',
                'Tell me about the course that "{title}" belongs to.',
                'What\'s the class behind "{title}"?',
            ),
            title=entry["title"],
        )
    )
    info = d.call("canvas.get_course", course_id=entry["course_id"])
    d.answer(f'"{entry["title"]}" is for {info["name"]}. ' + _describe_course(info))


def _due_answer(due: dict[str, Any], days_ahead: int, names: dict[int, str] | None, scope: str = "") -> str:
    if not due["assignments"]:
        return f"Nothing is due{scope} in the next {days_ahead} days."
    more = f" (showing the first {len(due['assignments'])})" if due["truncated"] else ""
    head = f"You have {due['count']} item{'s' if due['count'] != 1 else ''} due{scope} in the next {days_ahead} days{more}:"
    return head + "\n" + "\n".join(_item_line(a, names) for a in due["assignments"])


def due_soon_all(d: Dialogue) -> None:
    days_ahead = d.pick((3, 5, 7, 7, 10, 14, 21))
    include = d.rng.random() < 0.2
    extra = " including things I've already turned in" if include else ""
    d.user(
        d.say(
            (
                "What's due in the next {n} days{extra}?",
                "What assignments do I have coming up over the next {n} days{extra}?",
                "Anything due within {n} days{extra}?",
                "List my upcoming deadlines for the next {n} days{extra}.",
                "What do I have to turn in during the next {n} days{extra}?",
            ),
            n=days_ahead,
            extra=extra,
        )
    )
    args: dict[str, Any] = {"horizon_days": days_ahead}
    if include:
        args["include_submitted"] = True
    due = d.call("canvas.get_assignments", **args)
    d.answer(_due_answer(due, days_ahead, _course_names(d)))


def due_soon_course(d: Dialogue) -> None:
    course = _pick_course(d)
    days_ahead = d.pick((7, 10, 14, 21, 30))
    d.user(
        d.say(
            (
                "What's due for {name} in the next {n} days?",
                "Do I have any {name} assignments due in the next {n} days?",
                "Upcoming {name} deadlines over the next {n} days?",
                "What do I owe in {name} within {n} days?",
            ),
            name=course.short_name,
            n=days_ahead,
        )
    )
    listing = d.call("canvas.list_courses", active_only=True)
    entry = _course_entry(listing, course)
    due = d.call("canvas.get_assignments", course_id=entry["course_id"], horizon_days=days_ahead)
    d.answer(_due_answer(due, days_ahead, None, scope=f" for {course.short_name}"))


def _exam_sentence(syllabus: str) -> str:
    start = syllabus.find("Exams:")
    end = syllabus.find(". Major milestones")
    return _readable_dates(syllabus[start + len("Exams: ") : end]) if start >= 0 and end > start else "not listed"


_SYLLABUS_PART = re.compile(
    r"(Graded work|Exams|Major milestones|Credit hours): (.*?)(?=\. (?:Graded work|Exams|Major milestones|Credit hours):|\.$)"
)


_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")


def _readable_dates(text: str) -> str:
    return _ISO_MOMENT.sub(lambda m: _when(m.group(0)), text)


def _syllabus_summary(syllabus: str, exams: bool = True) -> str:
    """The syllabus's parts as lines a student reads (graded work, exams, milestones, dates
    in words), not the tool's string pasted whole."""
    parts = {k: _readable_dates(v) for k, v in _SYLLABUS_PART.findall(syllabus)}
    lines = [f"- Graded work: {parts['Graded work']}" if "Graded work" in parts else ""]
    if exams:
        lines.append(f"- Exams: {parts.get('Exams', 'not listed')}")
    lines.append(f"- Major milestones: {parts.get('Major milestones', 'none listed')}")
    return "\n".join(line for line in lines if line)


def syllabus_exams(d: Dialogue) -> None:
    course = _pick_course(d)
    d.user(
        d.say(
            (
                "When are the exams in {name}?",
                "What does the {name} syllabus say about exams?",
                "Pull up the syllabus for {name}.",
                "What are the big milestones in {name} this term?",
                "How is {name} graded?",
            ),
            name=course.short_name,
        )
    )
    listing = d.call("canvas.list_courses", active_only=True)
    entry = _course_entry(listing, course)
    syllabus = d.call("canvas.get_syllabus", course_id=entry["course_id"])
    d.answer(
        f"Exams in {course.short_name}: {_exam_sentence(syllabus['syllabus'])}.\n"
        f"Also from its syllabus:\n{_syllabus_summary(syllabus['syllabus'], exams=False)}"
    )


def syllabus_followup(d: Dialogue) -> None:
    if not _upcoming(d, 7):
        raise NotApplicable("nothing due this week")
    d.user(d.say(("What's due this week?", "What do I have due in the next 7 days?", "This week's deadlines?")))
    due = d.call("canvas.get_assignments", horizon_days=7)
    if not due["assignments"]:
        raise NotApplicable("nothing due this week")
    d.answer(_due_answer(due, 7, _course_names(d)))
    entry = d.pick(due["assignments"])
    d.user(
        d.say(
            (
                'Can you open the syllabus for the course that "{title}" is in?',
                'What does the syllabus say for the class with "{title}"?',
                'Show me the syllabus of the course "{title}" belongs to.',
            ),
            title=entry["title"],
        )
    )
    syllabus = d.call("canvas.get_syllabus", course_id=entry["course_id"])
    d.answer(f"From that course's syllabus:\n{_syllabus_summary(syllabus['syllabus'])}")


def todo(d: Dialogue) -> None:
    d.user(
        d.say(
            (
                "What's on my Canvas to-do list?",
                "What needs my attention on Canvas soon?",
                "Show me my to-do items.",
                "What should I be working on? Check my Canvas to-dos.",
                "Anything urgent in my Canvas to-do feed?",
            )
        )
    )
    feed = d.call("canvas.get_todo")
    if not feed["todo"]:
        d.answer("Your Canvas to-do list is empty right now: nothing unsubmitted is due in the next week.")
        return
    d.answer(
        f"{feed['count']} item{'s' if feed['count'] != 1 else ''} on your to-do list:\n"
        + "\n".join(_item_line(a, _course_names(d)) for a in feed["todo"])
    )


def _grade_lines(grades: dict[str, Any]) -> str:
    return "\n".join(f"- {g['name']}: {g['current_score']:.1f}%" for g in grades["grades"])


def grades_all(d: Dialogue) -> None:
    d.user(
        d.say(
            (
                "How am I doing in my classes?",
                "What are my current grades?",
                "Show me my scores across all my courses.",
                "Check my grades for me.",
                "Where do my grades stand right now?",
            )
        )
    )
    grades = d.call("canvas.get_grades")
    low = min(grades["grades"], key=lambda g: g["current_score"])
    d.answer(
        f"Your current scores:\n{_grade_lines(grades)}\nYour lowest is {low['name']} at {low['current_score']:.1f}%."
    )


def grades_course(d: Dialogue) -> None:
    course = _pick_course(d)
    d.user(
        d.say(
            (
                "What's my grade in {name}?",
                "How am I doing in {name}?",
                "What's my current score in {name}?",
                "Am I passing {name}?",
            ),
            name=course.short_name,
        )
    )
    listing = d.call("canvas.list_courses", active_only=True)
    entry = _course_entry(listing, course)
    grades = d.call("canvas.get_grades", course_id=entry["course_id"])
    score = grades["grades"][0]["current_score"]
    d.answer(f"Your current score in {course.short_name} is {score:.1f}%.")


def _announcement_answer(posts: dict[str, Any], past_days: int) -> str:
    if not posts["announcements"]:
        return f"No announcements in the last {past_days} days."
    lines = "\n".join(f"- {p['name']}: {p['title']} (posted {_when(p['posted_at'])})" for p in posts["announcements"])
    return f"{posts['count']} announcement{'s' if posts['count'] != 1 else ''} in the last {past_days} days:\n{lines}"


def announcements_all(d: Dialogue) -> None:
    past_days = d.pick((3, 5, 7, 7, 14))
    d.user(
        d.say(
            (
                "Any announcements in the last {n} days?",
                "Did any of my professors post announcements in the past {n} days?",
                "What's been announced in my courses over the last {n} days?",
                "Catch me up on course announcements from the past {n} days.",
            ),
            n=past_days,
        )
    )
    posts = d.call("canvas.list_announcements", past_days=past_days)
    d.answer(_announcement_answer(posts, past_days))


def announcements_course(d: Dialogue) -> None:
    course = _pick_course(d)
    d.user(
        d.say(
            (
                "Has {name} posted any announcements lately?",
                "Any news from {name} this week?",
                "Check the announcements for {name}.",
            ),
            name=course.short_name,
        )
    )
    listing = d.call("canvas.list_courses", active_only=True)
    entry = _course_entry(listing, course)
    posts = d.call("canvas.list_announcements", course_ids=[entry["course_id"]], past_days=7)
    d.answer(_announcement_answer(posts, 7))


def _planner_lines(notes: dict[str, Any]) -> str:
    return "\n".join(f"- {n['title']} ({_when(n['date'])})" for n in notes["planner_items"])


def planner(d: Dialogue) -> None:
    d.user(
        d.say(
            (
                "Show me my planner notes.",
                "What did I put in my Canvas planner?",
                "What's in my planner for the next couple of weeks?",
                "List my planner items.",
            )
        )
    )
    notes = d.call("canvas.list_planner_items")
    if not notes["planner_items"]:
        d.answer("Your Canvas planner has no notes for the next two weeks.")
        return
    d.answer(f"Your planner notes:\n{_planner_lines(notes)}")


def todo_and_planner(d: Dialogue) -> None:
    d.user(
        d.say(
            (
                "What do I need to do soon, including my own planner notes?",
                "Give me my to-do list and my planner notes together.",
                "Check both my Canvas to-dos and my planner.",
            )
        )
    )
    feed, notes = d.calls(("canvas.get_todo", {}), ("canvas.list_planner_items", {}))
    todo_text = "\n".join(_item_line(a, _course_names(d)) for a in feed["todo"]) or "- nothing due in the next week"
    plan_text = _planner_lines(notes) or "- no planner notes"
    d.answer(f"To-do:\n{todo_text}\nPlanner notes:\n{plan_text}")


# ------------------------------------------------------------------ calendar


def _event_lines(listing: dict[str, Any]) -> str:
    return "\n".join(
        f"- {e['title']}: {'all day' if e['all_day'] else _when(e['start']) + ' to ' + _clock(parse_iso(e['end']))}"
        for e in listing["events"]
    )


def events_window(d: Dialogue) -> None:
    if d.rng.random() < 0.35:
        d.user(
            d.say(
                (
                    "What's on my calendar for the next two weeks?",
                    "Show me my upcoming calendar events.",
                    "What do I have scheduled coming up?",
                )
            )
        )
        listing = d.call("calendar.list_events")
        span = "the next two weeks"
    else:
        day = _future_day(d, 1, 10)
        length = d.pick((1, 1, 2, 3))
        end = day + timedelta(days=length)
        if length == 1:
            d.user(
                d.say(
                    (
                        "What's on my calendar on {day}?",
                        "What do I have going on {day}?",
                        "Am I busy on {day}?",
                        "Show me my schedule for {day}.",
                    ),
                    day=human_date(day),
                )
            )
        else:
            d.user(
                d.say(
                    (
                        "What's on my calendar from {day} through {last}?",
                        "What do I have scheduled between {day} and {last}?",
                    ),
                    day=human_date(day),
                    last=human_date(end - timedelta(days=1)),
                )
            )
        listing = d.call("calendar.list_events", start_iso=local_iso(day), end_iso=local_iso(end))
        span = human_date(day) if length == 1 else f"{human_date(day)} to {human_date(end - timedelta(days=1))}"
    if not listing["events"]:
        d.answer(f"Your calendar is clear for {span}.")
        return
    d.answer(f"Here's what's on your calendar for {span}:\n{_event_lines(listing)}")


def _free_request(d: Dialogue) -> tuple[dict[str, Any], str]:
    minutes = d.pick((30, 45, 60, 90, 120, 180))
    horizon = d.pick((2, 3, 5, 7))
    args: dict[str, Any] = {"min_minutes": minutes, "horizon_days": horizon}
    constraint = ""
    roll = d.rng.random()
    if roll < 0.25:
        args["exclude_weekends"] = True
        constraint = ", weekdays only"
    elif roll < 0.5:
        start, end = d.pick(((9, 17), (8, 18), (10, 20), (12, 22)))
        args["earliest_hour"], args["latest_hour"] = start, end
        constraint = f", between {start}:00 and {end}:00"
    return args, f"{_hours_phrase(minutes)} in the next {horizon} days{constraint}"


def _block_lines(blocks: dict[str, Any]) -> str:
    return "\n".join(
        f"- {_when(b['start'])} to {_clock(parse_iso(b['end']))} ({b['minutes']} min free)" for b in blocks["blocks"]
    )


def free_time(d: Dialogue) -> None:
    args, phrase = _free_request(d)
    d.user(
        d.say(
            (
                "When am I free for {phrase}?",
                "Find me an open block of {phrase}.",
                "Do I have any free time of at least {phrase}?",
                "Where could I fit {phrase}?",
            ),
            phrase=phrase,
        )
    )
    blocks = d.call("calendar.find_free_blocks", **args)
    if not blocks["blocks"]:
        d.answer(f"I couldn't find a free block of {phrase}.")
        return
    d.answer(f"Free blocks that fit:\n{_block_lines(blocks)}")


def _book_first_block(d: Dialogue, blocks: dict[str, Any], minutes: int, title: str, rationale: str) -> dict[str, Any]:
    if not blocks["blocks"]:
        raise NotApplicable("no free block")
    block = blocks["blocks"][0]
    start = parse_iso(block["start"])
    return d.call(
        "calendar.create_event",
        title=title,
        start_iso=local_iso(start),
        end_iso=local_iso(start + timedelta(minutes=minutes)),
        rationale=rationale,
    )


def book_study_block(d: Dialogue) -> None:
    course = _pick_course(d)
    minutes = d.pick((60, 90, 120))
    horizon = d.pick((3, 5, 7))
    d.user(
        d.say(
            (
                "Find {len} in the next {h} days to study for {name} and put it on my calendar.",
                "Block off {len} for {name} sometime in the next {h} days.",
                "Schedule a {len} study session for {name} within {h} days.",
                "Can you book me {len} of {name} study time this week? Anything in the next {h} days works.",
            ),
            len=_hours_phrase(minutes),
            h=horizon,
            name=course.short_name,
        )
    )
    blocks = d.call("calendar.find_free_blocks", min_minutes=minutes, horizon_days=horizon)
    event = _book_first_block(
        d, blocks, minutes, f"Study: {course.spoken}", "First free block long enough for the session."
    )
    d.answer(
        f'Booked "{event["title"]}" on {_when(event["start"])} to {_clock(parse_iso(event["end"]))}, the first free {_hours_phrase(minutes)} slot.'
    )


def plan_for_assignment(d: Dialogue) -> None:
    if not _upcoming(d, 7):
        raise NotApplicable("nothing due this week")
    minutes = d.pick((60, 90, 120))
    d.user(
        d.say(
            (
                "Schedule {len} to work on whatever is due next this week.",
                "Look at what's due in the next 7 days and book {len} for the first one.",
                "Put a {len} work session on my calendar for my next deadline this week.",
            ),
            len=_hours_phrase(minutes),
        )
    )
    due = d.call("canvas.get_assignments", horizon_days=7)
    if not due["assignments"]:
        raise NotApplicable("nothing due")
    target = due["assignments"][0]
    hours_left = max(1, int((parse_iso(target["due_at"]) - d.now).total_seconds() // 86400))
    blocks = d.call("calendar.find_free_blocks", min_minutes=minutes, horizon_days=min(7, hours_left))
    event = _book_first_block(
        d, blocks, minutes, _study_title(target["title"]), f"{target['title'][:50]} is due {target['due_at'][:10]}."
    )
    d.answer(
        f'"{target["title"]}" is due {_when(target["due_at"])}. I booked "{event["title"]}" on {_when(event["start"])}'
        f" to {_clock(parse_iso(event['end']))}."
    )


TASK_WORDS = {
    "writing": ("essay", "paper", "lab report write-up", "reflection"),
    "problem_set": ("problem set", "homework set", "math homework"),
    "exam_prep": ("exam prep", "midterm studying", "final review"),
    "reading": ("reading", "chapter reading", "assigned articles"),
    "review": ("notes review", "flashcard review"),
    "admin": ("email and admin stuff", "course registration paperwork"),
    "discussion": ("discussion post", "forum replies"),
    "project_work": ("group project", "capstone project work", "coding project"),
    "lab": ("lab work", "lab prep"),
}


def block_size(d: Dialogue) -> None:
    task_type = d.pick(sorted(TASK_WORDS))
    d.user(
        d.say(
            (
                "How long should my work blocks be for {task}?",
                "What's a good session length for {task}?",
                "How many minutes should I set aside at a time for {task}?",
                "I'm planning {task}. How long should each sitting be?",
            ),
            task=d.pick(TASK_WORDS[task_type]),
        )
    )
    rec = d.call("study.recommend_block_size", task_type=task_type)
    d.answer(f"Aim for blocks of about {rec['minutes']} minutes for that kind of work ({task_type.replace('_', ' ')}).")


def block_size_then_book(d: Dialogue) -> None:
    task_type = d.pick(sorted(TASK_WORDS))
    word = d.pick(TASK_WORDS[task_type])
    d.user(
        d.say(
            (
                "I need to get going on my {task}. Book a session of the right length sometime this week.",
                "Put a properly sized block for my {task} on my calendar in the next few days.",
                "Find the right amount of time for my {task} and schedule it.",
            ),
            task=word,
        )
    )
    rec = d.call("study.recommend_block_size", task_type=task_type)
    minutes = rec["minutes"]
    blocks = d.call("calendar.find_free_blocks", min_minutes=minutes, horizon_days=5)
    event = _book_first_block(
        d, blocks, minutes, f"Work block: {word}", f"Recommended {minutes}-minute block for {task_type}."
    )
    d.answer(
        f"A {minutes}-minute block suits {word}. I booked it on {_when(event['start'])} to {_clock(parse_iso(event['end']))}."
    )


def _routine_event(d: Dialogue, min_days: int = 1, max_days: int = 10) -> dict[str, Any]:
    lo, hi = d.now + timedelta(days=min_days), d.now + timedelta(days=max_days)
    candidates = [e for e in d.backend.events if not e.all_day and lo <= e.start <= hi]
    event = d.pick(candidates)
    return {"title": event.title, "start": event.start}


def move_event(d: Dialogue) -> None:
    target = _routine_event(d)
    day = datetime.combine(target["start"].astimezone(LOCAL_TZ).date(), time(0, 0), tzinfo=LOCAL_TZ)
    new_start = _at_hour(day, d.pick((7, 16, 18, 19, 20)))
    d.user(
        d.say(
            (
                "Move my {title} on {day} to {clock}.",
                "Can you push {title} on {day} to {clock}?",
                "Reschedule {title} ({day}) so it starts at {clock}.",
            ),
            title=target["title"],
            day=human_date(day),
            clock=_clock(new_start),
        )
    )
    listing = d.call("calendar.list_events", start_iso=local_iso(day), end_iso=local_iso(day + timedelta(days=1)))
    match = next((e for e in listing["events"] if e["title"] == target["title"]), None)
    if match is None:
        raise NotApplicable("event not in listing")
    length = parse_iso(match["end"]) - parse_iso(match["start"])
    pending = d.call(
        "calendar.modify_event",
        event_id=match["event_id"],
        start_iso=local_iso(new_start),
        end_iso=local_iso(new_start + length),
        rationale="Requested by the student.",
    )
    title, span = pending["event"]["title"], f"{_clock(new_start)}-{_clock(new_start + length)}"
    d.answer(f"I've proposed moving {title} on {human_date(day)} to {span}. Shall I apply the change?")
    _carry_confirmation(
        d,
        f"Done: {title} on {human_date(day)} now runs {span}.",
        f"Okay, {title} stays where it was on {human_date(day)}; nothing changed.",
    )


CONFIRM = ("Yes, go ahead.", "Yes please.", "Sure, do it.", "Yep, that works.", "Okay, confirm it.")
DECLINE = ("No, leave it.", "Actually no, keep it as it is.", "Never mind, don't change it.", "No thanks.")


def _carry_confirmation(d: Dialogue, done: str, kept: str) -> None:
    """Sometimes the student answers the pending change's question. Their yes is the
    confirmation the tool asked for (the app applies the pending action), so the right reply
    makes no further call: proposing the change again would be a second, duplicate request."""
    if d.rng.random() >= d.carry_confirmations:
        return
    if d.rng.random() < 0.7:
        d.user(d.pick(CONFIRM))
        d.answer(done)
    else:
        d.user(d.pick(DECLINE))
        d.answer(kept)


def cancel_event(d: Dialogue) -> None:
    target = _routine_event(d)
    day = datetime.combine(target["start"].astimezone(LOCAL_TZ).date(), time(0, 0), tzinfo=LOCAL_TZ)
    reason = d.pick(("I'm sick", "I have an exam to study for", "I'll be traveling", "it got cancelled"))
    d.user(
        d.say(
            (
                "Cancel my {title} on {day}, {reason}.",
                "Please delete {title} on {day}; {reason}.",
                "Take {title} off my calendar for {day} because {reason}.",
            ),
            title=target["title"],
            day=human_date(day),
            reason=reason,
        )
    )
    listing = d.call("calendar.list_events", start_iso=local_iso(day), end_iso=local_iso(day + timedelta(days=1)))
    match = next((e for e in listing["events"] if e["title"] == target["title"]), None)
    if match is None:
        raise NotApplicable("event not in listing")
    pending = d.call("calendar.delete_event", event_id=match["event_id"], rationale=f"Student: {reason}.")
    title = pending["event"]["title"]
    d.answer(f"I've proposed deleting {title} on {human_date(day)}. Shall I go ahead and delete it?")
    _carry_confirmation(
        d,
        f"Done: {title} on {human_date(day)} is off your calendar.",
        f"Okay, I've left {title} on {human_date(day)} as it is.",
    )


def _book_session(d: Dialogue) -> tuple[dict[str, Any], int]:
    minutes = d.pick((45, 60, 90))
    subject = d.pick(("reading", "problem set", "lab report", "essay draft", "flashcards", "project work"))
    d.user(
        d.say(
            (
                "Put a {len} {subject} session on my calendar in the next few days.",
                "Book {len} for {subject} sometime soon.",
                "Find a {len} slot for {subject} this week and add it.",
            ),
            len=_hours_phrase(minutes),
            subject=subject,
        )
    )
    blocks = d.call("calendar.find_free_blocks", min_minutes=minutes, horizon_days=4)
    event = _book_first_block(d, blocks, minutes, f"Study: {subject}", "First free block long enough.")
    d.answer(f'Booked "{event["title"]}" on {_when(event["start"])} to {_clock(parse_iso(event["end"]))}.')
    return event, minutes


def book_then_move(d: Dialogue) -> None:
    event, minutes = _book_session(d)
    shift = d.pick((30, 60, 90, -30))
    start = parse_iso(event["start"]) + timedelta(minutes=shift)
    direction = "later" if shift > 0 else "earlier"
    d.user(
        d.say(
            (
                "Actually, make it {n} minutes {dir}.",
                "Can you shift that {n} minutes {dir}?",
                "Move it {n} minutes {dir}, please.",
            ),
            n=abs(shift),
            dir=direction,
        )
    )
    pending = d.call(
        "calendar.modify_event",
        event_id=event["event_id"],
        start_iso=local_iso(start),
        end_iso=local_iso(start + timedelta(minutes=minutes)),
    )
    when = _when(pending["changes"]["start"])
    d.answer(f"I've proposed moving it to {when}. Do you want me to apply the move?")
    _carry_confirmation(
        d, f'Done: "{event["title"]}" now starts {when}.', f'Okay, "{event["title"]}" stays at {_when(event["start"])}.'
    )


def book_then_cancel(d: Dialogue) -> None:
    event, _ = _book_session(d)
    d.user(d.say(("Never mind, remove it.", "Actually, cancel that session.", "Scratch that one, delete it.")))
    d.call("calendar.delete_event", event_id=event["event_id"], rationale="The student changed their mind.")
    d.answer(f'I\'ve proposed deleting "{event["title"]}". Should I take it off your calendar?')
    _carry_confirmation(
        d, f'Done: "{event["title"]}" is off your calendar.', f'Okay, "{event["title"]}" stays on your calendar.'
    )


ORDINALS = ("first", "second", "third")


def book_listed_block(d: Dialogue) -> None:
    """Free blocks first, answered; then the student picks one of the listed blocks to book."""
    args, phrase = _free_request(d)
    d.user(d.say(("When could I fit {phrase}?", "Any openings for {phrase}?"), phrase=phrase))
    blocks = d.call("calendar.find_free_blocks", **args)
    if not blocks["blocks"]:
        raise NotApplicable("no free block")
    d.answer(f"Free blocks that fit:\n{_block_lines(blocks)}")
    index = d.rng.randrange(min(len(blocks["blocks"]), len(ORDINALS)))
    block = blocks["blocks"][index]
    course = _pick_course(d)
    start = parse_iso(block["start"])
    minutes = args["min_minutes"]
    d.user(
        d.say(
            (
                "Take the {which} one for {name}.",
                "Put {name} in the {which} of those.",
            ),
            which=ORDINALS[index],
            name=course.short_name,
        )
    )
    event = d.call(
        "calendar.create_event",
        title=f"Study: {course.spoken}",
        start_iso=local_iso(start),
        end_iso=local_iso(start + timedelta(minutes=minutes)),
        rationale="The student chose this free block.",
    )
    d.answer(f'Booked "{event["title"]}" on {_when(event["start"])} to {_clock(parse_iso(event["end"]))}.')


def book_named_slot(d: Dialogue) -> None:
    """The student names the event and its slot: nothing to look up before booking it."""
    day = _future_day(d, 1, 7)
    start = _at_hour(day, d.pick((8, 9, 10, 13, 14, 15, 16, 19, 20)), d.pick((0, 0, 30)))
    minutes = d.pick((30, 60, 60, 90, 120))
    course = _pick_course(d)
    activity = d.pick(("review", "problem set", "reading", "group meeting", "office hours", "lab prep"))
    title = f"{course.spoken} {activity}"
    end = start + timedelta(minutes=minutes)
    d.user(
        d.say(
            ('Add "{title}" to my calendar on {day} from {t1} to {t2}.', 'Put "{title}" on {day}, {t1}-{t2}.'),
            title=title,
            day=human_date(day),
            t1=_clock(start),
            t2=_clock(end),
        )
    )
    event = d.call("calendar.create_event", title=title, start_iso=local_iso(start), end_iso=local_iso(end))
    if event.get("status") != "created":
        raise NotApplicable("the named slot clashes with an event")
    d.answer(f'Added "{event["title"]}" on {_when(event["start"])} to {_clock(parse_iso(event["end"]))}.')


def calendar_and_due(d: Dialogue) -> None:
    d.user(
        d.say(
            (
                "What's due and what's on my calendar over the next 7 days?",
                "Give me my week: deadlines and calendar events.",
                "Show me both my assignments due this week and my scheduled events.",
            )
        )
    )
    start = d.now.astimezone(LOCAL_TZ).replace(second=0, microsecond=0)
    due, listing = d.calls(
        ("canvas.get_assignments", {"horizon_days": 7}),
        ("calendar.list_events", {"start_iso": local_iso(start), "end_iso": local_iso(start + timedelta(days=7))}),
    )
    d.answer(
        _due_answer(due, 7, _course_names(d))
        + f"\nOn your calendar ({listing['count']} events):\n"
        + (_event_lines(listing) or "- nothing")
    )


# ------------------------------------------------------------------ study


def _exam_items(d: Dialogue, min_days: int = 2) -> list[tuple[Course, Item]]:
    return [
        (c, i)
        for c in d.view.courses
        for i in c.items
        if i.is_exam and i.due_at is not None and i.due_at >= d.now + timedelta(days=min_days)
    ]


def _session_lines(plan: dict[str, Any]) -> str:
    return "\n".join(f"- {_when(s['start'])} to {_clock(parse_iso(s['end']))}" for s in plan["sessions"])


def spaced_known_exam(d: Dialogue) -> None:
    day = _future_day(d, 8, 30)
    exam = _at_hour(day, d.pick((8, 9, 10, 13, 14, 18, 19)))
    n_sessions = d.pick((3, 4, 4, 5))
    subject = d.pick(
        ("chemistry", "calculus", "statistics", "biology", "physics", "history", "economics", "data structures")
    )
    args: dict[str, Any] = {"exam_iso": local_iso(exam)}
    ask = ""
    if n_sessions != 4:
        args["n_sessions"] = n_sessions
        ask = f" I want {n_sessions} sessions."
    d.user(
        d.say(
            (
                "My {subject} exam is on {day} at {clock}. Set up spaced study sessions for it.{ask}",
                "I have a {subject} test {day} at {clock}; plan spaced review sessions before it.{ask}",
                "Help me space out studying for my {subject} exam on {day} ({clock}).{ask}",
            ),
            subject=subject,
            day=human_date(day),
            clock=_clock(exam),
            ask=ask,
        )
    )
    plan = d.call("study.spaced_schedule", **args)
    d.answer(f"Here's a spaced plan for your {subject} exam on {_when(plan['exam'])}:\n{_session_lines(plan)}")


def spaced_from_syllabus(d: Dialogue) -> None:
    course, exam_item = d.pick(_exam_items(d, min_days=3))
    d.user(
        d.say(
            (
                "Plan study sessions for my next {name} exam.",
                "When's my next {name} exam? Set up a spaced study plan for it.",
                "Help me prepare for the upcoming exam in {name} with spaced sessions.",
            ),
            name=course.short_name,
        )
    )
    listing = d.call("canvas.list_courses", active_only=True)
    entry = _course_entry(listing, course)
    syllabus = d.call("canvas.get_syllabus", course_id=entry["course_id"])
    exam_iso = local_iso(exam_item.due_at)
    if exam_iso not in syllabus["syllabus"]:
        raise NotApplicable("exam not in syllabus text")
    plan = d.call("study.spaced_schedule", exam_iso=exam_iso)
    d.answer(
        f"Your next {course.short_name} exam is {exam_item.title} on {_when(exam_iso)}. Study sessions:\n{_session_lines(plan)}"
    )


def _estimate_hours(points: float | None) -> int:
    return max(2, min(20, round((points or 10) / 10)))


def _plan_lines(plan: dict[str, Any]) -> str:
    """The plan's weeks (the first six) in words, and what it left out and why."""
    lines = [
        f"- week of {datetime.fromisoformat(w['week_of']).strftime('%b %-d')}: {w['hours']:g} h, focus {w['focus']}"
        for w in plan["weeks"][:6]
    ]
    if len(plan["weeks"]) > 6:
        lines.append(f"- then {len(plan['weeks']) - 6} more week(s) up to the last deadline")
    if plan.get("skipped_past_deadlines"):
        lines.append(f"Already past, so not planned: {', '.join(plan['skipped_past_deadlines'])}.")
    if plan.get("unscheduled_hours"):
        lines.append(f"{plan['unscheduled_hours']:g} h don't fit in the hours you have before the deadlines.")
    return "\n".join(lines)


def semester_plan(d: Dialogue) -> None:
    end = _future_day(d, 40, 100)
    n = d.pick((1, 2, 2, 3))
    names = d.rng.sample(
        ("Proposal", "Prototype", "Midpoint demo", "Draft report", "Final presentation", "Final report"), n
    )
    deadlines = []
    for k, title in enumerate(sorted(names)):
        due = _at_hour(_future_day(d, 10 + 10 * k, 20 + 10 * k), 23, 59)
        deadlines.append({"title": title, "due_iso": local_iso(due), "estimated_hours": d.pick((4, 6, 8, 10, 12, 15))})
    weekly = d.pick((6, 8, 10, 12))
    listed = "; ".join(f"{x['title']} due {_when(x['due_iso'])} (~{x['estimated_hours']} h)" for x in deadlines)
    args: dict[str, Any] = {"semester_end_iso": local_iso(end), "deadlines": deadlines}
    hours_text = ""
    if weekly != 10:
        args["weekly_hours_available"] = weekly
        hours_text = f" I can give it {weekly} hours a week."
    d.user(
        d.say(
            (
                "Make me a weekly plan for my project until the semester ends on {end}. Milestones: {listed}.{hours}",
                "I have a project-heavy course; the semester ends {end}. Deadlines: {listed}. Plan my weeks.{hours}",
                "Build a semester schedule for my project (term ends {end}): {listed}.{hours}",
            ),
            end=human_date(end),
            listed=listed,
            hours=hours_text,
        )
    )
    plan = d.call("study.semester_schedule", **args)
    d.answer(f"Weekly plan ({plan['total_estimated_hours']} estimated hours in total):\n{_plan_lines(plan)}")


def semester_plan_from_canvas(d: Dialogue) -> None:
    course = _pick_course(d, lambda c: len([i for i in _upcoming(d, 90, c) if (i.points or 0) >= 20]) >= 1)
    d.user(
        d.say(
            (
                "Plan the rest of the semester for {name} around its big deadlines.",
                "Build me a weekly work plan for {name} until the end of term.",
                "Help me pace {name} for the rest of the semester.",
            ),
            name=course.short_name,
        )
    )
    listing = d.call("canvas.list_courses", active_only=True)
    entry = _course_entry(listing, course)
    due = d.call("canvas.get_assignments", course_id=entry["course_id"], horizon_days=90)
    big = [a for a in due["assignments"] if (a["points"] or 0) >= 20][:4]
    if not big:
        raise NotApplicable("no major deadlines listed")
    last_due = parse_iso(due["assignments"][-1]["due_at"])
    end = datetime.combine(last_due.astimezone(LOCAL_TZ).date() + timedelta(days=7), time(0, 0), tzinfo=LOCAL_TZ)
    deadlines = [
        {"title": a["title"][:60], "due_iso": a["due_at"], "estimated_hours": _estimate_hours(a["points"])} for a in big
    ]
    plan = d.call("study.semester_schedule", semester_end_iso=local_iso(end), deadlines=deadlines)
    d.answer(
        f"Plan for {course.short_name} through {human_date(end)} "
        f"({plan['total_estimated_hours']:g} estimated hours in total):\n{_plan_lines(plan)}"
    )


def exam_day(d: Dialogue) -> None:
    day = _future_day(d, 2, 20)
    start = _at_hour(day, d.pick((8, 9, 10, 11, 13, 14, 15, 19)))
    length = d.pick((60, 75, 90, 120, 180))
    end = start + timedelta(minutes=length)
    review = d.pick((30, 45, 45, 60))
    subject = d.pick(("organic chemistry", "calculus", "physics", "history", "statistics", "Spanish"))
    args: dict[str, Any] = {"exam_start_iso": local_iso(start), "exam_end_iso": local_iso(end)}
    ask = ""
    if review != 45:
        args["review_minutes"] = review
        ask = f" I'd like a {review}-minute review beforehand."
    d.user(
        d.say(
            (
                "My {subject} exam is {day} from {t1} to {t2}. Plan my exam day.{ask}",
                "I've got a {subject} final on {day}, {t1}-{t2}. How should I bracket it?{ask}",
                "Set up review and recovery time around my {subject} exam ({day}, {t1} to {t2}).{ask}",
            ),
            subject=subject,
            day=human_date(day),
            t1=_clock(start),
            t2=_clock(end),
            ask=ask,
        )
    )
    bracket = d.call("study.exam_bracket", **args)
    r, c = bracket["review"], bracket["recovery"]
    d.answer(
        f"Do a light review from {_clock(parse_iso(r['start']))} to {_clock(parse_iso(r['end']))}, then take a recovery "
        f"break from {_clock(parse_iso(c['start']))} to {_clock(parse_iso(c['end']))} after the exam."
    )


def exam_day_booked(d: Dialogue) -> None:
    day = _future_day(d, 2, 20)
    start = _at_hour(day, d.pick((9, 10, 13, 14, 15)))
    end = start + timedelta(minutes=d.pick((75, 90, 120)))
    d.user(
        d.say(
            (
                "My exam is {day} from {t1} to {t2}. Plan a review before it and put the review on my calendar.",
                "Bracket my exam on {day} ({t1}-{t2}) and add the review block to my calendar.",
            ),
            day=human_date(day),
            t1=_clock(start),
            t2=_clock(end),
        )
    )
    bracket = d.call("study.exam_bracket", exam_start_iso=local_iso(start), exam_end_iso=local_iso(end))
    review = bracket["review"]
    event = d.call(
        "calendar.create_event",
        title="Exam review",
        start_iso=review["start"],
        end_iso=review["end"],
        rationale="Light review right before the exam.",
    )
    if event["status"] == "conflict":
        clash = event["conflicts"][0]
        d.answer(
            f"The review block ({_clock(parse_iso(review['start']))}-{_clock(parse_iso(review['end']))}) clashes with "
            f"{clash['title']}, so I didn't add it. Want me to look for another slot?"
        )
        return
    d.answer(
        f'Added "Exam review" on {_when(event["start"])} to {_clock(parse_iso(event["end"]))}; plan a recovery break after the exam.'
    )


# ------------------------------------------------------------------ reranker


def which_first_pair(d: Dialogue) -> None:
    pair: PriorityPair = d.pick(d.pair_pool)
    a_title, a_course = pair.item_a.split("] ", 1)[1].rsplit(" @", 1)[0], pair.courses[0]
    b_title, b_course = pair.item_b.split("] ", 1)[1].rsplit(" @", 1)[0], pair.courses[1]
    d.user(
        d.say(
            (
                'Which should I work on first: "{a}" ({ac}) or "{b}" ({bc})?',
                'Help me prioritize: "{a}" for {ac} vs "{b}" for {bc}.',
                'I can only do one tonight: "{a}" in {ac} or "{b}" in {bc}. Which one?',
                'What\'s more urgent, "{a}" ({ac}) or "{b}" ({bc})?',
            ),
            a=a_title,
            ac=a_course,
            b=b_title,
            bc=b_course,
        )
    )
    hint = d.call("reranker.priority_hint", query=pair.query, item_a=pair.item_a, item_b=pair.item_b)
    winner = a_title if hint["more_urgent"] == "A" else b_title
    d.answer(
        f"Start with \"{winner}\": the priority model rates it more urgent. It's a hint, so adjust if you know something it doesn't."
    )


def which_first_canvas(d: Dialogue) -> None:
    pool = _upcoming(d, 14)
    if len(pool) < 2:
        raise NotApplicable("fewer than two upcoming items")
    first, second = d.rng.sample(pool, 2)
    question = f'Should I do "{first.title}" or "{second.title}" first?'
    d.user(
        d.say(
            (
                'Should I do "{a}" or "{b}" first?',
                'Which is more urgent: "{a}" or "{b}"?',
                'I have "{a}" and "{b}" coming up. Which first?',
            ),
            a=first.title,
            b=second.title,
        )
    )
    due = d.call("canvas.get_assignments", horizon_days=14)
    listed = {a["id"] for a in due["assignments"]}
    if first.item_id not in listed or second.item_id not in listed:
        raise NotApplicable("items not in the first page of assignments")
    courses = {c.course_id: c for c in d.view.courses}
    hint = d.call(
        "reranker.priority_hint",
        query=question,
        item_a=item_label(first, courses[first.course_id], d.now),
        item_b=item_label(second, courses[second.course_id], d.now),
    )
    winner, other = (first, second) if hint["more_urgent"] == "A" else (second, first)
    d.answer(
        f'Do "{winner.title}" first (due {human_time(winner.due_at)}), then "{other.title}" (due {human_time(other.due_at)}).'
    )


# ------------------------------------------------------------------ no tool applies

TRAIN_OFF_TOPIC = (
    ("Thanks, that's all I needed!", "thanks"),
    ("Thank you so much, you're a lifesaver.", "thanks"),
    ("What's the capital of Australia?", "general"),
    ("Can you recommend a good movie for tonight?", "general"),
    ("Write me a haiku about finals week.", "general"),
    ("What's 17 times 23?", "general"),
    ("Tell me a fun fact.", "general"),
    ("Order me a large pepperoni pizza.", "action"),
    ("Can you text my roommate that I'll be late?", "action"),
    ("Buy me a parking pass for next semester.", "action"),
    ("How's the weather looking tomorrow?", "general"),
    ("Hi there!", "greeting"),
    ("Good morning!", "greeting"),
)

OFF_TOPIC_ANSWERS = {
    "thanks": (
        "You're welcome! Good luck with your classes.",
        "Happy to help. Ping me whenever you need your schedule or deadlines.",
    ),
    "greeting": (
        "Hi! I can check your Canvas deadlines, grades and announcements, manage your calendar, or plan study time. What do you need?",
    ),
    "general": (
        "That's outside what I can help with: I work with your Canvas courses, your calendar and study planning. Want me to check what's due?",
        "I can't answer that one. I can look up assignments, grades and announcements, or find you study time.",
    ),
    "action": (
        "I can't do that: my tools cover your Canvas courses, your calendar and study planning only.",
        "That's not something I can do for you. I can manage your calendar or check your coursework, though.",
    ),
}


def _off_topic(requests: tuple[tuple[str, str], ...]) -> Callable[[Dialogue], None]:
    def run(d: Dialogue) -> None:
        text, kind = d.pick(requests)
        d.user(text)
        d.answer(d.pick(OFF_TOPIC_ANSWERS[kind]))

    return run


def off_topic_held_out(d: Dialogue) -> None:
    """A request no tool serves, from the bench's own list (near-domain actions no tool
    can take, closers, greetings, far off-domain questions), in the held-out register."""
    text, kind = d.pick(HELD_OUT_OFF_TOPIC)
    d.user(HeldOutPhrasebook().fill(text, {}, d.rng))
    d.answer(d.pick(OFF_TOPIC_ANSWERS[kind]))


@dataclass(frozen=True)
class Intent:
    """A request program: the tools it calls, in order, and which splits ask it."""

    name: str
    tools: tuple[str, ...]
    run: Callable[[Dialogue], None]
    needs_pairs: bool = False
    splits: frozenset[str] = frozenset({"train", "test", "bench"})
    # The tool that opens the answer to the conversation's last request (its bench item's
    # first expected call): the first tool unless the last request is a follow-up.
    opens: str | None = None
    # Makes independent calls together in one step (the only source of under-calling pairs).
    parallel_calls: bool = False

    @property
    def first_expected(self) -> tuple[str, ...]:
        """The first expected call of this intent's bench items (none for a no-call intent)."""
        return (self.opens,) if self.opens else self.tools[:1]


INTENTS: tuple[Intent, ...] = (
    Intent("courses_overview", ("canvas.list_courses",), courses_overview),
    Intent("course_details", ("canvas.list_courses", "canvas.get_course"), course_details),
    Intent(
        "course_details_followup",
        ("canvas.list_courses", "canvas.get_course"),
        course_details_followup,
        opens="canvas.get_course",
    ),
    Intent(
        "course_from_assignment",
        ("canvas.get_assignments", "canvas.get_course"),
        course_from_assignment,
        opens="canvas.get_course",
    ),
    Intent("due_soon_all", ("canvas.get_assignments",), due_soon_all),
    Intent("due_soon_course", ("canvas.list_courses", "canvas.get_assignments"), due_soon_course),
    Intent("syllabus_exams", ("canvas.list_courses", "canvas.get_syllabus"), syllabus_exams),
    Intent(
        "syllabus_followup",
        ("canvas.get_assignments", "canvas.get_syllabus"),
        syllabus_followup,
        opens="canvas.get_syllabus",
    ),
    Intent("todo", ("canvas.get_todo",), todo),
    Intent("grades_all", ("canvas.get_grades",), grades_all),
    Intent("grades_course", ("canvas.list_courses", "canvas.get_grades"), grades_course),
    Intent("announcements_all", ("canvas.list_announcements",), announcements_all),
    Intent("announcements_course", ("canvas.list_courses", "canvas.list_announcements"), announcements_course),
    Intent("planner", ("canvas.list_planner_items",), planner),
    Intent("todo_and_planner", ("canvas.get_todo", "canvas.list_planner_items"), todo_and_planner, parallel_calls=True),
    Intent("events_window", ("calendar.list_events",), events_window),
    Intent("free_time", ("calendar.find_free_blocks",), free_time),
    Intent("book_study_block", ("calendar.find_free_blocks", "calendar.create_event"), book_study_block),
    Intent(
        "plan_for_assignment",
        ("canvas.get_assignments", "calendar.find_free_blocks", "calendar.create_event"),
        plan_for_assignment,
    ),
    Intent("block_size", ("study.recommend_block_size",), block_size),
    Intent(
        "block_size_then_book",
        ("study.recommend_block_size", "calendar.find_free_blocks", "calendar.create_event"),
        block_size_then_book,
    ),
    Intent("move_event", ("calendar.list_events", "calendar.modify_event"), move_event),
    Intent("cancel_event", ("calendar.list_events", "calendar.delete_event"), cancel_event),
    Intent(
        "book_then_move",
        ("calendar.find_free_blocks", "calendar.create_event", "calendar.modify_event"),
        book_then_move,
        opens="calendar.modify_event",
    ),
    Intent(
        "book_then_cancel",
        ("calendar.find_free_blocks", "calendar.create_event", "calendar.delete_event"),
        book_then_cancel,
        opens="calendar.delete_event",
    ),
    Intent(
        "calendar_and_due",
        ("canvas.get_assignments", "calendar.list_events"),
        calendar_and_due,
        parallel_calls=True,
    ),
    Intent("spaced_known_exam", ("study.spaced_schedule",), spaced_known_exam),
    Intent(
        "spaced_from_syllabus",
        ("canvas.list_courses", "canvas.get_syllabus", "study.spaced_schedule"),
        spaced_from_syllabus,
    ),
    Intent("semester_plan", ("study.semester_schedule",), semester_plan),
    Intent(
        "semester_plan_from_canvas",
        ("canvas.list_courses", "canvas.get_assignments", "study.semester_schedule"),
        semester_plan_from_canvas,
    ),
    Intent("exam_day", ("study.exam_bracket",), exam_day),
    Intent("exam_day_booked", ("study.exam_bracket", "calendar.create_event"), exam_day_booked),
    Intent("which_first_pair", ("reranker.priority_hint",), which_first_pair, needs_pairs=True),
    Intent("which_first_canvas", ("canvas.get_assignments", "reranker.priority_hint"), which_first_canvas),
    # No tool serves these: the right answer makes no call. The bench asks its own questions.
    Intent("off_topic", (), _off_topic(TRAIN_OFF_TOPIC), splits=frozenset({"train", "test"})),
    Intent("off_topic_bench", (), off_topic_held_out, splits=frozenset({"bench"})),
    # Bench only: calendar.create_event as the first call of the answer, which no training
    # conversation has it as (there it always follows the free-block search in one answer).
    Intent(
        "book_listed_block",
        ("calendar.find_free_blocks", "calendar.create_event"),
        book_listed_block,
        splits=frozenset({"bench"}),
        opens="calendar.create_event",
    ),
    Intent("book_named_slot", ("calendar.create_event",), book_named_slot, splits=frozenset({"bench"})),
)
