"""Raw ingest: any mix of contributor snapshots, priority pairs and Canvas REST API course
JSON in one folder, normalized into an items table and a pairs table.

Row accounting: a record rejected whole (bad JSON, unknown type, a course with no
assignments, a duplicate course, an empty file) counts as one row; inside an accepted
course every assignment is a row of its own. rows_in = rows_out + quarantined, always.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from canvas_pipeline.data import raw_shapes
from canvas_pipeline.data.io import UnreadableInputError, iter_json_lines
from canvas_pipeline.data.schemas import (
    ITEMS_DTYPES,
    PAIRS_DTYPES,
    CanvasItems,
    PriorityPairs,
)
from canvas_pipeline.data.stage import Quarantine, StageReport, report_from
from canvas_pipeline.tools.codec import RESERVED_MARKERS

STAGE = "raw/canvas_snapshots"
DATA_SUFFIXES = (".jsonl", ".json")

SNAPSHOT_KIND = {"ASGN": "assignment", "QUIZ": "quiz", "DISC": "discussion"}
SNAPSHOT_STATE = {"GRADED": "graded", "SUBMITTED": "submitted", "NOT_SUBMITTED": "unsubmitted"}
EXAM_RE = re.compile(r"\b(exam|midterm|mid-term|test)\b", re.IGNORECASE)
NOT_EXAM_RE = re.compile(r"\b(review|pre-?test|post[- ]?test|survey|coverage|check in)\b", re.IGNORECASE)


@dataclass
class RawCanvas:
    """The output of raw ingest: validated tables plus everything that was rejected."""

    items: pl.DataFrame
    pairs: pl.DataFrame
    pair_courses: dict[str, dict[str, Any]]
    quarantine: Quarantine
    report: StageReport


def is_exam_title(title: str) -> bool:
    return bool(EXAM_RE.search(title)) and not NOT_EXAM_RE.search(title)


def parse_timestamp(value: str | None) -> datetime | None:
    """ISO 8601 to an aware UTC datetime; raises ValueError on anything else."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return parsed.astimezone(UTC)


def stable_course_id(code: str, term: str) -> int:
    """A Canvas-like six-digit id for a course that arrived without one (snapshots)."""
    digest = hashlib.sha256(f"{code}\x1f{term}".encode()).hexdigest()
    return 100_000 + int(digest[:12], 16) % 900_000


def _reserved_marker(texts: Iterator[str]) -> str | None:
    for text in texts:
        for marker in RESERVED_MARKERS:
            if marker in text:
                return marker
    return None


@dataclass(frozen=True)
class _NewItem:
    item_id: int
    kind: str
    title: str
    due_at: str | None
    points: float | None
    submission_types: list[str]
    state: str


@dataclass(frozen=True)
class _Where:
    """Where an assignment came from, for its quarantine row."""

    source: str
    line: int
    path: str
    record_id: str
    entry: Any


@dataclass
class _Ingest:
    raw_dir: Path
    quarantine: Quarantine = field(default_factory=lambda: Quarantine(STAGE))
    items: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    pair_courses: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows_in: int = 0
    header_records: int = 0
    course_keys: dict[tuple[str, str], str] = field(default_factory=dict)
    course_ids: set[int] = field(default_factory=set)
    item_ids: set[int] = field(default_factory=set)
    files: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)

    def reject(
        self, reason: str, detail: str, source: str, line: int | None, payload: Any = None, record_id: str = ""
    ) -> None:
        self.rows_in += 1
        where = f"{source}:{line}" if line is not None else source
        self.quarantine.add(
            reason, f"{where}: {detail}", source=source, line=line, record_id=record_id, payload=payload
        )

    # ------------------------------------------------------------ files

    def run(self) -> None:
        if not self.raw_dir.is_dir():
            raise UnreadableInputError(self.raw_dir, "raw directory does not exist or is not a directory")
        # Dangling links count as files: reading them fails loudly instead of skipping them.
        for path in sorted(p for p in self.raw_dir.rglob("*") if p.is_file() or p.is_symlink()):
            rel = path.relative_to(self.raw_dir).as_posix()
            if path.name.startswith(".") or path.suffix not in DATA_SUFFIXES:
                self.ignored_files.append(rel)
                continue
            self.files.append(rel)
            if path.suffix == ".jsonl":
                self.read_jsonl(path, rel)
            else:
                self.read_json(path, rel)
        if not self.files:
            raise UnreadableInputError(self.raw_dir, f"no {'/'.join(DATA_SUFFIXES)} files in it")

    def read_jsonl(self, path: Path, rel: str) -> None:
        seen_any = False
        for line in iter_json_lines(path):
            seen_any = True
            if line.error is not None:
                reason = "not_utf8" if line.error.startswith("not UTF-8") else "malformed_json"
                self.reject(reason, line.error, rel, line.line, line.raw[:2000])
            else:
                self.record(line.value, rel, line.line)
        if not seen_any:
            self.reject("empty_file", "file has no records", rel, None)

    def read_json(self, path: Path, rel: str) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UnreadableInputError(path, exc.strerror or str(exc)) from exc
        if not data.strip():
            self.reject("empty_file", "file has no records", rel, None)
            return
        try:
            value = json.loads(data.decode("utf-8-sig"))  # a byte-order mark is not malformed JSON
        except UnicodeDecodeError as exc:
            self.reject("not_utf8", f"not UTF-8 ({exc.reason} at byte {exc.start})", rel, None)
            return
        except json.JSONDecodeError as exc:
            self.reject(
                "malformed_json", f"malformed JSON: {exc.msg}", rel, exc.lineno, data[:2000].decode("utf-8", "replace")
            )
            return
        courses = value if isinstance(value, list) else [value]
        if not courses:
            self.reject("empty_file", "JSON list holds no courses", rel, None)
        for index, course in enumerate(courses, start=1):
            self.api_course(course, rel, index)

    # ------------------------------------------------------------ records

    def record(self, value: Any, source: str, line: int) -> None:
        if not isinstance(value, Mapping):
            self.reject("not_an_object", f"record is {type(value).__name__}, not an object", source, line, value)
            return
        kind = value.get("type")
        if kind == "course_snapshot":
            self.snapshot_course(value, source, line)
        elif kind == "pair":
            self.pair(value, source, line)
        elif kind == "metadata":
            self.metadata(value, source, line)
        elif kind is None and "assignments" in value and "id" in value:
            self.api_course(value, source, line)
        else:
            self.reject(
                "unknown_record_type",
                f"record type {kind!r} is not course_snapshot, pair or metadata",
                source,
                line,
                value,
            )

    def metadata(self, value: Mapping[str, Any], source: str, line: int) -> None:
        violation = raw_shapes.first_violation(raw_shapes.PAIR_METADATA, value)
        if violation:
            self.reject(violation[0], violation[1], source, line, value)
            return
        self.header_records += 1
        for course in value["courses"]:
            self.pair_courses[course["code"]] = {
                "code": course["code"],
                "name": course["name"],
                "course_type": course.get("course_type"),
                "credits": course.get("credits"),
            }

    def claim_course(
        self, key: tuple[str, str], course_id: int | None, source: str, line: int, value: Any
    ) -> int | None:
        """The course's id, or None (and a quarantine row) when it duplicates an earlier course."""
        where = f"{source}:{line}"
        if key in self.course_keys:
            self.reject(
                "duplicate_course",
                f"course {key[0]!r} ({key[1]}) already read at {self.course_keys[key]}",
                source,
                line,
                value,
            )
            return None
        if course_id is None:
            course_id = stable_course_id(*key)
            while course_id in self.course_ids:  # hash collision between different courses
                course_id += 1
        elif course_id in self.course_ids:
            self.reject("duplicate_course", f"course id {course_id} already read", source, line, value)
            return None
        self.course_keys[key] = where
        self.course_ids.add(course_id)
        return course_id

    def snapshot_course(self, value: Mapping[str, Any], source: str, line: int) -> None:
        violation = raw_shapes.first_violation(raw_shapes.SNAPSHOT_RECORD, value)
        if violation:
            self.reject(violation[0], violation[1], source, line, value)
            return
        try:
            collected = parse_timestamp(value.get("collected_at"))
        except ValueError as exc:
            self.reject("bad_timestamp", f"collected_at: {exc}", source, line, value)
            return
        course = self.open_course(
            value,
            source,
            line,
            kind="contributor_snapshot",
            course_id=None,
            code=value["course_code"],
            name=value["course_name"],
            term=value["term"],
            contributor=value.get("contributor_id"),
            collected=collected,
        )
        if course is None:
            return

        def item(entry: Mapping[str, Any], index: int) -> _NewItem:
            return _NewItem(
                item_id=course["course_id"] * 10_000 + index + 1,
                kind=SNAPSHOT_KIND[entry["type"]],
                title=entry["name"],
                due_at=entry["due_at"],
                points=entry["points_possible"],
                submission_types=entry.get("submission_types", []),
                state=SNAPSHOT_STATE[entry["submission_status"]],
            )

        # Snapshot assignments carry no id: an exact repeat inside a course is the duplicate.
        self.read_assignments(
            course,
            value["assignments"],
            raw_shapes.SNAPSHOT_ASSIGNMENT,
            item,
            identity=lambda entry: json.dumps(entry, sort_keys=True),
        )

    def api_course(self, value: Any, source: str, line: int) -> None:
        if not isinstance(value, Mapping):
            self.reject("not_an_object", f"course is {type(value).__name__}, not an object", source, line, value)
            return
        violation = raw_shapes.first_violation(raw_shapes.API_COURSE, value)
        if violation:
            self.reject(violation[0], violation[1], source, line, value)
            return
        course = self.open_course(
            value,
            source,
            line,
            kind="canvas_api",
            course_id=value["id"],
            code=value["course_code"],
            name=value["name"],
            term=(value.get("term") or {}).get("name") or "",
            contributor=None,
            collected=None,
        )
        if course is None:
            return

        def item(entry: Mapping[str, Any], index: int) -> _NewItem:
            types = entry["submission_types"]
            return _NewItem(
                item_id=entry["id"],
                kind="quiz"
                if "online_quiz" in types
                else "discussion"
                if "discussion_topic" in types
                else "assignment",
                title=entry["name"],
                due_at=entry["due_at"],
                points=entry["points_possible"],
                submission_types=types,
                state=_api_state(entry.get("submission")),
            )

        self.read_assignments(course, value["assignments"], raw_shapes.API_ASSIGNMENT, item, identity=None)

    def open_course(
        self,
        value: Mapping[str, Any],
        source: str,
        line: int,
        *,
        kind: str,
        course_id: int | None,
        code: str,
        name: str,
        term: str,
        contributor: str | None,
        collected: datetime | None,
    ) -> dict[str, Any] | None:
        """The course columns every item row repeats, or None (quarantined) for a course with
        no assignments, a control token in its text, or one read before."""
        code, name, term = code.strip(), name.strip(), term.strip()
        if not value["assignments"]:
            self.reject("course_without_items", f"course {code!r} has no assignments", source, line, value)
            return None
        marker = _reserved_marker(iter([name, code, term]))
        if marker:
            self.reject("reserved_marker", f"course text holds the control token {marker!r}", source, line, value)
            return None
        course_id = self.claim_course((code, term), course_id, source, line, value)
        if course_id is None:
            return None
        return {
            "source_kind": kind,
            "source_file": source,
            "source_line": line,
            "course_id": course_id,
            "course_code": code,
            "course_name": name,
            "term": term,
            "contributor_id": contributor,
            "collected_at": collected,
        }

    def read_assignments(
        self,
        course: dict[str, Any],
        entries: list[Any],
        schema: Mapping[str, Any],
        item: Callable[[Mapping[str, Any], int], _NewItem],
        identity: Callable[[Mapping[str, Any]], str] | None,
    ) -> None:
        """One row per assignment; each bad one is quarantined on its own."""
        seen: dict[str, int] = {}
        for index, entry in enumerate(entries):
            self.rows_in += 1
            where = _Where(
                course["source_file"],
                course["source_line"],
                f"assignments[{index}]",
                f"{course['course_id']}#{index}",
                entry,
            )
            problem = raw_shapes.first_violation(schema, entry)
            if problem:
                self.reject_item(where, problem[0], problem[1])
                continue
            if identity is not None:
                key = identity(entry)
                if key in seen:
                    self.reject_item(where, "duplicate_item", f"repeats assignments[{seen[key]}]")
                    continue
                seen[key] = index
            self.add_item(course, item(entry, index), where)

    def reject_item(self, where: _Where, reason: str, detail: str) -> None:
        self.quarantine.add(
            reason,
            f"{where.source}:{where.line}: {where.path} {detail}",
            source=where.source,
            line=where.line,
            record_id=where.record_id,
            payload=where.entry,
        )

    def add_item(self, course: Mapping[str, Any], new: _NewItem, where: _Where) -> None:
        title = new.title.strip()
        marker = _reserved_marker(iter([title, *new.submission_types]))
        if marker:
            self.reject_item(where, "reserved_marker", f"holds the control token {marker!r}")
            return
        if new.points is not None and new.points < 0:
            self.reject_item(where, "bad_value", f"points_possible is negative ({new.points})")
            return
        try:
            due = parse_timestamp(new.due_at)
        except ValueError as exc:
            self.reject_item(where, "bad_timestamp", f"due_at: {exc}")
            return
        if new.item_id in self.item_ids:
            self.reject_item(where, "duplicate_item", f"id {new.item_id} already read")
            return
        self.item_ids.add(new.item_id)
        self.items.append(
            {
                **course,
                "item_id": new.item_id,
                "item_kind": new.kind,
                "title": title,
                "due_at": due,
                "points": None if new.points is None else float(new.points),
                "submission_types": list(new.submission_types),
                "submission_state": new.state,
                "is_exam": is_exam_title(title),
            }
        )

    def pair(self, value: Mapping[str, Any], source: str, line: int) -> None:
        violation = raw_shapes.first_violation(raw_shapes.PAIR_RECORD, value)
        if violation:
            self.reject(violation[0], violation[1], source, line, value)
            return
        marker = _reserved_marker(iter([value["query"], value["item_a"]["anon_title"], value["item_b"]["anon_title"]]))
        if marker:
            self.reject("reserved_marker", f"pair text holds the control token {marker!r}", source, line, value)
            return
        self.rows_in += 1
        row: dict[str, Any] = {
            "source_file": source,
            "source_line": line,
            "pair_id": f"{source}:{line}",
            "query": value["query"].strip(),
            "preferred": "A" if value["preference"] == 1 else "B",
            "difficulty": value.get("difficulty"),
            "pair_type": value.get("pair_type"),
        }
        for side in ("a", "b"):
            item = value[f"item_{side}"]
            row.update(
                {
                    f"{side}_title": item["anon_title"].strip(),
                    f"{side}_course": item["course"],
                    f"{side}_type": item["type"],
                    f"{side}_points": None if item["points"] is None else float(item["points"]),
                    f"{side}_hours_until": None if item["hours_until"] is None else float(item["hours_until"]),
                    f"{side}_submitted": item["submitted"],
                    f"{side}_missing": item["missing"],
                    f"{side}_urgency": float(item["urgency_score"]),
                }
            )
        self.pairs.append(row)


def _api_state(submission: Mapping[str, Any] | None) -> str:
    if not submission:
        return "unsubmitted"
    state = submission.get("workflow_state")
    if state == "graded" or submission.get("graded_at"):
        return "graded"
    if state in ("submitted", "pending_review") or submission.get("submitted_at"):
        return "submitted"
    return "unsubmitted"


def ingest_raw_dir(raw_dir: Path) -> RawCanvas:
    """Read every .jsonl/.json file under `raw_dir` into validated items and pairs tables."""
    run = _Ingest(Path(raw_dir))
    run.run()
    items = pl.DataFrame(run.items, schema=ITEMS_DTYPES, orient="row").sort("item_id")
    pairs = pl.DataFrame(run.pairs, schema=PAIRS_DTYPES, orient="row")
    CanvasItems.validate(items)
    PriorityPairs.validate(pairs)
    report = report_from(
        STAGE,
        rows_in=run.rows_in,
        rows_out=items.height + pairs.height,
        quarantine=run.quarantine,
        files=len(run.files),
        ignored_files=len(run.ignored_files),
        header_records=run.header_records,
        courses=items["course_id"].n_unique(),
        items=items.height,
        pairs=pairs.height,
    )
    return RawCanvas(items, pairs, run.pair_courses, run.quarantine, report)
