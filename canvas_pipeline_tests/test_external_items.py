"""`canvas-train bench --items FILE.jsonl`: a user's own requests scored like the bench.

The line validator names every kind of bad line; a file of only bad lines exits 2 before
anything is loaded; hand-written requests (with and without expected arguments, an
irrelevance item, one with its own context, one with a system message and earlier tool
calls, a malformed line and an unknown tool) run through `cli.main` on a random tiny
Gemma-4 checkpoint against the backend rebuilt from the real slice, and the record agrees
with itself and with what was printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from canvas_pipeline import cli
from canvas_pipeline.data.io import read_jsonl
from canvas_pipeline.data.layout import bench_record_path, eval_dir
from canvas_pipeline.evaluation import metrics
from canvas_pipeline.evaluation.backends import BackendFactory
from canvas_pipeline.evaluation.external import (
    attach_contexts,
    default_context,
    external_item,
    external_record_path,
    file_sha256,
    item_problem,
    read_items,
    summarize_items,
)
from canvas_pipeline.evaluation.harness import Conversation
from canvas_pipeline.evaluation.results import selection_path
from canvas_pipeline.tools.chat_format import response_content, system_prompt
from canvas_pipeline.tools.codec import ToolCall


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def _ok(**extra: Any) -> dict[str, Any]:
    return {"messages": [_user("What is on my to-do list?")], "expected_tools": ["canvas.get_todo"], **extra}


TODO_CALL = {"id": "call_0", "type": "function", "function": {"name": "canvas.get_todo", "arguments": {}}}
HISTORY = [
    _user("What is due?"),
    {"role": "assistant", "content": "", "tool_calls": [TODO_CALL]},
    {"role": "tool", "tool_call_id": "call_0", "name": "canvas.get_todo", "content": "{}"},
    {"role": "assistant", "content": "Nothing is due."},
]


# ------------------------------------------------------------------ the line validator


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([1, 2], "not a JSON object (a JSON list)"),
        ({"expected_tools": []}, "item: 'messages' is a required property"),
        ({"messages": [_user("hi")]}, "item: 'expected_tools' is a required property"),
        (_ok(expected_tools="canvas.get_todo"), "expected_tools: 'canvas.get_todo' is not of type 'array'"),
        (_ok(expected_arg=[{}]), "item: Additional properties are not allowed ('expected_arg' was unexpected)"),
        (_ok(messages=[]), "messages: [] should be non-empty"),
        (_ok(messages=[{"role": "bot", "content": "hi"}]), "messages[0].role: 'bot' is not one of"),
        (_ok(messages=[{"content": "hi"}]), "messages[0]: 'role' is a required property"),
        (_ok(expected_args={}), "expected_args: {} is not of type 'array'"),
        (_ok(expected_args=[{"course_id": []}]), "expected_args[0].course_id: [] should be non-empty"),
        (_ok(context={"term": "2025 Fall"}), "context: 'split' is a required property"),
        (_ok(context={"term": "T", "split": "bench", "now": "x", "seed": 1.5}), "context.seed: 1.5 is not of type"),
        (_ok(id=""), "id: '' should be non-empty"),
        (_ok(expected_tools=["canvas.hack_grades"]), "expected_tools[0]: unknown tool 'canvas.hack_grades'"),
        (_ok(expected_args=[{}, {}]), "expected_args has 2 entries for 1 expected tools"),
        (_ok(expected_tools=[], expected_args=[{}]), "expected_args has 1 entries for 0 expected tools"),
        (
            _ok(expected_tools=["canvas.get_course"], expected_args=[{"course": [4264]}]),
            "expected_args[0]: 'course' is not an argument of canvas.get_course",
        ),
        (
            _ok(expected_tools=["canvas.get_course"], expected_args=[{"course_id": ["4264"]}]),
            "expected_args[0].course_id: accepted value '4264' does not fit canvas.get_course",
        ),
        (
            _ok(expected_tools=["canvas.get_course"], expected_args=[{}]),
            "expected_args[0]: required argument 'course_id' of canvas.get_course has no accepted values",
        ),
        (_ok(messages=HISTORY), "messages: the last message must be the user turn to score, not 'assistant'"),
        (_ok(messages=[_user("hi"), {"role": "system", "content": "x"}, _user("hi")]), "messages[1]: a system"),
        (_ok(messages=[{"role": "tool", "content": "{}"}, _user("hi")]), "messages[0]: a tool message must follow"),
        (_ok(messages=[{"role": "user", "content": "  "}]), "messages[0]: a user message needs non-empty text"),
        (
            _ok(messages=[{"role": "assistant", "content": ""}, _user("x")]),
            "messages[0]: an assistant message needs content",
        ),
        (
            _ok(messages=[{"role": "assistant", "tool_calls": [{"function": {"name": "x.y"}}]}, _user("z")]),
            "messages[0].tool_calls[0]: unknown tool 'x.y'",
        ),
        (
            _ok(
                messages=[
                    {
                        "role": "assistant",
                        "tool_calls": [{"function": {"name": "canvas.get_todo", "arguments": "[1]"}}],
                    },
                    _user("z"),
                ]
            ),  # noqa: E501
            "messages[0].tool_calls[0]: arguments are not a JSON object",
        ),
        (_ok(context={"term": "T", "split": "bench", "now": "soon", "seed": 0}), "context.now: 'soon' is not an ISO"),
    ],
)
def test_each_kind_of_bad_line_is_named(value: Any, reason: str) -> None:
    problem = item_problem(value)
    assert problem is not None and problem.startswith(reason), problem


def test_valid_lines_pass_and_become_bench_items() -> None:
    assert item_problem(_ok()) is None
    assert item_problem(_ok(expected_tools=[], meta={"source": "log 7"})) is None
    argued = _ok(expected_tools=["canvas.get_course"], expected_args=[{"course_id": [4264]}], id="mine")
    assert item_problem(argued) is None
    ctx = {"term": "2025 Fall", "split": "bench", "now": "2025-10-01T09:00:00-04:00", "seed": 0}
    assert item_problem(_ok(messages=[{"role": "system", "content": "old"}, *HISTORY, _user("and now?")])) is None
    assert item_problem(_ok(context=ctx)) is None

    item = external_item(_ok(messages=[{"role": "system", "content": "old"}, _user("hi")]), 3)
    assert item["prompt"] == [{"role": "system", "content": system_prompt()}, _user("hi")]
    assert item["system_replaced"] and item["id"] == "line-3" and item["expected_args"] is None
    assert item["context"] is None and item["context_source"] == "default"
    assert external_item(argued, 1)["id"] == "mine" and external_item(argued, 1)["category"] == "single"
    irrelevant = external_item(_ok(expected_tools=[]), 2)
    assert irrelevant["expected_args"] == [] and irrelevant["category"] == "irrelevance"


def test_read_items_numbers_lines_and_refuses_duplicate_ids(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                json.dumps(_ok(id="a")).encode(),
                b"",  # blank lines are not items and keep the numbering
                b"{not json",
                json.dumps(_ok(id="a")).encode(),
                b"\xff\xfe",
                json.dumps(_ok()).encode(),
            ]
        )
    )
    read = read_items(path)
    assert [i["id"] for i in read.items] == ["a", "line-6"] and read.lines == 5
    reasons = {s.line: s.reason for s in read.skipped}
    assert reasons[3].startswith("malformed JSON") and reasons[4] == "id 'a' already used on line 1"
    assert reasons[5].startswith("not UTF-8") and set(reasons) == {3, 4, 5}
    assert read.sha256 == file_sha256(path)


def test_default_context_is_the_commonest_term_at_its_median_moment() -> None:
    def ctx(term: str, now: str) -> dict[str, Any]:
        return {"context": {"term": term, "split": "bench", "now": now, "seed": 0}}

    bench = [
        ctx("2025 Fall", "2025-11-01T09:00:00-04:00"),
        ctx("2024 Spring", "2024-03-01T09:00:00-05:00"),
        ctx("2025 Fall", "2025-09-01T09:00:00-04:00"),
        ctx("2025 Fall", "2025-10-01T09:00:00-04:00"),
    ]
    assert default_context(bench) == {
        "term": "2025 Fall",
        "split": "bench",
        "now": "2025-10-01T09:00:00-04:00",
        "seed": 0,
    }


def _conv(item: dict[str, Any], steps: list[list[ToolCall]], ended: str = "answered") -> Conversation:
    return Conversation(item, [], turns=["t"] * (len(steps) + 1), steps=steps, ended=ended)


def test_items_without_arguments_count_for_selection_only() -> None:
    course = ToolCall("canvas.get_course", {"course_id": 4264})
    argued = external_item(_ok(expected_tools=["canvas.get_course"], expected_args=[{"course_id": [1]}]), 1)
    bare = external_item(_ok(expected_tools=["canvas.get_course"]), 2)
    irrelevant = external_item(_ok(expected_tools=[]), 3)
    conversations = [_conv(argued, [[course]]), _conv(bare, [[course]]), _conv(irrelevant, [])]
    summary = summarize_items(conversations)
    assert summary["tool_selection_accuracy"] == 1.0 and summary["tool_selection_correct"] == 3
    assert summary["argument_accuracy"] == 0.0 and summary["argument_items"] == 1 and summary["argued_items"] == 2
    assert summary["irrelevance_accuracy"] == 1.0 and summary["irrelevance_items"] == 1
    both_argued = conversations[::2]
    expected = metrics.summarize(both_argued)
    assert {k: v for k, v in summarize_items(both_argued).items() if k in expected} == expected


# ------------------------------------------------------------------ through the CLI


def test_a_file_of_only_bad_lines_exits_2_naming_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("[]\n" + json.dumps(_ok(expected_tools=["nope.tool"])) + "\n")
    code = cli.main(["bench", "--items", str(path), "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}:1: not a JSON object" in err and f"{path}:2: expected_tools[0]: unknown tool 'nope.tool'" in err
    assert "no valid item" in err and not (tmp_path / "data").exists()


@pytest.fixture(scope="module")
def external_out(real_slice: Path, tiny_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real phases, the tiny tokenizer, a random tiny base and a random `sft` checkpoint."""
    from canvas_pipeline_tests.test_release import link_data, write_full_checkpoint

    out = tmp_path_factory.mktemp("external_out")
    link_data(out, real_slice, tiny_tokenizer_dir)
    write_full_checkpoint(out, "sft")
    return out


def _requests(out: Path) -> tuple[list[str], dict[str, Any]]:
    """Seven lines: five valid requests, a malformed line (5) and an unknown tool (6). The
    fourth carries the context of a bench item in a term that is not the default."""
    bench = read_jsonl(out / "phase4" / "benchmark.jsonl")
    default = default_context(bench)
    own = next(i["context"] for i in bench if i["context"]["term"] != default["term"])
    lines = [
        json.dumps(_ok(expected_args=[{}])),
        json.dumps({"messages": [_user("Which courses am I taking?")], "expected_tools": ["canvas.list_courses"]}),
        json.dumps({"messages": [_user("Write me a poem about autumn.")], "expected_tools": [], "id": "poem"}),
        json.dumps(
            {
                "messages": [_user("How are my grades looking?")],
                "expected_tools": ["canvas.get_grades"],
                "expected_args": [{"course_id": [""]}],
                "context": own,
            }
        ),
        '{"messages": [{"role": "user", "content": "unfinished"',
        json.dumps({"messages": [_user("Change my grade.")], "expected_tools": ["canvas.hack_grades"]}),
        json.dumps(
            {
                "messages": [{"role": "system", "content": "You are helpful."}, *HISTORY, _user("Find a free hour.")],
                "expected_tools": ["calendar.find_free_blocks"],
                "expected_args": [{"min_minutes": [60], "horizon_days": [1, 2, 7, ""]}],
            }
        ),
    ]
    return lines, own


def test_own_requests_are_scored_recorded_and_counted(
    external_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines, own = _requests(external_out)
    path = tmp_path / "student_questions.jsonl"
    path.write_text("\n".join(lines) + "\n")

    code = cli.main(["bench", "--items", str(path), "--data-dir", str(external_out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"{path}:5: malformed JSON" in printed.err
    assert f"{path}:6: expected_tools[0]: unknown tool 'canvas.hack_grades'" in printed.err
    assert sum(line.startswith(f"{path}:") for line in printed.err.splitlines()) == 2, printed.err

    target = external_record_path(external_out, "tiny", path, "sft")
    assert target == eval_dir(external_out, "tiny") / "external" / "student_questions" / "sft.json"
    record = json.loads(target.read_text())
    assert f"record: {target}" in printed.out and "sft" in printed.out
    assert record["items_file"] == str(path.resolve()) and record["items_sha256"] == file_sha256(path)
    assert record["skipped_lines"] == [
        {"line": 5, "reason": record["skipped_lines"][0]["reason"]},
        {"line": 6, "reason": "expected_tools[0]: unknown tool 'canvas.hack_grades'"},
    ]
    summary = record["summary"]
    assert (summary["lines"], summary["scored"], summary["skipped"], summary["items"]) == (7, 5, 2, 5)
    assert (summary["argued_items"], summary["irrelevance_items"], summary["system_replaced"]) == (4, 1, 1)
    assert summary["default_context_items"] == 4 and record["default_context"]["split"] == "bench"

    conversations = record["conversations"]
    assert [c["line"] for c in conversations] == [1, 2, 3, 4, 7]
    assert [c["id"] for c in conversations] == ["line-1", "line-2", "poem", "line-4", "line-7"]
    assert [c["context_source"] for c in conversations] == ["default"] * 3 + ["item", "default"]
    allowed = {"answered", "parse_error", "turn_limit", "backend_error"}
    assert all(c["ended"] in allowed and c["turns"] for c in conversations)

    # selection accuracy, its interval and the irrelevance accuracy from the conversations alone
    def right(c: dict[str, Any]) -> bool:
        parsed = not (c["ended"] == "parse_error" and len(c["turns"]) == 1)
        first = c["calls"][0][0]["name"] if c["calls"] and parsed else None
        return parsed and first == (c["expected_tools"][0] if c["expected_tools"] else None)

    correct = sum(right(c) for c in conversations)
    assert [right(c) for c in conversations] == [c["selected_right"] for c in conversations]
    assert summary["tool_selection_correct"] == correct
    assert summary["tool_selection_accuracy"] == pytest.approx(correct / 5)
    interval = metrics.wilson_interval(correct, 5)
    assert interval is not None and summary["tool_selection_interval"] == pytest.approx([interval.low, interval.high])
    assert summary["irrelevance_accuracy"] == float(right(conversations[2]))
    assert sum(row["n"] for row in record["per_tool"].values()) == 5
    assert record["outputs"] == {c["id"]: c["turns"][0] for c in conversations}
    assert f"tool selection {correct / 5:.1%} [{interval.low:.1%}, {interval.high:.1%}] of 5" in printed.out
    assert "scored 5, skipped 2" in printed.out

    # only the external record: no bench record, selection or report, and no base record by default
    assert not bench_record_path(external_out, "tiny", "sft").exists()
    assert not selection_path(external_out, "tiny").exists()
    assert not (eval_dir(external_out, "tiny") / "report").exists()
    assert not target.with_name("base.json").exists()
    assert own["term"] != record["default_context"]["term"]


def test_a_missing_checkpoint_exits_1_and_writes_nothing(
    external_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(_ok()) + "\n")
    code = cli.main(["bench", "--items", str(path), "--data-dir", str(external_out), "--method", "dpo"])
    assert code == 1 and "no checkpoint for ['dpo']" in capsys.readouterr().err
    assert not (eval_dir(external_out, "tiny") / "external" / "one").exists()


def test_base_is_benched_only_with_items(
    external_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["bench", "--data-dir", str(external_out), "--method", "base"]) == 2
    assert "--method base only with --items" in capsys.readouterr().err
    path = tmp_path / "base_items.jsonl"
    path.write_text(json.dumps(_ok()) + "\n" + json.dumps(_ok(expected_tools=[])) + "\n")
    args = ["bench", "--items", str(path), "--data-dir", str(external_out)]
    assert cli.main([*args, "--bench-items", "4"]) == 2
    assert "do not apply to --items" in capsys.readouterr().err
    assert cli.main([*args, "--method", "base"]) == 0
    record = json.loads(external_record_path(external_out, "tiny", path, "base").read_text())
    assert record["method"] == "base" and record["summary"]["scored"] == 2 and record["skipped_lines"] == []


def test_every_item_rebuilds_a_backend_in_its_context_with_its_history_replayed(
    external_out: Path, tmp_path: Path
) -> None:
    """What the harness does with a model's first call (a random model rarely makes one)."""
    lines, own = _requests(external_out)
    path = tmp_path / "student_questions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    backends = BackendFactory.from_out_dir(external_out)
    items = attach_contexts(read_items(path), backends.views, external_out / "phase4" / "benchmark.jsonl").items
    courses = {}
    for item in items:
        response = backends.for_item(item).execute(ToolCall("canvas.list_courses", {}))
        assert "error" not in response, (item["id"], response)
        courses[item["id"]] = response_content(response)
    assert items[3]["context"] == own and courses["line-4"] != courses["line-1"], "its own term, its own courses"
    assert courses["line-1"] == courses["line-7"], "both in the default context"

    bad = tmp_path / "elsewhere.jsonl"
    bad.write_text(json.dumps(_ok(context={**own, "term": "1999 Fall"})) + "\n")
    skipped = attach_contexts(read_items(bad), backends.views).skipped
    assert [s.line for s in skipped] == [1] and "no bench view of term '1999 Fall'" in skipped[0].reason
