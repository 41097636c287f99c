"""The student's calendar: fixed weekly events (class meetings, work, routines) around a
clock, built deterministically from the view's courses and a seed, and free-block search."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from canvas_pipeline.data.student_view import LOCAL_TZ, Course, StudentView

# Meeting patterns as (weekdays, start, minutes); Monday is 0.
MEETING_PATTERNS: tuple[tuple[tuple[int, ...], time, int], ...] = (
    ((0, 2, 4), time(8, 0), 50),
    ((0, 2, 4), time(9, 5), 50),
    ((0, 2, 4), time(10, 10), 50),
    ((0, 2, 4), time(11, 15), 50),
    ((0, 2, 4), time(12, 20), 50),
    ((0, 2, 4), time(13, 25), 50),
    ((1, 3), time(8, 0), 75),
    ((1, 3), time(9, 30), 75),
    ((1, 3), time(11, 0), 75),
    ((1, 3), time(12, 30), 75),
    ((1, 3), time(14, 0), 75),
    ((1, 3), time(15, 30), 75),
)

ROUTINES: tuple[tuple[str, tuple[int, ...], time, int], ...] = (
    ("Shift at the campus library", (1, 3), time(17, 0), 180),
    ("Gym", (0, 2, 4), time(7, 0), 60),
    ("Robotics club meeting", (2,), time(19, 0), 90),
    ("Intramural soccer", (5,), time(10, 0), 120),
    ("Tutoring center hours", (0,), time(15, 0), 120),
    ("Weekly call home", (6,), time(18, 0), 60),
    ("Research group meeting", (4,), time(14, 0), 60),
)


@dataclass(frozen=True)
class Event:
    event_id: str
    title: str
    start: datetime
    end: datetime
    all_day: bool = False
    calendar_id: str = "primary"

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


def _event_id(*parts: object) -> str:
    return "evt_" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:10]


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=LOCAL_TZ)


def _weekly(
    title: str, weekdays: tuple[int, ...], clock: time, minutes: int, first: date, last: date, key: str
) -> list[Event]:
    out = []
    length = timedelta(minutes=minutes)
    for weekday in weekdays:
        day = first + timedelta(days=(weekday - first.weekday()) % 7)
        while day <= last:
            start = _at(day, clock)
            out.append(Event(_event_id(key, day.isoformat()), title, start, start + length))
            day += timedelta(days=7)
    return out


def _meeting_slots(courses: tuple[Course, ...], seed: int) -> dict[int, int]:
    """A distinct meeting pattern per course (patterns overlapping in time are not reused)."""
    rng = random.Random(f"meetings:{seed}:{','.join(str(c.course_id) for c in courses)}")
    order = list(range(len(MEETING_PATTERNS)))
    rng.shuffle(order)
    chosen: dict[int, int] = {}
    for course, slot in zip(courses, order, strict=False):
        chosen[course.course_id] = slot
    return chosen


def build_calendar(
    view: StudentView, now: datetime, seed: int, past_days: int = 3, ahead_days: int = 24
) -> list[Event]:
    """Class meetings for every course in the view, a few personal routines, and an all-day
    event, in [now - past_days, now + ahead_days], sorted by start."""
    local_now = now.astimezone(LOCAL_TZ)
    first = (local_now - timedelta(days=past_days)).date()
    last = (local_now + timedelta(days=ahead_days)).date()
    events: list[Event] = []
    slots = _meeting_slots(view.courses, seed)
    for course in view.courses:
        if course.course_id not in slots:
            continue
        weekdays, clock, minutes = MEETING_PATTERNS[slots[course.course_id]]
        title = f"{course.label} class"
        events += _weekly(title, weekdays, clock, minutes, first, last, f"class:{course.course_id}")
    rng = random.Random(f"routines:{seed}:{view.term}:{view.split}")
    for title, weekdays, clock, minutes in rng.sample(ROUTINES, k=4):
        events += _weekly(title, weekdays, clock, minutes, first, last, f"routine:{title}")
    holiday = local_now.date() + timedelta(days=rng.randint(3, 20))
    events.append(
        Event(
            _event_id("allday", holiday),
            "Campus career fair",
            _at(holiday, time(0, 0)),
            _at(holiday + timedelta(days=1), time(0, 0)),
            all_day=True,
        )
    )
    # Keep only events that do not collide with an earlier one (routines yield to classes);
    # timed events never span midnight, so collisions are looked for within a day.
    kept: list[Event] = []
    by_day: dict[date, list[Event]] = {}
    for event in sorted(events, key=lambda e: (e.start, e.event_id)):
        if not event.all_day:
            same_day = by_day.setdefault(event.start.date(), [])
            if any(k.overlaps(event.start, event.end) for k in same_day):
                continue
            same_day.append(event)
        kept.append(event)
    return sorted(kept, key=lambda e: (e.start, e.event_id))


def free_blocks(
    events: list[Event],
    now: datetime,
    *,
    min_minutes: int,
    horizon_days: int,
    earliest_hour: int,
    latest_hour: int,
    exclude_weekends: bool,
    calendar_id: str = "primary",
) -> list[tuple[datetime, datetime]]:
    """Free intervals of at least `min_minutes` inside each day's [earliest_hour, latest_hour)
    window, from now (rounded up to the next half hour) to now + horizon_days."""
    local_now = now.astimezone(LOCAL_TZ)
    start_floor = local_now.replace(second=0, microsecond=0)
    if start_floor.minute % 30:
        start_floor += timedelta(minutes=30 - start_floor.minute % 30)
    busy = sorted((e.start, e.end) for e in events if not e.all_day and e.calendar_id == calendar_id)
    blocks: list[tuple[datetime, datetime]] = []
    for offset in range(horizon_days + 1):
        day = local_now.date() + timedelta(days=offset)
        if exclude_weekends and day.weekday() >= 5:
            continue
        window_start = max(_at(day, time(earliest_hour % 24, 0)), start_floor)
        window_end = _at(day, time(latest_hour, 0)) if latest_hour < 24 else _at(day + timedelta(days=1), time(0, 0))
        horizon_end = local_now + timedelta(days=horizon_days)
        window_end = min(window_end, horizon_end)
        cursor = window_start
        for b_start, b_end in busy:
            if b_end <= cursor or b_start >= window_end:
                continue
            if (b_start - cursor) >= timedelta(minutes=min_minutes):
                blocks.append((cursor, b_start))
            cursor = max(cursor, b_end)
        if (window_end - cursor) >= timedelta(minutes=min_minutes):
            blocks.append((cursor, window_end))
    return blocks


def with_event(events: list[Event], event: Event) -> list[Event]:
    return sorted([*events, event], key=lambda e: (e.start, e.event_id))
