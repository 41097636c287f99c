"""What one simulated student sees: the courses of a term (on one side of the split), their
items, and a clock. Built from the scrubbed items table."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl

from canvas_pipeline.data.course_names import course_label, spoken_name

LOCAL_TZ = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Item:
    item_id: int
    course_id: int
    kind: str
    title: str
    due_at: datetime | None
    points: float | None
    state: str
    is_exam: bool

    @property
    def type_code(self) -> str:
        if self.is_exam:
            return "EXAM"
        return {"assignment": "ASGN", "quiz": "QUIZ", "discussion": "DISC"}[self.kind]


@dataclass(frozen=True)
class Course:
    course_id: int
    code: str
    name: str
    term: str
    items: tuple[Item, ...]

    @property
    def short_name(self) -> str:
        return self.name if len(self.name) <= 48 else self.name[:45].rstrip() + "..."

    @property
    def spoken(self) -> str:
        """How a student names it ("General Chemistry", "CHEM 1045"): what answers say."""
        return spoken_name(self.name, self.code)

    @property
    def label(self) -> str:
        return course_label(self.code)


@dataclass(frozen=True)
class StudentView:
    """A term's courses on one side of the split (train or test)."""

    term: str
    split: str
    courses: tuple[Course, ...]

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(i for c in self.courses for i in c.items)

    def course(self, course_id: int) -> Course | None:
        return next((c for c in self.courses if c.course_id == course_id), None)

    def enrolled(self, course_ids: Iterable[int]) -> StudentView:
        """The view of a student taking only `course_ids` of this view's courses (in the
        view's order); raises KeyError naming the ids the view does not hold."""
        wanted = {int(c) for c in course_ids}
        unknown = wanted - {c.course_id for c in self.courses}
        if unknown or not wanted:
            raise KeyError(f"{self.split} view of {self.term!r} has no courses {sorted(unknown) or '(none given)'}")
        return replace(self, courses=tuple(c for c in self.courses if c.course_id in wanted))

    def as_of(self, now: datetime, seed: int) -> StudentView:
        """The view as it looked at `now`: work due later cannot be graded yet. Exports are
        collected after the term, so an item due after `now` becomes unsubmitted (or, for a
        seeded one in seven, submitted early)."""
        future = self._future_items(seed)
        courses = tuple(
            replace(
                c, items=tuple(future[i.item_id] if i.due_at is not None and i.due_at > now else i for i in c.items)
            )
            for c in self.courses
        )
        return replace(self, courses=courses)

    def _future_items(self, seed: int) -> dict[int, Item]:
        """Each item as it looks before its due time (computed once per view and seed)."""
        cache: dict[int, dict[int, Item]] = self.__dict__.setdefault("_future_cache", {})
        if seed not in cache:
            variants = {}
            for item in self.items:
                if item.state == "unsubmitted":
                    variants[item.item_id] = item
                    continue
                digest = hashlib.sha256(f"early|{seed}|{item.item_id}".encode()).digest()
                variants[item.item_id] = replace(item, state="submitted" if digest[0] % 7 == 0 else "unsubmitted")
            cache[seed] = variants
        return cache[seed]

    def dated_items(self) -> list[Item]:
        return sorted((i for i in self.items if i.due_at is not None), key=lambda i: (i.due_at, i.item_id))


def views_from_items(items: pl.DataFrame, split_of_course: dict[int, str]) -> list[StudentView]:
    """Group scrubbed items into one view per (term, split), courses and items in id order."""
    courses: dict[int, list[Item]] = {}
    meta: dict[int, tuple[str, str, str]] = {}
    for row in items.sort("item_id").iter_rows(named=True):
        cid = row["course_id"]
        meta[cid] = (row["course_code"], row["course_name"], row["term"])
        courses.setdefault(cid, []).append(
            Item(
                item_id=row["item_id"],
                course_id=cid,
                kind=row["item_kind"],
                title=row["title"],
                due_at=row["due_at"],
                points=row["points"],
                state=row["submission_state"],
                is_exam=row["is_exam"],
            )
        )
    grouped: dict[tuple[str, str], list[Course]] = {}
    for cid in sorted(courses):
        code, name, term = meta[cid]
        grouped.setdefault((term, split_of_course[cid]), []).append(Course(cid, code, name, term, tuple(courses[cid])))
    return [StudentView(term, split, tuple(cs)) for (term, split), cs in sorted(grouped.items())]


def local_iso(moment: datetime) -> str:
    """ISO 8601 in the student's time zone, seconds precision, with offset."""
    return moment.astimezone(LOCAL_TZ).replace(microsecond=0).isoformat()


def human_time(moment: datetime) -> str:
    local = moment.astimezone(LOCAL_TZ)
    return local.strftime("%a %b %d, %I:%M %p").replace(" 0", " ")


def human_date(moment: datetime) -> str:
    local = moment.astimezone(LOCAL_TZ)
    return local.strftime("%A, %B %d, %Y").replace(" 0", " ")
