"""A deterministic, realistic demo term: the raw input used when the pipeline is given no
raw directory. It needs nothing outside the package (no ../shared folder).

`write_demo_term(out_dir, config)` writes two files in raw shapes the ingest already accepts
(shared/data/README.md, `canvas_pipeline.data.raw_shapes`):

``demo_courses.json``
    A JSON list of Canvas REST API course objects (``id``, ``name``, ``course_code``,
    ``term{name}``, ``assignments[{id, name, points_possible, submission_types, due_at,
    submission{submitted_at, graded_at, workflow_state, score}}]``) for a term of courses
    across departments: computer systems, differential equations, a chemistry lab, technical
    writing, modern history, a project-heavy capstone, a one-credit seminar, statistics (then
    physics and economics, then further sections when more courses are asked for).
    Due times are 11:59:59 pm Eastern (``...T03:59:59Z`` in summer time, ``...T04:59:59Z`` in
    winter time), the start of class for in-class quizzes, the end of class for midterms and a
    two-hour finals-week slot for final exams. Items due before "now" (`demo_now`: noon Eastern
    on the Monday ``weeks // 2`` weeks into the term) are mostly graded, recently due ones
    often only submitted, and a few are missing (``unsubmitted``); items due later are
    unsubmitted; a few items have no due date.

``demo_priority_pairs.jsonl``
    A ``metadata`` line (``course_map`` from Canvas course id to ``COURSE001``.., ``courses``
    with code, name, course_type and credits) then ``n_pairs`` ``pair`` lines: a "which
    first?" query over two anonymized items of the demo courses (``"25-point quiz, due in 3
    days, unsubmitted"``) and the preferred one, in the shape of the real
    ``priority_pairs_anon.jsonl``.

Urgency (`urgency_score`), the number every pair is decided by::

    points_weight = 10 * (1 + log2(1 + points / 10))     # 0 pts -> 10, 10 -> 20, 150 -> 50
    kind_factor   = 1.25 for exams, 1.0 otherwise; x0.5 for extra credit
    time_pressure = 3.0                 overdue and unsubmitted (missing: boosted)
                    1 + 36 / (h + 18)   due in h > 0 hours (-> 3.0 now, 1.86 in a day, 1.2 in a week)
                    0.5                 no due date
                    0.1                 already submitted or graded (nothing left to do)
    urgency       = round(points_weight * kind_factor * time_pressure, 1)

The preferred side of a pair always has the higher urgency, and pairs closer than
`MIN_URGENCY_DIFF` are never emitted. ``difficulty`` labels the urgency gap with the bands the
real pairs file uses (gap < 5: ``very_easy``, < 15: ``easy``, < 30: ``medium``, else ``hard``).

Randomness comes only from ``random.Random(config.seed)`` (the courses) and
``random.Random(f"demo-pairs:{seed}")`` (the pairs; `random` seeds from a string through
SHA-512), never the global generator or ``hash()``, and files are written with sorted keys, so
one seed gives byte-identical files. The content
is invented demo material: no person names, emails or other personal data.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from canvas_pipeline.data.io import atomic_write_text, write_jsonl

COURSES_FILE = "demo_courses.json"
PAIRS_FILE = "demo_priority_pairs.jsonl"
MIN_URGENCY_DIFF = 3.0
MISSING_RATE = 0.07
LATE_RATE = 0.08
EASTERN = ZoneInfo("America/New_York")

# pair-item type and sub_type (the vocabulary of the real pairs file, plus discussions)
PAIR_TYPES: dict[str, tuple[str, str]] = {
    "assignment": ("graded_assignment", "graded_assessment"),
    "quiz": ("quiz", "graded_assessment"),
    "exam": ("exam", "exam"),
    "discussion": ("discussion", "discussion_post"),
    "participation": ("participation", "classroom_participation"),
}
_KIND_PHRASE = {
    "assignment": "graded assignment",
    "quiz": "quiz",
    "exam": "exam",
    "discussion": "discussion",
    "participation": "participation",
}
_DIFFICULTY_BANDS: tuple[tuple[float, str], ...] = ((5.0, "very_easy"), (15.0, "easy"), (30.0, "medium"))


@dataclass(frozen=True)
class DemoTermConfig:
    """What to generate. `term_start` is the Monday of the first week of classes; the last
    of the `weeks` weeks is finals week."""

    seed: int = 0
    term_name: str = "2026 Fall"
    term_start: date = date(2026, 8, 24)
    weeks: int = 16
    n_courses: int = 8
    n_pairs: int = 400

    def __post_init__(self) -> None:
        if not 6 <= self.weeks <= 30:
            raise ValueError(f"weeks must be between 6 and 30, not {self.weeks}")
        if self.n_courses < 1:
            raise ValueError(f"n_courses must be at least 1, not {self.n_courses}")
        if self.n_pairs < 0:
            raise ValueError(f"n_pairs must not be negative, not {self.n_pairs}")
        if not self.term_name.strip():
            raise ValueError("term_name must not be empty")


DEFAULT_DEMO_CONFIG = DemoTermConfig()


def demo_now(config: DemoTermConfig = DEFAULT_DEMO_CONFIG) -> datetime:
    """The demo's "now" (UTC): noon Eastern on the Monday `weeks // 2` weeks into the term."""
    day = config.term_start + timedelta(weeks=config.weeks // 2)
    return datetime.combine(day, time(12, 0), tzinfo=EASTERN).astimezone(UTC)


def urgency_score(
    points: float | None,
    hours_until: float | None,
    *,
    submitted: bool,
    is_exam: bool = False,
    is_extra_credit: bool = False,
) -> float:
    """The documented urgency of one item (module docstring): points weight x time pressure.
    `hours_until` is None for no due date and <= 0 once the item is due."""
    weight = 10.0 * (1.0 + math.log2(1.0 + max(points or 0.0, 0.0) / 10.0))
    if is_exam:
        weight *= 1.25
    if is_extra_credit:
        weight *= 0.5
    return round(weight * _time_pressure(submitted, hours_until), 1)


def _time_pressure(submitted: bool, hours_until: float | None) -> float:
    """The time-pressure factor of `urgency_score`, for the pair's signals."""
    if submitted:
        return 0.1
    if hours_until is None:
        return 0.5
    return 3.0 if hours_until <= 0 else 1.0 + 36.0 / (hours_until + 18.0)


# ---------------------------------------------------------------- the term's items


@dataclass(frozen=True)
class _Item:
    """One generated Canvas item before ids and submission state are attached."""

    title: str
    kind: str  # assignment | quiz | exam | discussion | participation
    points: float
    due: datetime | None
    submission_types: tuple[str, ...]
    extra_credit: bool = False


@dataclass(frozen=True)
class _Template:
    """A course archetype: catalogue data, meeting pattern and the builder of its items."""

    dept: str
    number: str
    name: str
    course_type: str
    credits: int
    days: tuple[int, ...]  # meeting weekdays, Monday 0
    start: time
    minutes: int
    final_day: int  # finals-week weekday of the final exam slot
    final_start: time
    exams: tuple[str, str, str] | None  # two midterms and the final, for exam-bearing courses
    build: Callable[[_Builder], None]


@dataclass
class _Builder:
    """Schedules the items of one course inside the term."""

    rng: random.Random
    config: DemoTermConfig
    template: _Template
    items: list[_Item] = field(default_factory=list)

    @property
    def weeks(self) -> int:
        return self.config.weeks

    @property
    def finals_week(self) -> int:
        return self.config.weeks - 1

    @property
    def midterm_weeks(self) -> tuple[int, int]:
        return int(self.weeks * 0.35 + 0.5), int(self.weeks * 0.65 + 0.5)

    def day(self, week: int, weekday: int) -> date:
        return self.config.term_start + timedelta(days=7 * week + weekday)

    def local(self, week: int, weekday: int, clock: time) -> datetime:
        """A local (Eastern) wall-clock time in the term, as an aware UTC datetime."""
        return datetime.combine(self.day(week, weekday), clock, tzinfo=EASTERN).astimezone(UTC)

    def night(self, week: int, weekday: int) -> datetime:
        """11:59:59 pm Eastern on that day."""
        return self.local(week, weekday, time(23, 59, 59))

    def class_start(self, week: int, meeting: int = 0) -> datetime:
        return self.local(week, self.template.days[meeting % len(self.template.days)], self.template.start)

    def class_end(self, week: int, meeting: int = 0) -> datetime:
        return self.class_start(week, meeting) + timedelta(minutes=self.template.minutes)

    def add(
        self,
        title: str,
        kind: str,
        points: float,
        due: datetime | None,
        types: tuple[str, ...],
        extra_credit: bool = False,
    ) -> None:
        self.items.append(_Item(title, kind, float(points), due, types, extra_credit))

    def exams(self, points: tuple[float, float, float]) -> None:
        """Two midterms at the end of class in the midterm weeks and a two-hour final."""
        assert self.template.exams is not None
        first, second, final = self.template.exams
        for week, title, pts in zip(self.midterm_weeks, (first, second), points, strict=False):
            meeting = self.rng.randrange(len(self.template.days))
            self.add(title, "exam", pts, self.class_end(week, meeting), ("on_paper",))
        final_at = self.local(self.finals_week, self.template.final_day, self.template.final_start)
        self.add(final, "exam", points[2], final_at + timedelta(hours=2), ("on_paper",))

    def teaching_weeks(self, first: int = 1, skip_exams: bool = False) -> list[int]:
        """Weeks with regular coursework: `first` .. the week before finals."""
        skip = set(self.midterm_weeks) if skip_exams else set()
        return [w for w in range(first, self.finals_week) if w not in skip]


def _pick(rng: random.Random, pool: tuple[str, ...], n: int, keep_order: bool = False) -> list[str]:
    """n topics from a pool (cycled with a part number when the pool is short)."""
    order = list(pool) if keep_order else rng.sample(pool, len(pool))
    return [order[i % len(order)] + ("" if i < len(order) else f" (Part {i // len(order) + 1})") for i in range(n)]


_UPLOAD = ("online_upload",)
_TEXT = ("online_text_entry",)
_TEXT_UPLOAD = ("online_text_entry", "online_upload")
_QUIZ = ("online_quiz",)
_DISC = ("discussion_topic",)
_TOOL = ("external_tool",)


def _build_systems(b: _Builder) -> None:
    rng = b.rng
    projects = (
        "Customizable Shell",
        "Fork-Join Threadpool",
        "Dynamic Memory Allocator",
        "Personal Web Server",
    )
    quiz_topics = (
        "Processes and Signals",
        "Virtual Memory",
        "Concurrency and Locks",
        "Linking and Loading",
        "Networking Basics",
        "File Systems",
    )
    b.add("Syllabus Quiz", "quiz", 5, b.class_start(0), _QUIZ)
    due_day = rng.choice((1, 3))
    for n, week in enumerate((w for w in b.teaching_weeks() if w % 3 != 0), start=1):
        b.add(f"Exercise {n}", "assignment", rng.choice((10, 12, 15, 20)), b.night(week, due_day), _UPLOAD)
    quiz_weeks = [w for w in b.teaching_weeks(skip_exams=True) if w % 3 == 0]
    for n, (week, topic) in enumerate(zip(quiz_weeks, _pick(rng, quiz_topics, len(quiz_weeks)), strict=True), 1):
        b.add(f"Quiz {n}: {topic}", "quiz", 10, b.class_start(week), _QUIZ)
    for k, name in enumerate(projects, start=1):
        week = max(1, min(b.finals_week, int(b.weeks * k / 5 + 0.5)))
        if k % 2 == 0:
            b.add(f"Project {k} Milestone: Design Document", "assignment", 20, b.night(week - 1, 4), _UPLOAD)
        b.add(f"Project {k}: {name}", "assignment", rng.choice((100, 120, 150)), b.night(week, 4), _UPLOAD)
    b.exams((100, 100, 200))
    b.add("Extra Credit: Course Feedback Form", "assignment", 5, None, _TEXT, extra_credit=True)


def _build_diffeq(b: _Builder) -> None:
    rng = b.rng
    topics = (
        "First-Order Linear Equations",
        "Separable Equations",
        "Exact Equations",
        "Modeling with First-Order Equations",
        "Second-Order Linear Equations",
        "Undetermined Coefficients",
        "Variation of Parameters",
        "Mechanical Vibrations",
        "Laplace Transforms",
        "Step Functions and Impulses",
        "Convolution",
        "Systems of Equations",
        "Eigenvalue Methods",
        "Phase Portraits",
        "Series Solutions",
        "Numerical Methods",
    )
    weeks = b.teaching_weeks()
    points = rng.choice((20, 25))
    for n, (week, topic) in enumerate(zip(weeks, _pick(rng, topics, len(weeks), keep_order=True), strict=True), 1):
        b.add(f"Problem Set {n}: {topic}", "assignment", points, b.night(week, 4), _UPLOAD)
    quiz_weeks = [w for w in b.teaching_weeks(first=2, skip_exams=True) if w % 2 == 0]
    for n, week in enumerate(quiz_weeks, start=1):
        b.add(f"Quiz {n}", "quiz", 10, b.class_start(week, 1), _QUIZ)
    b.exams((100, 100, 150))


def _build_chem_lab(b: _Builder) -> None:
    rng = b.rng
    experiments = (
        "Density of Liquids and Solids",
        "Separation of a Mixture",
        "Chemical Reactions",
        "Stoichiometry of a Precipitate",
        "Titration of an Acid",
        "Gas Laws",
        "Calorimetry and Heat Capacity",
        "Spectrophotometry",
        "Molecular Geometry Models",
        "Synthesis of Alum",
        "Kinetics of Crystal Violet",
        "Qualitative Analysis of Cations",
    )
    b.add("Lab Safety Quiz", "quiz", 10, b.class_start(0), _QUIZ)
    weeks = b.teaching_weeks()[: len(experiments)]
    for n, (week, name) in enumerate(
        zip(weeks, _pick(rng, experiments, len(weeks), keep_order=True), strict=True), start=1
    ):
        b.add(f"Pre-Lab Quiz {n}", "quiz", rng.choice((3, 5)), b.class_start(week), _QUIZ)
        b.add(f"Lab {n} Report: {name}", "assignment", rng.choice((20, 25, 30)), b.night(week + 1, 1), _UPLOAD)
    b.add("Lab Notebook Check", "assignment", 20, None, ("on_paper",))


def _build_tech_writing(b: _Builder) -> None:
    rng = b.rng
    readings = (
        "Audience Analysis",
        "Document Design",
        "Plain Language",
        "Visual Rhetoric",
        "Ethics in Technical Communication",
        "Usability Testing Methods",
        "Writing Instructions",
        "Proposals",
        "Research Methods",
        "Data Visualization",
        "Accessibility",
        "Global Audiences",
    )
    discussions = (
        "Workplace Email Etiquette",
        "Ethics Case Study",
        "Designing for Accessibility",
        "Revising for Concision",
        "Reflecting on Peer Feedback",
    )
    weeks = b.teaching_weeks()[: len(readings)]
    for n, (week, topic) in enumerate(zip(weeks, _pick(rng, readings, len(weeks)), strict=True), start=1):
        b.add(f"Reading Response {n}: {topic}", "assignment", 10, b.night(week, 0), _TEXT)
    disc_weeks = [w for w in b.teaching_weeks(first=2) if w % 3 == 2]
    for week, topic in zip(disc_weeks, _pick(rng, discussions, len(disc_weeks)), strict=True):
        b.add(f"Discussion: {topic}", "discussion", 10, b.night(week, 2), _DISC)
    fw = b.finals_week

    def wk(fraction: float) -> int:
        return max(1, min(fw - 1, int(b.weeks * fraction + 0.5)))

    b.add("Memo Assignment", "assignment", 50, b.night(wk(0.2), 4), _UPLOAD)
    b.add("Instructions Project: Draft", "assignment", 25, b.class_start(wk(0.38), 0), _UPLOAD)
    b.add("Peer Review: Instructions Project", "assignment", 10, b.night(wk(0.38), 3), _TEXT)
    b.add("Instructions Project: Final", "assignment", 100, b.night(wk(0.45), 4), _UPLOAD)
    b.add("Proposal", "assignment", rng.choice((60, 75)), b.night(wk(0.62), 4), _UPLOAD)
    b.add("Recommendation Report: Draft", "assignment", 25, b.class_start(wk(0.75), 0), _UPLOAD)
    b.add("Peer Review: Recommendation Report", "assignment", 10, b.night(wk(0.75), 3), _TEXT)
    b.add("Recommendation Report: Final", "assignment", 150, b.night(wk(0.87), 4), _UPLOAD)
    b.add("Final Portfolio", "assignment", 200, b.night(fw, 2), _TEXT_UPLOAD)
    b.add("Participation", "participation", 50, None, ("none",))


def _build_history(b: _Builder) -> None:
    rng = b.rng
    readings = (
        "The Atlantic Revolutions",
        "Industrialization",
        "Nationalism in Europe",
        "Empires and Colonies",
        "The Meiji Restoration",
        "The First World War",
        "Revolution in Russia",
        "The Great Depression",
        "The Second World War",
        "Decolonization",
        "The Cold War",
        "Globalization",
        "Human Rights",
        "Environmental History",
    )
    discussions = (
        "Causes of Revolution",
        "Technology and Work",
        "Empire and Resistance",
        "Total War",
        "Ideologies of the Interwar Years",
        "Memory and Monuments",
        "A Connected World",
    )
    weeks = b.teaching_weeks(skip_exams=True)
    for n, (week, topic) in enumerate(
        zip(weeks, _pick(rng, readings, len(weeks), keep_order=True), strict=True), start=1
    ):
        b.add(f"Reading Response {n}: {topic}", "assignment", 10, b.night(week, 0), _TEXT)
    disc_weeks = [w for w in b.teaching_weeks(first=2) if w % 2 == 0]
    for n, (week, topic) in enumerate(
        zip(disc_weeks, _pick(rng, discussions, len(disc_weeks), keep_order=True), strict=True), 1
    ):
        b.add(f"Discussion {n}: {topic}", "discussion", 15, b.night(week, 3), _DISC)
    m1, m2 = b.midterm_weeks
    b.add("Primary Source Analysis 1", "assignment", 50, b.night(max(1, m1 - 2), 4), _UPLOAD)
    b.add("Primary Source Analysis 2", "assignment", 50, b.night(min(b.finals_week - 1, m2 + 2), 4), _UPLOAD)
    b.exams((100, 100, 150))


def _build_capstone(b: _Builder) -> None:
    rng = b.rng
    fw = b.finals_week

    def wk(fraction: float) -> int:
        return max(1, min(fw - 1, int(b.weeks * fraction + 0.5)))

    b.add("Team Contract", "assignment", 10, b.night(1, 4), _UPLOAD)
    for n, week in enumerate(range(2, fw, 2), start=1):
        b.add(f"Sprint {n} Report", "assignment", 20, b.night(week, 4), _TEXT_UPLOAD)
    b.add("Project Milestone 1: Proposal", "assignment", 50, b.night(wk(0.2), 3), _UPLOAD)
    b.add("Project Milestone 2: Prototype", "assignment", 75, b.night(wk(0.45), 3), _UPLOAD)
    b.add("Project Milestone 3: Beta Release", "assignment", 100, b.night(wk(0.7), 3), _UPLOAD)
    b.add(
        "Final Presentation",
        "assignment",
        100,
        b.class_start(fw - 1, 1),
        ("online_upload", "media_recording"),
    )
    b.add("Final Project Report", "assignment", rng.choice((200, 250, 300)), b.night(fw, 3), _UPLOAD)
    for n, fraction in enumerate((0.3, 0.6, 0.9), start=1):
        b.add(f"Peer Evaluation {n}", "quiz", 10, b.night(wk(fraction), 6), _QUIZ)
    b.add("Discussion: Requirements Elicitation", "discussion", 10, b.night(wk(0.15), 2), _DISC)
    b.add("Discussion: Code Review Practices", "discussion", 10, b.night(wk(0.55), 2), _DISC)
    b.add("Individual Reflection", "assignment", 25, None, _TEXT)


def _build_seminar(b: _Builder) -> None:
    rng = b.rng
    topics = (
        "Research in Human-Computer Interaction",
        "Careers in Industry",
        "Security and Privacy",
        "Undergraduate Research",
        "Machine Learning in Practice",
        "Open Source Communities",
        "Computing and Society",
        "Study Abroad Options",
        "Graduate School",
        "Startups",
        "Accessibility in Computing",
        "Internship Panel",
        "Ethics of AI",
    )
    weeks = b.teaching_weeks()[:-1]
    for n, (week, topic) in enumerate(zip(weeks, _pick(rng, topics, len(weeks)), strict=True), start=1):
        b.add(f"Seminar Reflection {n}: {topic}", "discussion", 5, b.night(week, 6), _DISC)
    b.add("Career Fair Reflection", "assignment", 10, b.night(min(4, b.finals_week - 1), 4), _TEXT)
    b.add("Resume Draft", "assignment", 10, b.night(min(6, b.finals_week - 1), 4), _UPLOAD)
    b.add("Attendance and Participation", "participation", 10, None, ("none",))


def _build_statistics(b: _Builder) -> None:
    rng = b.rng
    labs = (
        "Exploring Data in R",
        "Simulating Distributions",
        "Confidence Intervals",
        "Linear Regression",
        "Design of Experiments",
    )
    for n, week in enumerate(b.teaching_weeks(), start=1):
        b.add(f"Homework {n}", "assignment", rng.choice((20, 25, 30)), b.night(week, 2), _TEXT_UPLOAD)
    lab_weeks = [w for w in b.teaching_weeks(first=2, skip_exams=True) if w % 3 == 1][: len(labs)]
    for n, (week, topic) in enumerate(
        zip(lab_weeks, _pick(rng, labs, len(lab_weeks), keep_order=True), strict=True), start=1
    ):
        b.add(f"R Lab {n}: {topic}", "assignment", 15, b.night(week, 4), _UPLOAD)
    quiz_weeks = [w for w in b.teaching_weeks(first=2, skip_exams=True) if w % 3 == 0]
    for n, week in enumerate(quiz_weeks, start=1):
        b.add(f"Quiz {n}", "quiz", 10, b.class_start(week, 2), _QUIZ)
    b.exams((100, 100, 200))
    b.add("Exam Review Quiz", "quiz", 5, None, _QUIZ)


def _build_physics(b: _Builder) -> None:
    rng = b.rng
    labs = (
        "Measurement and Uncertainty",
        "Projectile Motion",
        "Newton's Second Law",
        "Friction",
        "Conservation of Energy",
        "Momentum and Collisions",
        "Rotational Motion",
        "Simple Harmonic Motion",
    )
    for n, week in enumerate(b.teaching_weeks(), start=1):
        b.add(f"Online Homework {n}", "assignment", rng.choice((10, 15)), b.night(week, 1), _TOOL)
    lab_weeks = [w for w in b.teaching_weeks(skip_exams=True) if w % 2 == 1][: len(labs)]
    for n, (week, topic) in enumerate(
        zip(lab_weeks, _pick(rng, labs, len(lab_weeks), keep_order=True), strict=True), start=1
    ):
        b.add(f"Lab {n}: {topic}", "assignment", 20, b.night(week, 3), _UPLOAD)
    b.exams((120, 120, 200))


def _build_economics(b: _Builder) -> None:
    rng = b.rng
    discussions = (
        "Opportunity Cost",
        "Price Controls",
        "Market Power",
        "Externalities",
        "Unemployment",
        "Monetary Policy",
    )
    for n, week in enumerate(b.teaching_weeks(skip_exams=True), start=1):
        b.add(f"Chapter {n + 1} Quiz", "quiz", 10, b.night(week, 6), _QUIZ)
    disc_weeks = [w for w in b.teaching_weeks(first=2) if w % 2 == 0]
    for n, (week, topic) in enumerate(zip(disc_weeks, _pick(rng, discussions, len(disc_weeks)), strict=True), 1):
        b.add(f"Discussion {n}: {topic}", "discussion", 10, b.night(week, 3), _DISC)
    b.add("Problem Set: Supply and Demand", "assignment", 20, b.night(3, 4), _UPLOAD)
    b.exams((100, 100, 150))


# fmt: off
TEMPLATES: tuple[_Template, ...] = (
    # dept, number, name, course_type, credits, meeting days (Mon 0), class start, minutes,
    # finals-week day and start of the final exam, exam titles (None: no exams), item builder
    _Template("CS", "3214", "Computer Systems", "cs_core", 3, (0, 2, 4), time(10, 10), 50,
              1, time(7, 45), ("Midterm 1", "Midterm 2", "Final Exam"), _build_systems),
    _Template("MATH", "2214", "Introduction to Differential Equations", "math", 3, (1, 3), time(9, 30), 75,
              3, time(13, 5), ("Test 1", "Test 2", "Final Exam"), _build_diffeq),
    _Template("CHEM", "1045", "General Chemistry Laboratory I", "science_lab", 1, (2,), time(14, 30), 165,
              0, time(7, 45), None, _build_chem_lab),
    _Template("ENGL", "3764", "Technical Writing", "writing", 3, (1, 3), time(12, 30), 75,
              2, time(16, 25), None, _build_tech_writing),
    _Template("HIST", "1115", "History of the Modern World", "humanities", 3, (0, 2, 4), time(13, 25), 50,
              4, time(10, 5), ("Midterm Exam 1", "Midterm Exam 2", "Final Exam"), _build_history),
    _Template("CS", "4704", "Software Engineering Capstone", "project", 3, (1, 3), time(15, 30), 75,
              3, time(19, 45), None, _build_capstone),
    _Template("CS", "1944", "Computer Science Seminar", "seminar", 1, (4,), time(12, 20), 50,
              4, time(16, 25), None, _build_seminar),
    _Template("STAT", "3005", "Statistics for Engineers", "math", 3, (0, 2, 4), time(9, 5), 50,
              2, time(13, 5), ("Exam 1", "Exam 2", "Final Exam"), _build_statistics),
    _Template("PHYS", "2305", "Foundations of Physics I", "science_lab", 4, (0, 2, 4), time(11, 15), 50,
              0, time(16, 25), ("Midterm 1", "Midterm 2", "Final Exam"), _build_physics),
    _Template("ECON", "2005", "Principles of Economics", "social_science", 3, (1, 3), time(11, 0), 75,
              1, time(13, 5), ("Midterm Exam 1", "Midterm Exam 2", "Final Exam"), _build_economics),
)
# fmt: on


# ---------------------------------------------------------------- submissions


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _submission(rng: random.Random, item: _Item, now: datetime, opens: datetime) -> dict[str, Any]:
    """A Canvas submission object consistent with `now`: past work mostly graded (recent work
    often still only submitted), a few missing; future work unsubmitted. Nothing is submitted
    before the course `opens`."""

    def graded(submitted_at: datetime | None, graded_at: datetime) -> dict[str, Any]:
        if graded_at >= now:
            return {
                "submitted_at": _iso(submitted_at),
                "graded_at": None,
                "workflow_state": "submitted",
                "score": None,
            }
        percent = min(100.0, rng.triangular(55.0, 100.0, 92.0))
        return {
            "submitted_at": _iso(submitted_at),
            "graded_at": _iso(graded_at),
            "workflow_state": "graded",
            "score": round(item.points * percent / 100.0, 1),
        }

    unsubmitted = {"submitted_at": None, "graded_at": None, "workflow_state": "unsubmitted", "score": None}
    if item.due is None:
        if item.kind == "participation" or item.extra_credit or rng.random() < 0.5:
            return unsubmitted
        submitted_at = max(opens, now - timedelta(days=rng.uniform(5, 40)))
        return graded(submitted_at, submitted_at + timedelta(days=rng.uniform(1, 4)))
    if item.due > now:
        return unsubmitted
    if item.kind == "exam":  # taken in class, graded on paper
        return graded(None, min(item.due + timedelta(days=rng.uniform(3, 8)), now - timedelta(hours=1)))
    if rng.random() < MISSING_RATE:
        return unsubmitted
    submitted_at = max(opens, item.due - timedelta(hours=rng.uniform(0.3, 72)))
    if rng.random() < LATE_RATE and item.due + timedelta(hours=36) < now:
        submitted_at = item.due + timedelta(hours=rng.uniform(0.5, 36))
    if item.kind == "quiz":  # auto-graded on submission
        return graded(submitted_at, submitted_at + timedelta(minutes=rng.randint(1, 30)))
    return graded(submitted_at, max(item.due, submitted_at) + timedelta(days=rng.uniform(1, 10)))


# ---------------------------------------------------------------- courses


def _term_code(start: date) -> str:
    """The registrar-style term suffix of course codes: 202601 spring .. 202609 fall."""
    month = "01" if start.month <= 4 else "06" if start.month <= 7 else "09" if start.month <= 11 else "12"
    return f"{start.year}{month}"


def demo_courses(
    config: DemoTermConfig = DEFAULT_DEMO_CONFIG,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The term as Canvas REST API course objects, plus the metadata of each course
    (``course_type``, ``credits``), both in course order. Deterministic in `config`."""
    rng = random.Random(config.seed)
    now = demo_now(config)
    opens = datetime.combine(config.term_start - timedelta(days=3), time(9, 0), tzinfo=EASTERN).astimezone(UTC)
    course_ids = rng.sample(range(100_000, 1_000_000), config.n_courses)
    crns = rng.sample(range(10_000, 100_000), config.n_courses)
    next_id = rng.randrange(2_000_000, 3_000_000)
    courses: list[dict[str, Any]] = []
    info: list[dict[str, Any]] = []
    for index in range(config.n_courses):
        template = TEMPLATES[index % len(TEMPLATES)]
        section = index // len(TEMPLATES)
        builder = _Builder(rng, config, template)
        template.build(builder)
        ordered = sorted(builder.items, key=lambda i: (i.due is None, i.due or now, i.title))
        assignments = []
        kinds: dict[int, str] = {}
        extra_credit: set[int] = set()
        for item in ordered:
            next_id += rng.randint(1, 40)
            kinds[next_id] = item.kind
            if item.extra_credit:
                extra_credit.add(next_id)
            assignments.append(
                {
                    "id": next_id,
                    "name": item.title,
                    "points_possible": item.points,
                    "submission_types": list(item.submission_types),
                    "due_at": _iso(item.due),
                    "submission": _submission(rng, item, now, opens),
                }
            )
        name = template.name + (f" (Section {section + 1})" if section else "")
        course = {
            "id": course_ids[index],
            "name": name,
            "course_code": f"{template.dept}_{template.number}_{crns[index]}_{_term_code(config.term_start)}",
            "term": {"name": config.term_name},
            "assignments": assignments,
        }
        courses.append(course)
        info.append(
            {
                "course_type": template.course_type,
                "credits": template.credits,
                "exams": template.exams or (),
                "extra_credit": extra_credit,
                "kinds": kinds,
            }
        )
    return courses, info


# ---------------------------------------------------------------- priority pairs


def _points_text(points: float) -> str:
    return str(int(points)) if float(points).is_integer() else f"{points:g}"


def _when_text(hours: float | None, submitted: bool) -> str:
    if hours is None:
        return "no due date"
    if hours <= 0:
        return "past due" if submitted else "overdue"
    if hours < 24:
        n = max(1, round(hours))
        return f"due in {n} hour{'s' if n != 1 else ''}"
    if hours < 14 * 24:
        n = max(1, round(hours / 24))
        return f"due in {n} day{'s' if n != 1 else ''}"
    return f"due in {round(hours / 168)} weeks"


def _pair_item(assignment: dict[str, Any], code: str, kind: str, extra_credit: bool, now: datetime) -> dict[str, Any]:
    """The anonymized description of one demo item, as in the real pairs file."""
    submission = assignment["submission"]
    state = submission["workflow_state"]
    submitted = state != "unsubmitted"
    due = assignment["due_at"]
    hours = None
    if due is not None:
        delta = datetime.fromisoformat(due) - now
        hours = round(max(0.0, delta.total_seconds() / 3600.0), 2)
    points = float(assignment["points_possible"])
    kind_text = ("extra-credit " if extra_credit else "") + _KIND_PHRASE[kind]
    title = f"{_points_text(points)}-point {kind_text}, {_when_text(hours, submitted)}, {state}"
    ignore = None
    if state in ("graded", "submitted"):
        ignore = f"already_{state}"
    elif kind == "participation" and hours is None:
        ignore = "no_due_date_participation"
    score = submission.get("score")
    return {
        "anon_title": title,
        "course": code,
        "type": PAIR_TYPES[kind][0],
        "sub_type": PAIR_TYPES[kind][1],
        "points": points,
        "hours_until": hours,
        "submitted": submitted,
        "missing": not submitted and hours is not None and hours <= 0,
        "score_percent": None if score is None or not points else round(100.0 * score / points, 1),
        "urgency_score": urgency_score(
            points, hours, submitted=submitted, is_exam=kind == "exam", is_extra_credit=extra_credit
        ),
        "is_extra_credit": extra_credit,
        "ignore_reason": ignore,
    }


def _difficulty(gap: float) -> str:
    for bound, label in _DIFFICULTY_BANDS:
        if gap < bound:
            return label
    return "hard"


def demo_pairs(
    courses: list[dict[str, Any]], info: list[dict[str, Any]], config: DemoTermConfig = DEFAULT_DEMO_CONFIG
) -> list[dict[str, Any]]:
    """The metadata record and `config.n_pairs` pair records derived from the demo courses."""
    rng = random.Random(f"demo-pairs:{config.seed}")
    now = demo_now(config)
    course_map = {str(c["id"]): f"COURSE{i:03d}" for i, c in enumerate(courses, start=1)}
    course_type = {course_map[str(c["id"])]: meta["course_type"] for c, meta in zip(courses, info, strict=True)}
    described: list[tuple[int, dict[str, Any]]] = []
    for course, meta in zip(courses, info, strict=True):
        code = course_map[str(course["id"])]
        for assignment in course["assignments"]:
            kind = meta["kinds"][assignment["id"]]
            extra = assignment["id"] in meta["extra_credit"]
            described.append((assignment["id"], _pair_item(assignment, code, kind, extra, now)))
    open_items = [d for d in described if not d[1]["submitted"]]
    done_items = [d for d in described if d[1]["submitted"]]

    def draw() -> tuple[int, dict[str, Any]]:
        pool = open_items if open_items and (not done_items or rng.random() < 0.8) else done_items
        return pool[rng.randrange(len(pool))]

    if config.n_pairs > len(described) * (len(described) - 1) // 2:
        raise ValueError(f"cannot draw {config.n_pairs} distinct pairs from {len(described)} items")
    pairs: list[dict[str, Any]] = []
    seen: set[tuple[int, int]] = set()
    attempts = 0
    while len(pairs) < config.n_pairs:
        attempts += 1
        if attempts > 200 * config.n_pairs + 1000:
            raise ValueError(f"cannot draw {config.n_pairs} distinct non-tied pairs from {len(described)} items")
        (id_1, first), (id_2, second) = draw(), draw()
        key = (min(id_1, id_2), max(id_1, id_2))
        gap = round(abs(first["urgency_score"] - second["urgency_score"]), 1)
        if id_1 == id_2 or key in seen or gap < MIN_URGENCY_DIFF or first["anon_title"] == second["anon_title"]:
            continue
        seen.add(key)
        a, b = (first, second) if rng.random() < 0.5 else (second, first)
        winner, loser = (a, b) if a["urgency_score"] > b["urgency_score"] else (b, a)
        same_course = a["course"] == b["course"]
        same_type = a["type"] == b["type"]
        pair_type = (
            "same_course"
            if same_course
            else "same_type"
            if same_type
            else "same_course_type"
            if course_type[a["course"]] == course_type[b["course"]]
            else "cross_course"
        )
        low, high = sorted((a["points"] or 0.0, b["points"] or 0.0))
        pairs.append(
            {
                "type": "pair",
                "query": f'Which should I work on first: "{a["anon_title"]}" or "{b["anon_title"]}"?',
                "item_a": a,
                "item_b": b,
                "preference": 1 if winner is a else 0,
                "urgency_diff": gap,
                "winner_urgency": winner["urgency_score"],
                "loser_urgency": loser["urgency_score"],
                "pair_type": pair_type,
                "difficulty": _difficulty(gap),
                "signals": {
                    "time_pressure_winner": round(_time_pressure(winner["submitted"], winner["hours_until"]), 3),
                    "points_ratio": round(high / low, 2) if low else None,
                    "same_course": same_course,
                    "same_type": same_type,
                    "has_ignore_signal": a["ignore_reason"] is not None or b["ignore_reason"] is not None,
                },
            }
        )
    metadata = {
        "type": "metadata",
        "demo": True,
        "generator": __name__,
        "term": config.term_name,
        "now": _iso(now),
        "seed": config.seed,
        "n_items": len(described),
        "n_pairs": len(pairs),
        "min_diff": MIN_URGENCY_DIFF,
        "course_map": course_map,
        "courses": [
            {
                "code": course_map[str(c["id"])],
                "name": c["name"],
                "course_type": meta["course_type"],
                "credits": meta["credits"],
                "term": config.term_name,
            }
            for c, meta in zip(courses, info, strict=True)
        ],
    }
    return [metadata, *pairs]


def write_demo_term(out_dir: Path, config: DemoTermConfig = DEFAULT_DEMO_CONFIG) -> list[Path]:
    """Write the demo term as raw files in `out_dir` and return their paths (sorted).

    Writes `COURSES_FILE` (Canvas REST API course list) and `PAIRS_FILE` (metadata + pairs),
    each atomically; the same config gives byte-identical files. Other files in `out_dir`
    are left alone (the ingest reads every .json/.jsonl file there).
    """
    out_dir = Path(out_dir)
    courses, info = demo_courses(config)
    records = demo_pairs(courses, info, config)
    courses_path = atomic_write_text(
        out_dir / COURSES_FILE, json.dumps(courses, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    )
    pairs_path = write_jsonl(out_dir / PAIRS_FILE, records)
    return sorted([courses_path, pairs_path])
