"""A simulated backend for the 18 tools, built from one student view, a calendar and a clock.

Every call is validated against the registry first; an invalid call gets an `error`
response (what a real tool server would answer), never an exception. The backend records
which Canvas courses and items its responses exposed, so each trajectory can name them.
Values the exports do not carry (current scores, announcements, planner notes) are
synthesized deterministically from the seed and the course; syllabus text is composed from
the course's real items.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from canvas_pipeline.data.calendar import Event, build_calendar, free_blocks, with_event
from canvas_pipeline.data.student_view import LOCAL_TZ, Course, Item, StudentView, local_iso
from canvas_pipeline.tools.codec import ToolCall
from canvas_pipeline.tools.registry import ToolRegistry, load_registry
from canvas_pipeline.tools.semantics import argument_issues

MAX_LISTED = 8
BLOCK_MINUTES = {
    "writing": 90,
    "problem_set": 60,
    "exam_prep": 50,
    "reading": 45,
    "review": 30,
    "admin": 20,
    "discussion": 30,
    "project_work": 120,
    "lab": 90,
}
PAIR_ITEM_RE = re.compile(
    r"^\[(?P<type>[A-Z]+)\] (?P<title>.+) @(?P<course>\S+) (?P<status>[A-Z_0-9]+) (?P<points>[\d.]+|\?)pts$"
)


@dataclass(frozen=True)
class PriorityPair:
    """A labelled "which first?" pair: item strings in the reranker's format and the winner."""

    pair_id: str
    query: str
    item_a: str
    item_b: str
    preferred: str
    courses: tuple[str, str]


PLURALS = {"quiz": "quizzes"}


def _count(n: int, noun: str) -> str:
    """ "1 quiz", "14 quizzes", "3 assignments"."""
    return f"{n} {noun if n == 1 else PLURALS.get(noun, noun + 's')}"


def pair_item_id(text: str) -> str:
    """The item id of a priority-pair item (the reranker's item string): what G2 keeps
    disjoint between splits."""
    return "pair_item:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _seeded_fraction(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF


def parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=LOCAL_TZ)
    return parsed


def item_status(item: Item, now: datetime) -> str:
    if item.state == "graded":
        return "GRADED"
    if item.state == "submitted":
        return "SUBMITTED"
    if item.due_at is None:
        return "NO_DUE_DATE"
    return "OVERDUE" if item.due_at < now else "UNSUBMITTED"


def item_label(item: Item, course: Course, now: datetime) -> str:
    """An item in the reranker's '[TYPE] Title @COURSEcode STATUS Npts' form."""
    points = "?" if item.points is None else f"{item.points:g}"
    return f"[{item.type_code}] {item.title} @{course.code.replace(' ', '_')} {item_status(item, now)} {points}pts"


def urgency(points: float | None, hours_until: float | None, done: bool) -> float:
    """The priority heuristic behind `reranker.priority_hint` when no labelled pair matches."""
    if done:
        return 0.0
    weight = math.log1p(points or 1.0) * 10
    if hours_until is None:
        return weight * 0.5
    if hours_until <= 0:
        return weight * 2.0
    return weight * (1.0 + 48.0 / (hours_until + 12.0))


@dataclass
class Backend:
    view: StudentView
    now: datetime
    seed: int
    pairs: Mapping[tuple[str, str], PriorityPair] = field(default_factory=dict)
    registry: ToolRegistry = field(default_factory=load_registry)
    events: list[Event] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.events:
            self.events = build_calendar(self.view, self.now, self.seed)
        self._handlers: dict[str, Callable[..., dict[str, Any]]] = {
            "canvas.list_courses": self.list_courses,
            "canvas.get_course": self.get_course,
            "canvas.get_assignments": self.get_assignments,
            "canvas.get_syllabus": self.get_syllabus,
            "canvas.get_todo": self.get_todo,
            "canvas.get_grades": self.get_grades,
            "canvas.list_announcements": self.list_announcements,
            "canvas.list_planner_items": self.list_planner_items,
            "calendar.list_events": self.list_events,
            "calendar.find_free_blocks": self.find_free_blocks,
            "calendar.create_event": self.create_event,
            "calendar.modify_event": self.modify_event,
            "calendar.delete_event": self.delete_event,
            "study.spaced_schedule": self.spaced_schedule,
            "study.semester_schedule": self.semester_schedule,
            "study.recommend_block_size": self.recommend_block_size,
            "study.exam_bracket": self.exam_bracket,
            "reranker.priority_hint": self.priority_hint,
        }
        missing = set(self.registry.names) - set(self._handlers)
        if missing:
            raise RuntimeError(f"backend has no handler for {sorted(missing)}")

    # ------------------------------------------------------------ dispatch

    def execute(self, call: ToolCall) -> dict[str, Any]:
        issues = argument_issues(call, self.registry)
        if issues:
            return {"error": "; ".join(f"{i.path or call.name}: {i.message}" for i in issues)}
        try:
            return self._handlers[call.name](**call.arguments)
        except ValueError as exc:  # e.g. an unparseable ISO date in a string argument
            return {"error": str(exc)}

    # ------------------------------------------------------------ helpers

    def _course_ref(self, course: Course) -> dict[str, Any]:
        self.touched.add(f"course:{course.course_id}")
        return {"course_id": course.course_id, "code": course.code, "name": course.short_name}

    def _item_ref(self, item: Item) -> dict[str, Any]:
        self.touched.add(f"item:{item.item_id}")
        self.touched.add(f"course:{item.course_id}")
        out: dict[str, Any] = {
            "id": item.item_id,
            "course_id": item.course_id,
            "title": item.title[:80],
            "type": item.type_code,
            "points": item.points,
            "due_at": None if item.due_at is None else local_iso(item.due_at),
            "status": item_status(item, self.now),
        }
        return out

    def _courses(self, course_id: int | None) -> list[Course] | dict[str, Any]:
        if course_id is None:
            return list(self.view.courses)
        course = self.view.course(course_id)
        if course is None:
            return {"error": f"no course with id {course_id} in this student's enrollments"}
        return [course]

    def _event_ref(self, event: Event) -> dict[str, Any]:
        return {
            "event_id": event.event_id,
            "title": event.title,
            "start": local_iso(event.start),
            "end": local_iso(event.end),
            "all_day": event.all_day,
        }

    # ------------------------------------------------------------ canvas

    def list_courses(self, active_only: bool = True) -> dict[str, Any]:
        return {"courses": [self._course_ref(c) for c in self.view.courses]}

    def get_course(self, course_id: int) -> dict[str, Any]:
        course = self.view.course(course_id)
        if course is None:
            return {"error": f"no course with id {course_id} in this student's enrollments"}
        kinds: dict[str, int] = {}
        for item in course.items:
            kinds[item.type_code] = kinds.get(item.type_code, 0) + 1
        return {
            **self._course_ref(course),
            "name": course.name,
            "term": course.term,
            "credit_hours": None,
            "instructors": [],
            "items_by_type": dict(sorted(kinds.items())),
        }

    def get_assignments(
        self, course_id: int | None = None, horizon_days: int = 14, include_submitted: bool = False
    ) -> dict[str, Any]:
        courses = self._courses(course_id)
        if isinstance(courses, dict):
            return courses
        until = self.now + timedelta(days=horizon_days)
        due = sorted(
            (
                i
                for c in courses
                for i in c.items
                if i.due_at is not None
                and self.now <= i.due_at <= until
                and (include_submitted or i.state == "unsubmitted")
            ),
            key=lambda i: (i.due_at, i.item_id),
        )
        return {
            "count": len(due),
            "assignments": [self._item_ref(i) for i in due[:MAX_LISTED]],
            "truncated": len(due) > MAX_LISTED,
        }

    def get_syllabus(self, course_id: int) -> dict[str, Any]:
        course = self.view.course(course_id)
        if course is None:
            return {"error": f"no course with id {course_id} in this student's enrollments"}
        self._course_ref(course)
        counts: dict[str, int] = {}
        for item in course.items:
            counts[item.kind] = counts.get(item.kind, 0) + 1
        exams = [i for i in course.items if i.is_exam]
        majors = sorted(
            (i for i in course.items if not i.is_exam and i.points), key=lambda i: (-(i.points or 0), i.item_id)
        )[:3]
        for item in exams + majors:
            self.touched.add(f"item:{item.item_id}")
        structure = ", ".join(_count(n, kind) for kind, n in sorted(counts.items()))
        exam_text = (
            "; ".join(f"{i.title} ({local_iso(i.due_at) if i.due_at else 'date to be announced'})" for i in exams)
            or "no exams listed"
        )
        major_text = "; ".join(f"{i.title} ({i.points:g} pts)" for i in majors) or "none listed"
        text = (
            f"{course.code}: {course.name}. Term: {course.term}. Graded work: {structure}. "
            f"Exams: {exam_text}. Major milestones: {major_text}. Credit hours: not listed in Canvas."
        )
        return {"course_id": course.course_id, "syllabus": text}

    def get_todo(self) -> dict[str, Any]:
        soon = self.now + timedelta(days=7)
        todo = sorted(
            (
                i
                for i in self.view.items
                if i.state == "unsubmitted"
                and i.due_at is not None
                and self.now - timedelta(days=2) <= i.due_at <= soon
            ),
            key=lambda i: (i.due_at, i.item_id),
        )
        return {
            "count": len(todo),
            "todo": [self._item_ref(i) for i in todo[:MAX_LISTED]],
            "truncated": len(todo) > MAX_LISTED,
        }

    def get_grades(self, course_id: int | None = None) -> dict[str, Any]:
        courses = self._courses(course_id)
        if isinstance(courses, dict):
            return courses
        grades = []
        for course in courses:
            score = round(68 + 30 * _seeded_fraction("grade", self.seed, course.course_id), 1)
            grades.append({**self._course_ref(course), "current_score": score})
        return {"grades": grades}

    def list_announcements(self, course_ids: list[int] | None = None, past_days: int = 7) -> dict[str, Any]:
        if course_ids:
            unknown = [cid for cid in course_ids if self.view.course(cid) is None]
            if unknown:
                return {"error": f"no course with id {unknown[0]} in this student's enrollments"}
            courses = [c for c in self.view.courses if c.course_id in course_ids]
        else:
            courses = list(self.view.courses)
        posts = []
        for course in courses:
            upcoming = [
                i
                for i in course.items
                if i.due_at is not None and self.now <= i.due_at <= self.now + timedelta(days=10)
            ]
            for item in upcoming[:2]:
                age = 1 + int(6 * _seeded_fraction("ann", self.seed, item.item_id))
                if age > past_days:
                    continue
                posted = self.now - timedelta(days=age)
                self.touched.add(f"item:{item.item_id}")
                posts.append(
                    {
                        **self._course_ref(course),
                        "title": f"Reminder: {item.title[:60]}",
                        "posted_at": local_iso(posted),
                        "message": f"{item.title[:60]} is due {local_iso(item.due_at)}. Submit on Canvas.",
                    }
                )
        posts.sort(key=lambda p: p["posted_at"], reverse=True)
        return {"count": len(posts), "announcements": posts[:MAX_LISTED]}

    def list_planner_items(self) -> dict[str, Any]:
        notes = []
        for item in self.view.dated_items():
            if item.due_at is None or not (self.now <= item.due_at <= self.now + timedelta(days=14)):
                continue
            if _seeded_fraction("plan", self.seed, item.item_id) < 0.5:
                continue
            self.touched.add(f"item:{item.item_id}")
            self.touched.add(f"course:{item.course_id}")
            start = item.due_at - timedelta(days=2)
            notes.append(
                {
                    "type": "note",
                    "title": f"Start {item.title[:60]}",
                    "date": local_iso(max(start, self.now)),
                    "course_id": item.course_id,
                }
            )
        return {"count": len(notes), "planner_items": notes[:MAX_LISTED]}

    # ------------------------------------------------------------ calendar

    def list_events(
        self,
        calendar_id: str = "primary",
        start_iso: str | None = None,
        end_iso: str | None = None,
        include_all_day: bool = True,
    ) -> dict[str, Any]:
        start = parse_iso(start_iso) if start_iso else self.now
        end = parse_iso(end_iso) if end_iso else start + timedelta(days=14)
        if end <= start:
            return {"error": "end_iso must be after start_iso"}
        hits = [
            e
            for e in self.events
            if e.calendar_id == calendar_id and e.overlaps(start, end) and (include_all_day or not e.all_day)
        ]
        return {
            "count": len(hits),
            "events": [self._event_ref(e) for e in hits[: MAX_LISTED + 4]],
            "truncated": len(hits) > MAX_LISTED + 4,
        }

    def find_free_blocks(
        self,
        min_minutes: int = 90,
        horizon_days: int = 7,
        earliest_hour: int = 7,
        latest_hour: int = 22,
        calendar_id: str = "primary",
        exclude_weekends: bool = False,
    ) -> dict[str, Any]:
        if earliest_hour >= latest_hour:
            return {"error": "earliest_hour must be before latest_hour"}
        blocks = free_blocks(
            self.events,
            self.now,
            min_minutes=min_minutes,
            horizon_days=horizon_days,
            earliest_hour=earliest_hour,
            latest_hour=latest_hour,
            exclude_weekends=exclude_weekends,
            calendar_id=calendar_id,
        )
        return {
            "count": len(blocks),
            "blocks": [
                {"start": local_iso(s), "end": local_iso(e), "minutes": int((e - s).total_seconds() // 60)}
                for s, e in blocks[:5]
            ],
        }

    def create_event(
        self,
        title: str,
        start_iso: str,
        end_iso: str,
        description: str = "",
        calendar_id: str = "primary",
        rationale: str = "",
    ) -> dict[str, Any]:
        start, end = parse_iso(start_iso), parse_iso(end_iso)
        if end <= start:
            return {"error": "end_iso must be after start_iso"}
        clashes = [e for e in self.events if not e.all_day and e.calendar_id == calendar_id and e.overlaps(start, end)]
        if clashes:
            return {"status": "conflict", "conflicts": [self._event_ref(e) for e in clashes[:3]]}
        event_id = "evt_" + hashlib.sha256(f"{title}|{start_iso}|{end_iso}".encode()).hexdigest()[:10]
        event = Event(event_id, title, start, end, calendar_id=calendar_id)
        self.events = with_event(self.events, event)
        return {"status": "created", **self._event_ref(event)}

    def _event(self, event_id: str) -> Event | None:
        return next((e for e in self.events if e.event_id == event_id), None)

    def modify_event(
        self,
        event_id: str,
        title: str | None = None,
        start_iso: str | None = None,
        end_iso: str | None = None,
        rationale: str = "",
    ) -> dict[str, Any]:
        event = self._event(event_id)
        if event is None:
            return {"error": f"no event with id {event_id!r}"}
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = title
        if start_iso is not None:
            changes["start"] = local_iso(parse_iso(start_iso))
        if end_iso is not None:
            changes["end"] = local_iso(parse_iso(end_iso))
        if not changes:
            return {"error": "nothing to change: give title, start_iso or end_iso"}
        return {
            "status": "pending_confirmation",
            "action": "modify",
            "event": self._event_ref(event),
            "changes": changes,
        }

    def delete_event(self, event_id: str, rationale: str) -> dict[str, Any]:
        event = self._event(event_id)
        if event is None:
            return {"error": f"no event with id {event_id!r}"}
        return {
            "status": "pending_confirmation",
            "action": "delete",
            "event": self._event_ref(event),
            "rationale": rationale,
        }

    # ------------------------------------------------------------ study

    def spaced_schedule(
        self, exam_iso: str, n_sessions: int = 4, minutes_per_session: int = 90, preferred_hour: int = 9
    ) -> dict[str, Any]:
        exam = parse_iso(exam_iso)
        lead = 14 if (exam - self.now).days >= 14 else max(1, min(7, (exam - self.now).days))
        # Expanding-then-contracting spacing: earlier sessions further apart.
        offsets = sorted({round(lead * (1 - k / n_sessions) ** 1.5) or 1 for k in range(n_sessions)}, reverse=True)
        while len(offsets) < n_sessions:
            offsets.append(max(1, offsets[-1] - 1) if offsets[-1] > 1 else 1)
        local_exam = exam.astimezone(LOCAL_TZ)
        sessions = []
        for offset in offsets[:n_sessions]:
            day = (local_exam - timedelta(days=offset)).date()
            start = datetime(day.year, day.month, day.day, preferred_hour, tzinfo=LOCAL_TZ)
            sessions.append(
                {"start": local_iso(start), "end": local_iso(start + timedelta(minutes=minutes_per_session))}
            )
        return {"exam": local_iso(exam), "sessions": sessions}

    def semester_schedule(
        self,
        semester_end_iso: str,
        deadlines: list[dict[str, Any]],
        weekly_hours_available: int = 10,
        ramp_factor: float = 1.5,
    ) -> dict[str, Any]:
        """Each deadline's estimated hours spread over the weeks before it (the last quarter
        of the remaining time weighted by `ramp_factor`), never more in a week than the
        student has (`weekly_hours_available`, ramped); past deadlines are skipped and said
        so, and no week is planned after the last deadline."""
        end = parse_iso(semester_end_iso)
        if end <= self.now:
            return {"error": "semester_end_iso is in the past"}
        if not deadlines:
            return {"error": "deadlines is empty"}
        dues = sorted(((parse_iso(d["due_iso"]), d) for d in deadlines), key=lambda pair: pair[0])
        skipped = [d["title"] for due, d in dues if due <= self.now]
        dues = [(min(due, end), d) for due, d in dues if due > self.now]
        if not dues:
            return {"error": "every deadline is already past", "skipped_past_deadlines": skipped}
        weeks = min(16, max(1, math.ceil((dues[-1][0] - self.now).total_seconds() / (7 * 86400))))
        ramp_start = math.floor(weeks * 0.75)
        weight = [ramp_factor if week >= ramp_start else 1.0 for week in range(weeks)]
        room = [weekly_hours_available * w for w in weight]
        hours = [0.0] * weeks
        focus: list[dict[str, float]] = [{} for _ in range(weeks)]
        unscheduled = 0.0
        for due, deadline in dues:
            before = [w for w in range(weeks) if self.now + timedelta(days=7 * w) < due and room[w] > hours[w]]
            left = float(deadline["estimated_hours"])
            while left > 1e-9 and before:
                total_weight = sum(weight[w] for w in before)
                for w in list(before):
                    take = min(left * weight[w] / total_weight, room[w] - hours[w])
                    hours[w] += take
                    focus[w][deadline["title"]] = focus[w].get(deadline["title"], 0.0) + take
                left = float(deadline["estimated_hours"]) - sum(f.get(deadline["title"], 0.0) for f in focus)
                before = [w for w in before if room[w] - hours[w] > 1e-9]
            unscheduled += max(0.0, left)
        plan = [
            {
                "week_of": local_iso(self.now + timedelta(days=7 * w))[:10],
                "hours": round(hours[w], 1),
                "focus": max(focus[w], key=lambda title: focus[w][title]),
            }
            for w in range(weeks)
            if hours[w] > 0.05
        ]
        out: dict[str, Any] = {
            "weeks": plan,
            "total_estimated_hours": sum(d["estimated_hours"] for _, d in dues),
        }
        if skipped:
            out["skipped_past_deadlines"] = skipped
        if unscheduled > 0.05:
            out["unscheduled_hours"] = round(unscheduled, 1)
        return out

    def recommend_block_size(self, task_type: str) -> dict[str, Any]:
        return {"task_type": task_type, "minutes": BLOCK_MINUTES[task_type]}

    def exam_bracket(self, exam_start_iso: str, exam_end_iso: str, review_minutes: int = 45) -> dict[str, Any]:
        start, end = parse_iso(exam_start_iso), parse_iso(exam_end_iso)
        if end <= start:
            return {"error": "exam_end_iso must be after exam_start_iso"}
        review_start = start - timedelta(minutes=review_minutes + 30)
        return {
            "review": {
                "start": local_iso(review_start),
                "end": local_iso(review_start + timedelta(minutes=review_minutes)),
            },
            "recovery": {"start": local_iso(end), "end": local_iso(end + timedelta(minutes=60))},
        }

    def priority_hint(self, query: str, item_a: str, item_b: str) -> dict[str, Any]:
        labelled = self.pairs.get((item_a, item_b))
        if labelled is not None:
            self.touched.update(pair_item_id(text) for text in (labelled.item_a, labelled.item_b))
            return {"more_urgent": labelled.preferred, "source": "priority model"}
        scores = []
        for text in (item_a, item_b):
            match = PAIR_ITEM_RE.match(text)
            if not match:
                return {"error": f"item {text[:60]!r} is not in the form '[TYPE] Title @COURSEcode STATUS Npts'"}
            status, points = match["status"], match["points"]
            done = status in ("GRADED", "SUBMITTED")
            hours = self._hours_until(match["title"], match["course"])
            scores.append(
                urgency(None if points == "?" else float(points), hours if status != "OVERDUE" else 0.0, done)
            )
        return {"more_urgent": "A" if scores[0] >= scores[1] else "B", "source": "priority model"}

    def _hours_until(self, title: str, course_code: str) -> float | None:
        for course in self.view.courses:
            if course.code.replace(" ", "_") != course_code:
                continue
            for item in course.items:
                if item.title == title and item.due_at is not None:
                    return (item.due_at - self.now).total_seconds() / 3600
        return None
