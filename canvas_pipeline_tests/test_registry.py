"""The 18-tool registry shipped in the package, and argument validation against it (G7, DPO axes 1-3)."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from canvas_pipeline.tools.registry import ArgumentIssue, ToolRegistry, load_registry, registry_from_json

SHARED_REGISTRY = Path("/work/shared/spec/tool_registry.json")


def package_payload() -> dict:
    text = resources.files("canvas_pipeline.tools").joinpath("tool_registry.json").read_text("utf-8")
    return json.loads(text)


def kinds(issues: list[ArgumentIssue]) -> list[str]:
    return [issue.kind for issue in issues]


# ----------------------------------------------------------------- the registry itself


def test_registry_has_18_tools_in_four_families() -> None:
    registry = load_registry()
    assert isinstance(registry, ToolRegistry)
    assert len(registry) == 18
    assert len(registry.names) == len(set(registry.names)) == 18
    families = Counter(spec.family for spec in registry)
    assert families == {"canvas": 8, "calendar": 5, "study": 4, "reranker": 1}
    for family, count in families.items():
        assert len(registry.by_family(family)) == count


def test_registry_names() -> None:
    names = set(load_registry().names)
    expected = {
        "canvas.list_courses",
        "canvas.get_course",
        "canvas.get_assignments",
        "canvas.get_syllabus",
        "canvas.get_todo",
        "canvas.get_grades",
        "canvas.list_announcements",
        "canvas.list_planner_items",
        "calendar.list_events",
        "calendar.find_free_blocks",
        "calendar.create_event",
        "calendar.modify_event",
        "calendar.delete_event",
        "study.spaced_schedule",
        "study.semester_schedule",
        "study.recommend_block_size",
        "study.exam_bracket",
        "reranker.priority_hint",
    }
    assert names == expected
    assert "canvas.list_assignments" not in names  # the v7 hallucination
    assert "canvas.list_assignments" not in load_registry()


def test_package_registry_matches_the_shared_spec_when_present() -> None:
    payload = package_payload()
    assert len(payload["tools"]) == 18
    if SHARED_REGISTRY.exists():
        assert payload == json.loads(SHARED_REGISTRY.read_text("utf-8"))


def test_every_tool_has_an_object_schema_with_declared_required_keys() -> None:
    for spec in load_registry():
        assert spec.parameters["type"] == "object", spec.name
        assert set(spec.required) <= set(spec.properties), spec.name
        assert isinstance(spec.description, str)
        assert load_registry()[spec.name] is spec


def test_duplicate_names_and_unknown_families_are_refused() -> None:
    payload = package_payload()
    with pytest.raises(ValueError):
        registry_from_json({"tools": payload["tools"] + payload["tools"][:1]})
    bogus = {"name": "email.send", "description": "", "parameters": {"type": "object", "properties": {}}}
    with pytest.raises(ValueError):
        registry_from_json({"tools": [*payload["tools"], bogus]})


# ----------------------------------------------------------------- validate_arguments

VALID = [
    ("canvas.get_assignments", {"course_id": 4264, "horizon_days": 7}),
    ("canvas.get_assignments", {"course_id": None}),
    ("canvas.get_assignments", {}),
    ("canvas.get_assignments", {"course_id": 4264, "horizon_days": 14, "include_submitted": False}),
    ("canvas.list_courses", {"active_only": True}),
    ("canvas.get_todo", {}),
    ("canvas.get_grades", {"course_id": None}),
    ("canvas.list_announcements", {"course_ids": [4264, 1170], "past_days": 7}),
    ("canvas.list_announcements", {"course_ids": []}),
    ("calendar.find_free_blocks", {"min_minutes": 90, "horizon_days": 7, "exclude_weekends": True}),
    (
        "calendar.create_event",
        {"title": "Study CS 3114", "start_iso": "2025-10-01T09:00", "end_iso": "2025-10-01T10:30"},
    ),
    ("calendar.delete_event", {"event_id": "evt_1", "rationale": "duplicate"}),
    ("study.recommend_block_size", {"task_type": "problem_set"}),
    ("study.spaced_schedule", {"exam_iso": "2025-12-10T09:00", "n_sessions": 4}),
    (
        "study.semester_schedule",
        {
            "semester_end_iso": "2025-12-12",
            "deadlines": [{"title": "P1", "due_iso": "2025-10-01", "estimated_hours": 6}],
            "ramp_factor": 1.5,
            "weekly_hours_available": 10,
        },
    ),
    ("study.semester_schedule", {"semester_end_iso": "2025-12-12", "deadlines": [], "ramp_factor": 2}),
    ("study.exam_bracket", {"exam_start_iso": "2025-12-10T09:00", "exam_end_iso": "2025-12-10T11:00"}),
    (
        "reranker.priority_hint",
        {"query": "which first?", "item_a": "[HW] A @CS3114 open 10pts", "item_b": "b"},
    ),
]


@pytest.mark.parametrize(("name", "arguments"), VALID)
def test_valid_calls_have_no_issues(name: str, arguments: dict) -> None:
    assert load_registry().validate_arguments(name, arguments) == []


def test_unknown_tool() -> None:
    issues = load_registry().validate_arguments("canvas.list_assignments", {"course_id": 4264})
    assert kinds(issues) == ["unknown_tool"]
    assert issues[0].tool == "canvas.list_assignments"


def test_missing_required() -> None:
    issues = load_registry().validate_arguments(
        "calendar.create_event", {"title": "Study", "start_iso": "2025-10-01T09:00"}
    )
    assert kinds(issues) == ["missing_required"]
    assert "end_iso" in issues[0].message
    assert issues[0].path == ""
    assert issues[0].tool == "calendar.create_event"


def test_all_missing_required_are_reported() -> None:
    issues = load_registry().validate_arguments("calendar.create_event", {})
    assert kinds(issues) == ["missing_required"] * 3
    assert {m for i in issues for m in ("title", "start_iso", "end_iso") if f"'{m}'" in i.message} == {
        "title",
        "start_iso",
        "end_iso",
    }


def test_unknown_key_days_ahead_the_v7_bug() -> None:
    issues = load_registry().validate_arguments("canvas.get_assignments", {"course_id": 4264, "days_ahead": 7})
    assert kinds(issues) == ["unknown_key"]
    assert "days_ahead" in issues[0].message


@pytest.mark.parametrize(
    ("name", "arguments", "path"),
    [
        ("canvas.get_assignments", {"course_id": "all"}, "course_id"),
        ("canvas.get_assignments", {"course_id": "4264"}, "course_id"),
        ("canvas.get_course", {"course_id": True}, "course_id"),
        ("canvas.get_course", {"course_id": None}, "course_id"),
        ("canvas.get_assignments", {"horizon_days": True}, "horizon_days"),
        ("canvas.get_assignments", {"horizon_days": 7.5}, "horizon_days"),
        ("canvas.get_assignments", {"include_submitted": 1}, "include_submitted"),
        ("canvas.list_announcements", {"course_ids": 4264}, "course_ids"),
        ("canvas.list_announcements", {"course_ids": [4264, "x"]}, "course_ids.1"),
        ("calendar.create_event", {"title": 5, "start_iso": "a", "end_iso": "b"}, "title"),
        (
            "study.semester_schedule",
            {"semester_end_iso": "x", "deadlines": [], "ramp_factor": "1.5"},
            "ramp_factor",
        ),
    ],
)
def test_wrong_type(name: str, arguments: dict, path: str) -> None:
    issues = load_registry().validate_arguments(name, arguments)
    assert kinds(issues) == ["wrong_type"]
    assert issues[0].path == path


def test_bad_enum() -> None:
    issues = load_registry().validate_arguments("study.recommend_block_size", {"task_type": "nap"})
    assert kinds(issues) == ["bad_enum"]
    assert issues[0].path == "task_type"


def test_nested_deadline_missing_estimated_hours() -> None:
    arguments = {
        "semester_end_iso": "2025-12-12",
        "deadlines": [
            {"title": "P1", "due_iso": "2025-10-01", "estimated_hours": 6},
            {"title": "P2", "due_iso": "2025-11-01"},
        ],
    }
    issues = load_registry().validate_arguments("study.semester_schedule", arguments)
    assert kinds(issues) == ["missing_required"]
    assert issues[0].path == "deadlines.1"
    assert "estimated_hours" in issues[0].message


def test_nested_deadline_unknown_key_and_wrong_type() -> None:
    arguments = {
        "semester_end_iso": "2025-12-12",
        "deadlines": [{"title": "P1", "due_iso": "2025-10-01", "estimated_hours": "six", "hours": 6}],
    }
    issues = load_registry().validate_arguments("study.semester_schedule", arguments)
    assert sorted(kinds(issues)) == ["unknown_key", "wrong_type"]
    assert {i.path for i in issues} == {"deadlines.0", "deadlines.0.estimated_hours"}


def test_several_issues_are_all_reported() -> None:
    issues = load_registry().validate_arguments("calendar.create_event", {"title": 1, "start_iso": "a", "when": "now"})
    assert sorted(kinds(issues)) == ["missing_required", "unknown_key", "wrong_type"]


def test_every_tool_accepts_its_own_minimal_call_and_rejects_an_invented_key() -> None:
    samples = {"integer": 1, "string": "s", "boolean": True, "number": 1.5, "array": [], "object": {}}
    registry = load_registry()
    for spec in registry:
        minimal = {}
        for key in spec.required:
            schema = spec.properties[key]
            kind = schema["type"]
            minimal[key] = (
                schema["enum"][0] if "enum" in schema else samples[kind if isinstance(kind, str) else kind[0]]
            )
        assert registry.validate_arguments(spec.name, minimal) == [], spec.name
        invented = registry.validate_arguments(spec.name, {**minimal, "zz_invented": 1})
        assert kinds(invented) == ["unknown_key"], spec.name


def test_integer_arguments_must_be_integers_not_floats() -> None:
    issues = load_registry().validate_arguments("canvas.get_course", {"course_id": 4264.0})
    assert [i.kind for i in issues] == ["wrong_type"]
