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
from collections.abc import Iterator, Mapping
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
            value = json.loads(data.decode("utf-8"))
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
        if not value["assignments"]:
            self.reject(
                "course_without_items", f"course {value['course_code']!r} has no assignments", source, line, value
            )
            return
        marker = _reserved_marker(iter([value["course_name"], value["course_code"], value["term"]]))
        if marker:
            self.reject("reserved_marker", f"course text holds the control token {marker!r}", source, line, value)
            return
        try:
            collected = parse_timestamp(value.get("collected_at"))
        except ValueError as exc:
            self.reject("bad_timestamp", f"collected_at: {exc}", source, line, value)
            return
        code, term = value["course_code"].strip(), value["term"].strip()
        course_id = self.claim_course((code, term), None, source, line, value)
        if course_id is None:
            return
        course = {
            "source_kind": "contributor_snapshot",
            "source_file": source,
            "source_line": line,
            "course_id": course_id,
            "course_code": code,
            "course_name": value["course_name"].strip(),
            "term": term,
            "contributor_id": value.get("contributor_id"),
            "collected_at": collected,
        }
        seen: dict[str, int] = {}
        for index, entry in enumerate(value["assignments"], start=1):
            self.rows_in += 1
            rid = f"{course_id}#{index}"
            problem = raw_shapes.first_violation(raw_shapes.SNAPSHOT_ASSIGNMENT, entry)
            if problem:
                self.quarantine.add(
                    problem[0],
                    f"{source}:{line}: assignments[{index - 1}] {problem[1]}",
                    source=source,
                    line=line,
                    record_id=rid,
                    payload=entry,
                )
                continue
            fingerprint = json.dumps(entry, sort_keys=True)
            if fingerprint in seen:
                self.quarantine.add(
                    "duplicate_item",
                    f"{source}:{line}: assignments[{index - 1}] repeats assignments[{seen[fingerprint] - 1}]",
                    source=source,
                    line=line,
                    record_id=rid,
                    payload=entry,
                )
                continue
            seen[fingerprint] = index
            self.add_item(
                course,
                item_id=course_id * 10_000 + index,
                kind=SNAPSHOT_KIND[entry["type"]],
                title=entry["name"],
                due_at=entry["due_at"],
                points=entry["points_possible"],
                submission_types=entry.get("submission_types", []),
                state=SNAPSHOT_STATE[entry["submission_status"]],
                where=(source, line, f"assignments[{index - 1}]", rid, entry),
            )

    def api_course(self, value: Any, source: str, line: int) -> None:
        if not isinstance(value, Mapping):
            self.reject("not_an_object", f"course is {type(value).__name__}, not an object", source, line, value)
            return
        violation = raw_shapes.first_violation(raw_shapes.API_COURSE, value)
        if violation:
            self.reject(violation[0], violation[1], source, line, value)
            return
        if not value["assignments"]:
            self.reject("course_without_items", f"course {value['id']} has no assignments", source, line, value)
            return
        term = ((value.get("term") or {}).get("name") or "").strip()
        marker = _reserved_marker(iter([value["name"], value["course_code"], term]))
        if marker:
            self.reject("reserved_marker", f"course text holds the control token {marker!r}", source, line, value)
            return
        code = value["course_code"].strip()
        course_id = self.claim_course((code, term), value["id"], source, line, value)
        if course_id is None:
            return
        course = {
            "source_kind": "canvas_api",
            "source_file": source,
            "source_line": line,
            "course_id": course_id,
            "course_code": code,
            "course_name": value["name"].strip(),
            "term": term,
            "contributor_id": None,
            "collected_at": None,
        }
        for index, entry in enumerate(value["assignments"]):
            self.rows_in += 1
            rid = f"{course_id}#{entry.get('id') if isinstance(entry, Mapping) else index}"
            problem = raw_shapes.first_violation(raw_shapes.API_ASSIGNMENT, entry)
            if problem:
                self.quarantine.add(
                    problem[0],
                    f"{source}:{line}: assignments[{index}] {problem[1]}",
                    source=source,
                    line=line,
                    record_id=rid,
                    payload=entry,
                )
                continue
            if entry["id"] in self.item_ids:
                self.quarantine.add(
                    "duplicate_item",
                    f"{source}:{line}: assignments[{index}] id {entry['id']} already read",
                    source=source,
                    line=line,
                    record_id=rid,
                    payload=entry,
                )
                continue
            types = entry["submission_types"]
            kind = "quiz" if "online_quiz" in types else "discussion" if "discussion_topic" in types else "assignment"
            self.add_item(
                course,
                item_id=entry["id"],
                kind=kind,
                title=entry["name"],
                due_at=entry["due_at"],
                points=entry["points_possible"],
                submission_types=types,
                state=_api_state(entry.get("submission")),
                where=(source, line, f"assignments[{index}]", rid, entry),
            )

    def add_item(
        self,
        course: Mapping[str, Any],
        *,
        item_id: int,
        kind: str,
        title: str,
        due_at: str | None,
        points: float | None,
        submission_types: list[str],
        state: str,
        where: tuple[str, int, str, str, Any],
    ) -> None:
        source, line, path, rid, entry = where
        title = title.strip()
        marker = _reserved_marker(iter([title, *submission_types]))
        if marker:
            self.quarantine.add(
                "reserved_marker",
                f"{source}:{line}: {path} holds the control token {marker!r}",
                source=source,
                line=line,
                record_id=rid,
                payload=entry,
            )
            return
        if points is not None and points < 0:
            self.quarantine.add(
                "bad_value",
                f"{source}:{line}: {path}/points_possible is negative ({points})",
                source=source,
                line=line,
                record_id=rid,
                payload=entry,
            )
            return
        try:
            due = parse_timestamp(due_at)
        except ValueError as exc:
            self.quarantine.add(
                "bad_timestamp",
                f"{source}:{line}: {path}/due_at: {exc}",
                source=source,
                line=line,
                record_id=rid,
                payload=entry,
            )
            return
        if item_id in self.item_ids:
            self.quarantine.add(
                "duplicate_item",
                f"{source}:{line}: {path} id {item_id} already read",
                source=source,
                line=line,
                record_id=rid,
                payload=entry,
            )
            return
        self.item_ids.add(item_id)
        self.items.append(
            {
                **course,
                "item_id": item_id,
                "item_kind": kind,
                "title": title,
                "due_at": due,
                "points": None if points is None else float(points),
                "submission_types": list(submission_types),
                "submission_state": state,
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
