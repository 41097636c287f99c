"""Course-name augmentation for SFT rows: the same conversation about a course the data
does not hold.

A split's conversations name only that split's courses, and the eval split and the bench
ask about held-out ones. A small model trained on four course names learns "What's in
Technical Writing?" -> `canvas.get_course` for those four names and derails on a fifth
(measured on the tiny profile: 21 of 21 train follow-ups right, 0 of 9 held-out ones; the
same held-out requests with a train course's name swapped in, 5 of 9). Swapping each
course's name and code, consistently through a row's requests, tool responses and answers,
for a generated one teaches the request's shape instead of the names.

Generated names never equal a course name of the data (train or held-out): the held-out
courses stay unseen. Course ids are left as they are: they are what the model copies from
a tool response into the next call, and the row's calls still point where its responses say.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canvas_pipeline.data.course_names import course_label, spoken_name

# (department code, subject): the subjects generated names are built from.
SUBJECTS: tuple[tuple[str, str], ...] = (
    ("ANTH", "Cultural Anthropology"),
    ("ARCH", "Architectural Design"),
    ("ART", "Studio Art"),
    ("ASTR", "Astronomy"),
    ("BIOL", "Cell Biology"),
    ("BIOL", "Genetics"),
    ("BMES", "Biomechanics"),
    ("BUS", "Business Law"),
    ("CHEM", "Organic Chemistry"),
    ("CHEM", "Analytical Chemistry"),
    ("CLA", "Classical Mythology"),
    ("COMM", "Public Speaking"),
    ("CS", "Data Structures"),
    ("CS", "Operating Systems"),
    ("CS", "Machine Learning"),
    ("CS", "Computer Networks"),
    ("ECE", "Digital Logic"),
    ("ECE", "Signals and Systems"),
    ("ECON", "Microeconomics"),
    ("EDU", "Educational Psychology"),
    ("ENGL", "British Literature"),
    ("ENGL", "Creative Writing"),
    ("ENGR", "Engineering Design"),
    ("ENT", "Entomology"),
    ("FIN", "Corporate Finance"),
    ("FREN", "French"),
    ("GEOG", "Human Geography"),
    ("GEOS", "Physical Geology"),
    ("HIST", "American History"),
    ("HIST", "Medieval Europe"),
    ("HNFE", "Human Nutrition"),
    ("ISE", "Operations Research"),
    ("MATH", "Linear Algebra"),
    ("MATH", "Multivariable Calculus"),
    ("MATH", "Discrete Mathematics"),
    ("ME", "Thermodynamics"),
    ("ME", "Fluid Mechanics"),
    ("MGT", "Organizational Behavior"),
    ("MUS", "Music Theory"),
    ("NEUR", "Neuroscience"),
    ("PHIL", "Ethics"),
    ("PHIL", "Logic"),
    ("PHYS", "Modern Physics"),
    ("PSCI", "Comparative Politics"),
    ("PSYC", "Developmental Psychology"),
    ("SOC", "Sociology"),
    ("SPAN", "Spanish"),
    ("STAT", "Probability"),
)
FORMS: tuple[str, ...] = (
    "{s}",
    "Introduction to {s}",
    "Principles of {s}",
    "{s} I",
    "{s} II",
    "Topics in {s}",
    "Applied {s}",
    "{s} Laboratory",
    "Advanced {s}",
    "Foundations of {s}",
)
_TERM_SUFFIX = re.compile(r"_(\d{6})$")


@dataclass(frozen=True)
class Course:
    name: str
    code: str

    @property
    def short_name(self) -> str:
        """The name as tool responses list it (`student_view.Course.short_name`)."""
        return self.name if len(self.name) <= 48 else self.name[:45].rstrip() + "..."

    @property
    def forms(self) -> tuple[str, ...]:
        """Every way a row names it: full, as listed, as answers say it, by code and label."""
        return (self.name, self.short_name, spoken_name(self.name, self.code), self.code, course_label(self.code))


class CourseSwapper:
    """Swaps a row's courses for generated ones (names never in `reserved`)."""

    def __init__(self, courses: Iterable[Course], reserved: Iterable[str] = ()) -> None:
        # Longest first, so "Computer Science Seminar" is replaced before a shorter name inside it.
        self.courses = sorted({c.name: c for c in courses}.values(), key=lambda c: -len(c.name))
        taken = {c.name.lower() for c in self.courses} | {n.lower() for n in reserved}
        self.labels = {course_label(c.code) for c in self.courses}
        self.names = [
            (dept, form.format(s=subject))
            for dept, subject in SUBJECTS
            for form in FORMS
            if form.format(s=subject).lower() not in taken
        ]

    def new_course(self, old: Course, rng: random.Random, used: set[str]) -> Course:
        dept, name = rng.choice([n for n in self.names if n[1] not in used])
        suffix = _TERM_SUFFIX.search(old.code)
        while True:  # a label ("CS 3704") no data course has: it would survive the swap
            code = f"{dept}_{rng.randint(1000, 4999)}_{rng.randint(10000, 99999)}" + (
                f"_{suffix.group(1)}" if suffix else ""
            )
            if course_label(code) not in self.labels:
                return Course(name, code)

    def swap(self, row: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
        """`row` with every course it mentions renamed (one new name and code per course,
        the same through the whole conversation); unchanged when it mentions none."""
        text = json.dumps(row["messages"], ensure_ascii=False)
        mentioned = [c for c in self.courses if any(form in text for form in c.forms)]
        if not mentioned:
            return dict(row)
        used: set[str] = set()
        mapping: list[tuple[str, str]] = []
        for course in mentioned:
            new = self.new_course(course, rng, used)
            used.add(new.name)
            mapping += [(old, fresh) for old, fresh in zip(course.forms, new.forms, strict=True) if old != fresh]
        return {**row, "messages": [_replace(m, dict(mapping)) for m in row["messages"]]}


def _replace(value: Any, mapping: dict[str, str]) -> Any:
    """Every occurrence of a key replaced by its value in one pass, longest key first: a
    name that contains another course's name or code is not renamed twice."""
    if isinstance(value, str):
        pattern = re.compile("|".join(re.escape(old) for old in sorted(mapping, key=len, reverse=True)))
        return pattern.sub(lambda m: mapping[m.group(0)], value)
    if isinstance(value, list):
        return [_replace(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, mapping) for k, v in value.items()}
    return value


def swap_share(rows: Sequence[dict[str, Any]], swapper: CourseSwapper, share: float, seed: int) -> list[dict[str, Any]]:
    """`rows` with a seeded `share` of them course-swapped (order kept)."""
    rng = random.Random(seed)
    return [swapper.swap(row, rng) if rng.random() < share else dict(row) for row in rows]


def data_courses(data_dir: Path) -> list[Course]:
    """Every course of the curated data (train and held-out): the names a swap replaces and
    never generates."""
    import polars as pl

    path = Path(data_dir) / "curated" / "scrubbed_items.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: course swapping needs the curated items; materialize them first")
    frame = pl.read_parquet(path, columns=["course_name", "course_code"]).unique().sort("course_code")
    return [Course(name, code) for name, code in frame.iter_rows()]
