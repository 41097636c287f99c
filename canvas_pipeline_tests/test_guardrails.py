"""Each data guardrail both ways: it passes on the pipeline's own output, and on a planted
copy of the old pipeline's failure it fails, alone, naming the offending rows."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from canvas_pipeline.cli_args import build_parser
from canvas_pipeline.guardrails import DataDirError, GuardrailResult, load_bundle, run_guardrails
from canvas_pipeline.guardrails.checks import validate_min_rows
from canvas_pipeline.guardrails.registry import GUARDRAILS, CheckConfig
from canvas_pipeline.tools.chat_format import response_content, system_prompt
from canvas_pipeline.tools.codec import ToolCall
from canvas_pipeline.training.guardrail_config import check_config
from canvas_pipeline_tests.planting import planted, read_rows, shrink_raw_report, write_rows

LATER = {"G3", "G5", "G9"}
Rows = list[dict[str, Any]]


@pytest.fixture(scope="session")
def check_cfg(tiny_tokenizer_dir: Path) -> CheckConfig:
    return check_config("tiny", tiny_tokenizer_dir, cli_parser=build_parser)


def results_for(folder: Path, config: CheckConfig) -> dict[str, GuardrailResult]:
    return {r.id: r for r in run_guardrails(load_bundle(folder), config)}


@pytest.fixture(scope="module")
def real_results(real_slice: Path, check_cfg: CheckConfig) -> dict[str, GuardrailResult]:
    """Every guardrail on the pipeline's own output, run once for the tests that read it."""
    return results_for(real_slice, check_cfg)


def failed(results: dict[str, GuardrailResult]) -> list[str]:
    return [gid for gid, r in results.items() if r.passed is False]


def test_registry_holds_all_14_in_order() -> None:
    assert [g.id for g in GUARDRAILS] == [f"G{i}" for i in range(1, 15)]


def test_pipeline_output_passes_every_data_guardrail(real_results: dict[str, GuardrailResult]) -> None:
    results = real_results
    assert failed(results) == []
    for gid in ("G1", "G2", "G4", "G6", "G7", "G8", "G11", "G12", "G13", "G14"):
        assert results[gid].passed is True, results[gid]
    assert set(results["G2"].value) == {"phase1", "phase2", "phase3", "bench"}
    assert results["G2"].value["bench"]["shared_with_training_data"] == 0
    assert results["G1"].passed is True
    assert {gid for gid, r in results.items() if r.passed is None} == LATER | {"G10"}
    assert all(results[g].reason for g in LATER)  # NOT RUN says why, never PASS
    # layer (a) ran the Dockerfiles' argv here; without an engine nothing was built: NOT RUN
    assert results["G10"].passed is None and "layer (a) passed" in results["G10"].reason


# ---------------------------------------------------------------- G1


def _preference_rows(rows: Rows, chosen: Callable[[dict], list[dict]], rejected: Callable[[dict], list[dict]]) -> Rows:
    out = []
    for row in rows:
        prompt = row["messages"][:2]
        out.append(
            {
                "id": row["id"].replace("p1", "p2"),
                "split": row["split"],
                "prompt": prompt,
                "chosen": chosen(row),
                "rejected": rejected(row),
                "item_ids": row["item_ids"],
            }
        )
    return out


def _rationale(text: str) -> Callable[[dict], list[dict]]:
    return lambda row: [{"role": "assistant", "content": text}]


def test_g1_urgency_rationales_without_tool_calls_fail(
    real_slice: Path, tmp_path: Path, check_cfg: CheckConfig
) -> None:
    def edit(folder: Path) -> None:
        rows = read_rows(folder)
        write_rows(
            folder,
            _preference_rows(
                rows,
                _rationale("This one is more urgent: it is due sooner and is worth more points."),
                _rationale("That can wait; the deadline is further away."),
            ),
            "phase2/dpo_pairs.jsonl",
        )

    folder = planted(real_slice, tmp_path, edit)
    results = results_for(folder, check_cfg)
    # every planted pair is the same text on each side: G14 sees that too
    assert failed(results) == ["G1", "G14"]
    assert results["G1"].value == {"chosen": 0.0, "rejected": 0.0}
    assert (
        results["G1"].n_offending == 2 * len(read_rows(folder, "phase2/dpo_pairs.jsonl"))
        and "phase2:p2-train-00000 (chosen has no <|tool_call>)" in results["G1"].details
    )


def test_g1_native_calls_on_both_sides_pass_and_g7_spares_rejected_hallucinations(
    real_slice: Path, tmp_path: Path, check_cfg: CheckConfig
) -> None:
    def hallucinated(row: dict) -> list[dict]:
        wrong = copy.deepcopy(row["messages"][2])
        wrong["tool_calls"][0]["function"]["name"] = "canvas.list_assignments"
        return [wrong]

    def edit(folder: Path) -> None:
        write_rows(
            folder,
            _preference_rows(
                [r for r in read_rows(folder) if r["tools_used"]], lambda r: [r["messages"][2]], hallucinated
            ),
            "phase2/dpo_pairs.jsonl",
        )

    results = results_for(planted(real_slice, tmp_path, edit), check_cfg)
    assert results["G1"].passed is True and results["G1"].value == {"chosen": 1.0, "rejected": 1.0}
    # one hallucinated name on every rejected side is a shortcut a prompt-blind model learns
    assert failed(results) == ["G14"] and results["G14"].value["phase2"]["overall"] > 0.85


# ---------------------------------------------------------------- G2


def test_g2_eval_sharing_a_course_with_train_fails(real_slice: Path, tmp_path: Path, check_cfg: CheckConfig) -> None:
    def edit(folder: Path) -> None:
        rows = read_rows(folder)
        test_item = next(i for r in rows if r["split"] == "test" for i in r["item_ids"] if i.startswith("course:"))
        rows[0]["item_ids"] = [*rows[0]["item_ids"], test_item]
        write_rows(folder, rows)

    results = results_for(planted(real_slice, tmp_path, edit), check_cfg)
    assert failed(results) == ["G2"]
    assert results["G2"].value["phase1"]["shared_items"] == 1
    assert any("is in train and eval" in d for d in results["G2"].details)


def test_g2_empty_eval_fails(real_slice: Path, tmp_path: Path, check_cfg: CheckConfig) -> None:
    results = results_for(
        planted(real_slice, tmp_path, lambda f: write_rows(f, [r for r in read_rows(f) if r["split"] == "train"])),
        check_cfg,
    )
    assert failed(results) == ["G2"]
    assert results["G2"].details == ("phase1: eval split is empty",)


# ---------------------------------------------------------------- G4


def test_g4_list_announcements_8_fails(real_slice: Path, tmp_path: Path, check_cfg: CheckConfig) -> None:
    def edit(folder: Path) -> None:
        rows, kept, seen = read_rows(folder), [], 0
        for row in rows:
            if row["split"] == "train" and "canvas.list_announcements" in row["tools_used"]:
                seen += 1
                if seen > 8:
                    continue
            kept.append(row)
        write_rows(folder, kept)

    results = results_for(planted(real_slice, tmp_path, edit), check_cfg)
    assert failed(results) == ["G4"]
    assert results["G4"].extra["counts"]["canvas.list_announcements"] == 8
    assert "canvas.list_announcements: 8 < 30" in results["G4"].details


# ---------------------------------------------------------------- G6


def test_g6_3000_to_1849_without_a_reason_fails(real_slice: Path, tmp_path: Path, check_cfg: CheckConfig) -> None:
    results = results_for(planted(real_slice, tmp_path, shrink_raw_report), check_cfg)
    assert failed(results) == ["G6"]
    assert results["G6"].details[0].startswith("raw: 3000 -> 1849 rows (61.6%)")


def test_g6_with_a_reason_passes_and_records_it(real_slice: Path, tmp_path: Path, tiny_tokenizer_dir: Path) -> None:
    config = check_config("tiny", tiny_tokenizer_dir, {"raw": "half the export was a corrupted backup"})
    results = results_for(planted(real_slice, tmp_path, shrink_raw_report), config)
    assert failed(results) == []
    assert "half the export was a corrupted backup" in results["G6"].reason


# ---------------------------------------------------------------- G7, G8


def test_g7_hallucinated_tool_in_sft_data_fails(real_slice: Path, tmp_path: Path, check_cfg: CheckConfig) -> None:
    def edit(folder: Path) -> None:
        rows = read_rows(folder)
        for row in [r for r in rows if r["tools_used"]][:3]:
            row["messages"][2]["tool_calls"][0]["function"]["name"] = "canvas.list_assignments"
        write_rows(folder, rows)

    results = results_for(planted(real_slice, tmp_path, edit), check_cfg)
    assert failed(results) == ["G7"]
    assert results["G7"].n_offending == 3 and "phase1:p1-train-00000: canvas.list_assignments" in results["G7"].details


def test_g8_python_str_serialized_calls_fail(real_slice: Path, tmp_path: Path, check_cfg: CheckConfig) -> None:
    def edit(folder: Path) -> None:
        rows = read_rows(folder)
        with_args = [r for r in rows if r["tools_used"] and r["messages"][2]["tool_calls"][0]["function"]["arguments"]]
        for row in with_args[:5]:
            message = row["messages"][2]
            call = ToolCall.from_message_call(message.pop("tool_calls")[0])
            message["content"] = f"<|tool_call>call:{call.name}{call.arguments}<tool_call|>"  # str(dict), not the codec
        write_rows(folder, rows)

    results = results_for(planted(real_slice, tmp_path, edit), check_cfg)
    assert failed(results) == ["G8"]
    assert results["G8"].n_offending == 5 and "bad_key" in results["G8"].details[0]


# ---------------------------------------------------------------- G11


def test_g11_long_multi_call_trajectories_fail(
    real_slice: Path, tmp_path: Path, check_cfg: CheckConfig, real_results: dict[str, GuardrailResult]
) -> None:
    def edit(folder: Path) -> None:
        rows = read_rows(folder)
        long_result = {
            "assignments": [
                {
                    "id": k,
                    "title": f"Reading response {k}",
                    "due_at": "2026-03-01T23:59:00-05:00",
                    "points": 10.0,
                    "status": "UNSUBMITTED",
                }
                for k in range(150)
            ]
        }
        for row in [r for r in rows if r["tools_used"]][:100]:
            tools = [m for m in row["messages"] if m["role"] == "tool"]
            tools[-1]["content"] = response_content(long_result)
        write_rows(folder, rows)

    baseline = real_results["G11"]
    assert baseline.passed  # a few real rows may run long (the 4096-token tiny vocab), under 1%
    results = results_for(planted(real_slice, tmp_path, edit), check_cfg)
    assert failed(results) == ["G11"]
    # the 100 planted rows, plus whichever real long rows the plant did not already cover
    assert 100 <= results["G11"].n_offending <= 100 + baseline.n_offending and results["G11"].value["share_over"] > 0.01
    assert results["G11"].details[0].split(": ")[1].endswith("tokens")


def test_g11_is_not_run_without_a_tokenizer_never_passed(real_slice: Path) -> None:
    (result,) = run_guardrails(load_bundle(real_slice), check_config("tiny", None), ("G11",))
    assert result.passed is None and "tokenizer" in result.reason


# ---------------------------------------------------------------- G12


def _kto_rows(rows: Rows, n_train: int, n_test: int) -> Rows:
    picked = [r for r in rows if r["split"] == "train"][:n_train] + [r for r in rows if r["split"] == "test"][:n_test]
    return [
        {
            "id": r["id"].replace("p1", "p3"),
            "split": r["split"],
            "prompt": r["messages"][:2],
            "completion": r["messages"][2:],
            "label": True,
            "item_ids": r["item_ids"],
        }
        for r in picked
    ]


def test_g12_kto_with_146_rows_fails(real_slice: Path, tmp_path: Path, check_cfg: CheckConfig) -> None:
    folder = planted(
        real_slice, tmp_path, lambda f: write_rows(f, _kto_rows(read_rows(f), 146, 20), "phase3/kto_feedback.jsonl")
    )
    results = results_for(folder, check_cfg)
    assert failed(results) == ["G12"]
    assert results["G12"].details == ("kto: phase3 train has 146 rows < 1000",)


def test_g12_minimums_can_be_raised_not_lowered(real_slice: Path, tiny_tokenizer_dir: Path) -> None:
    assert validate_min_rows({"kto": 2000})["kto"] == 2000
    with pytest.raises(ValueError, match="can only be raised"):
        validate_min_rows({"kto": 146})
    raised = check_config("tiny", tiny_tokenizer_dir, min_rows={"sft": 5000})
    result = next(r for r in run_guardrails(load_bundle(real_slice), raised, ("G12",)))
    assert result.passed is False and "sft: phase1 train has 3000 rows < 5000" in result.details


# ---------------------------------------------------------------- G13


def test_g13_get_todo_seven_times_fails(real_slice: Path, tmp_path: Path, check_cfg: CheckConfig) -> None:
    def edit(folder: Path) -> None:
        rows = read_rows(folder)
        row = next(r for r in rows if r["intent"] == "todo")
        call, response = row["messages"][2], row["messages"][3]
        row["messages"] = (
            row["messages"][:2] + [copy.deepcopy(m) for _ in range(7) for m in (call, response)] + row["messages"][4:]
        )
        row["tools_used"] = ["canvas.get_todo"] * 7
        write_rows(folder, rows)

    results = results_for(planted(real_slice, tmp_path, edit), check_cfg)
    assert failed(results) == ["G13"]
    assert results["G13"].value == 7 and results["G13"].details[0].endswith("canvas.get_todo x7")


# ---------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"id": "x", "split": "train"\n', "malformed JSON"),
        (b"\xff\xfe\n", "not UTF-8"),
        (b'{"id": "x", "split": "train", "item_ids": []}\n', "missing field(s) ['messages']"),
        (b'{"id": "x", "split": "train", "messages": "hi", "item_ids": []}\n', "must be a list of chat messages"),
    ],
)
def test_a_corrupt_dataset_file_is_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "phase1").mkdir()
    (tmp_path / "phase1" / "sft_trajectories.jsonl").write_bytes(content)
    with pytest.raises(DataDirError, match="sft_trajectories.jsonl:1") as info:
        load_bundle(tmp_path)
    assert message in str(info.value)


def test_system_prompt_is_in_every_row(real_slice: Path) -> None:
    assert all(r["messages"][0]["content"] == system_prompt() for r in read_rows(real_slice))


# ---------------------------------------------------------------- G5


def test_g5_fails_a_trained_method_without_a_dry_run_record() -> None:
    """A record for one method is not a verdict on the others: every method with a
    checkpoint needs its own dry run."""
    from canvas_pipeline.guardrails.checks import g5_dry_runs

    ok = {"grad_norm": 0.7, "passed": True, "reason": "ok"}
    assert g5_dry_runs({"sft": ok}, ["sft"]).passed is True
    result = g5_dry_runs({"sft": ok}, ["dpo", "sft"])
    assert result.passed is False and result.details == ("dpo: a checkpoint without a dry-run record",)
    bad = {"grad_norm": 52.65, "passed": False, "reason": "grad_norm 52.65 >= 1.0"}
    assert g5_dry_runs({"sft": ok, "sppo": bad}, ["sft"]).details == ("sppo: grad_norm 52.65 >= 1.0",)
