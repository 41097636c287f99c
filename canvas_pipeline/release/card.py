"""The model card of a release (`README.md`, with a YAML header from `ModelCardData`):
the base model, the method and its lineage, the data with per-stage shrinkage, every
guardrail G1-G14 with its value, threshold and status (G9 and G10 as the release judged
them: PASS, FAIL, NOT RUN waived by name with the reason, or NOT RUN with no waiver, each with
its source, and called out at the top when not passed), the bench table with Wilson 95%
intervals, what each method did against `sft` (paired, exact McNemar, with the per-axis
failure rates), the released checkpoint's generalization gap (eval split, seen phrasings, vs
bench, unseen phrasings), the selection rule and why this checkpoint won, and the
limitations.

The YAML header lists the datasets (the stages the lineage trained on, then the phase-4 bench
its `model-index` results come from: each by its Hub dataset id when the card is given one,
else by its local name), the `trl` tag (every method trains with a TRL trainer) and the `peft`
tag when a checkpoint on the lineage was trained through a LoRA or QLoRA adapter (the release
merges it, but the method used PEFT)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from canvas_pipeline.evaluation.report import (
    PHRASINGS_NOTE,
    SIGNIFICANCE,
    effects_sentences,
    effects_table,
    failure_table,
    gap_text,
    p_clause,
    phrasing_gap,
    side_text,
)
from canvas_pipeline.guardrails.result import GuardrailResult
from canvas_pipeline.release.export import ExportRecord
from canvas_pipeline.release.gate import INFORMATIONAL, LINEAGE_GATE, InformationalVerdict, LineageStep

BASE = "base"
BENCH_DATASET = "canvas_pipeline phase-4 tool-calling bench"
# The local names of the data stages a release can list in `datasets` (no Hub id given).
STAGE_DATASETS = {
    "phase1": "canvas_pipeline phase-1 SFT trajectories",
    "phase2": "canvas_pipeline phase-2 DPO pairs",
    "phase3": "canvas_pipeline phase-3 KTO feedback",
    "on_policy": "canvas_pipeline on-policy preference data",
    "phase4": BENCH_DATASET,
}
BENCH_STAGE = "phase4"
PEFT_ADAPTERS = ("lora", "qlora")
LOW_CONFIDENCE_N = 40
VALUE_WIDTH = 110


@dataclass(frozen=True)
class CardInputs:
    """Everything the card states; `records` holds bench records by model (`base` first)."""

    profile: str
    method: str
    steps: Sequence[LineageStep]
    selection: Mapping[str, Any]
    records: Mapping[str, Mapping[str, Any]]
    stage_reports: Mapping[str, Mapping[str, Any]]
    guardrails: Sequence[GuardrailResult]
    export: ExportRecord
    repo_id: str | None = None
    warnings: Sequence[str] = field(default_factory=tuple)
    # The report's paired comparison of every method against `sft` (`evaluation.paired`).
    effects: Mapping[str, Any] = field(default_factory=dict)
    # G9 and G10 as the release judged them (`gate.informational_verdicts`); empty: from `guardrails`
    informational: Sequence[InformationalVerdict] = field(default_factory=tuple)
    # Hub dataset ids of published stages ("phase1".."phase4"); a stage without one is named locally
    dataset_repos: Mapping[str, str] = field(default_factory=dict)


def _pct(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1%}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _interval(low: Any, high: Any) -> str:
    return "" if low is None or high is None else f" [{float(low):.1%}, {float(high):.1%}]"


def _params(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n < 1e9 else f"{n / 1e9:.2f}B"


def _figure(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _hub_model_id(profile: str) -> str | None:
    from canvas_pipeline.training.profiles import get_profile

    return get_profile(profile).hub_model_id


def base_model_section(profile: str, parameters: int) -> str:
    """What the model is; for tiny and e2b-shape, plainly that it is no assistant."""
    hub_id = _hub_model_id(profile)
    if hub_id:
        return f"Fine-tuned from [`{hub_id}`](https://huggingface.co/{hub_id}) ({_params(parameters)} parameters)."
    if profile == "tiny":
        return (
            "> **Demonstration model: not for students' use.** This is the `tiny` profile: a "
            f"{_params(parameters)}-parameter random Gemma-4 (`Gemma4ForCausalLM` from a small "
            "`Gemma4TextConfig`, two layers) with a tokenizer trained locally, warmed up locally on "
            "generic tool-call conversations before the method below trained it. It is not "
            "Gemma-4-E2B and holds none of Google's weights. It exists to show the pipeline's data, "
            "guardrails, training, bench and release working end to end; its answers are not "
            "reliable and it must not be put in front of students."
        )
    return (
        f"> **Not a usable model.** Profile `{profile}`: a {_params(parameters)}-parameter Gemma-4 "
        "architecture with random weights, released only to measure speed and memory."
    )


PREFERENCE_DATA = (
    "Preference pairs and KTO rows are made at the decision points of the SFT conversations: the "
    "right side is what the conversation did, the wrong side breaks exactly the axes its label names "
    "(tool, keys, values, parsimony, order, format, domain, termination). Parsimony, order and "
    "termination go both ways (a call too many and one too few; a call before its prerequisite and "
    "a prerequisite run again; calling on after the answer is known and answering before the result "
    "is in). Wrong parts are drawn from the conversation and the split's own calls and answers "
    "(another course it has shown, a date a day off, a real call made elsewhere), and misspelt names "
    "are generated; KTO also sees answers that misreport a figure a tool returned. G14 holds a "
    "classifier that never sees the prompt to <= 75% on the "
    "context-dependent axes and <= 85% overall: its values are in the guardrail table."
)


def training_section(method: str, steps: Sequence[LineageStep], export: ExportRecord) -> str:
    chain = " → ".join([*(f"`{s.method}`" for s in reversed(steps)), "this release"])
    step = steps[0].manifest.get("step") if steps else None
    final = steps[0].manifest.get("final_step") if steps else None
    which = f", step {step} of {final} (the step the eval split selected)" if final else ""
    lines = [f"Method: **{method}**{which}. Lineage: base model → {chain}.", ""]
    lines.append(f"Weights: {export.how} ({export.dtype}).")
    metrics = steps[0].manifest.get("metrics", {}) if steps else {}
    keep = ("trainer", "adapter", "loss_type", "beta", "learning_rate", "steps", "train_rows_used", "eval_rows_used")
    keep += ("train_loss", "eval_loss", "eval_reward_margin", "eval_reward_accuracy", "bench_identical_to_sft")
    shown = [f"| {k} | {_cell(_figure(metrics[k]))} |" for k in keep if metrics.get(k) is not None]
    if shown:
        lines += ["", "| training figure | value |", "|---|---|", *shown]
    lines += [
        "",
        f"Release check: the released folder, loaded back with plain `AutoModelForCausalLM`, gives logits "
        f"within {export.max_abs_logit_diff:.2g} of the checkpoint as the bench loaded it "
        f"(tolerance {export.tolerance:.2g}).",
    ]
    return "\n".join(lines)


def data_table(stage_reports: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per stage: rows in and out, retained, shrinkage and the drop reasons."""
    rows = [
        "| stage | rows in | rows out | retained | shrinkage | dropped (reason: rows) |",
        "|---|---|---|---|---|---|",
    ]
    for name, report in stage_reports.items():
        if not report:
            rows.append(f"| {name} | — | — | — | — | no report |")
            continue
        retained = report.get("retained")
        dropped = {k.removeprefix("dropped."): v for k, v in report.items() if k.startswith("dropped.")}
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(dropped.items())) or "none"
        shrink = None if retained is None else 1 - float(retained)
        rows.append(
            f"| {_cell(report.get('stage', name))} | {report.get('rows_in', '—')} | {report.get('rows_out', '—')} "
            f"| {_pct(retained)} | {_pct(shrink)} | {_cell(reasons)} |"
        )
    return "\n".join(rows)


def _value_text(value: Any) -> str:
    if value is None:
        return "—"
    text = json.dumps(value, default=str, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 3] + "..."


def verdict_source(verdict: InformationalVerdict) -> str:
    """Where a G9/G10 verdict comes from, without local paths: the release's own run, or the
    check report (`guardrails.json`) and when it ran."""
    if verdict.source == "check report":
        name = Path(verdict.check_report).name if verdict.check_report else "guardrails.json"
        return f"`canvas-train check` report `{name}` of {verdict.checked_at or 'unknown date'}, on this data"
    return "the release's own run" if verdict.source == "release" else "no check report on this data"


def _verdict_status(verdict: InformationalVerdict) -> str:
    if verdict.waiver:
        return f'**NOT RUN, waived**: "{_cell(verdict.waiver)}"'
    return f"**{verdict.label}**"


def guardrail_table(results: Sequence[GuardrailResult], informational: Sequence[InformationalVerdict] = ()) -> str:
    """Every guardrail with its value, threshold, status and role in the release gate; G9
    and G10 with the release's verdict (`informational`) and where it comes from."""
    verdicts = {v.id: v for v in informational}
    rows = ["| id | guardrail | status | value | threshold | role | note |", "|---|---|---|---|---|---|---|"]
    for r in results:
        role = "release gate" if r.id in LINEAGE_GATE else "—"
        status, note = f"**{r.status}**", r.reason or "; ".join(r.details[:3])
        if r.id in INFORMATIONAL:
            role = "publish gate: a PASS or a waiver by name"
        if (verdict := verdicts.get(r.id)) is not None:
            status = _verdict_status(verdict)
            note = verdict.detail if verdict.source == "none" else f"from {verdict_source(verdict)}: {verdict.detail}"
        rows.append(
            f"| {r.id} | {_cell(r.name)} | {status} | `{_cell(_value_text(r.value))}` "
            f"| {_cell(r.threshold)} | {role} | {_cell(note)} |"
        )
    return "\n".join(rows)


def informational_notice(informational: Sequence[InformationalVerdict]) -> str:
    """The call-out at the top of the card: G9/G10 not run and not waived (such a release is
    a dry run: publishing refuses it), and the waivers with their reasons. Empty when both passed."""
    unwaived = [v for v in informational if v.status == "NOT RUN" and not v.waiver]
    waived = [v for v in informational if v.waiver]
    lines = []
    if unwaived:
        ids = ", ".join(v.id for v in unwaived)
        them, each = ("them", "each") if len(unwaived) > 1 else ("it", "it")
        lines.append(
            f"> **Guardrail{'s' if len(unwaived) > 1 else ''} {ids}: NOT RUN, no waiver.** Neither the release nor "
            f"a `canvas-train check` report on this data passed {them}, and nobody waived {them} by name: not "
            "passed, and this release may not be published (publishing refuses it). Run `canvas-train check "
            f"--data-dir DATA_DIR` on this data, or waive {each} by name with a reason "
            f'(`--waive {unwaived[0].id}="why"`).'
        )
    for v in waived:
        lines.append(
            f'> **{v.id} ({v.name}): NOT RUN, waived** by name: "{v.waiver}" ({verdict_source(v)}). '
            "Waived is not passed."
        )
    return "\n>\n".join(lines)


def bench_table(records: Mapping[str, Mapping[str, Any]], selection: Mapping[str, Any]) -> str:
    """Every model on the bench: tool selection with its Wilson 95% interval, the
    eval-split macro accuracy selection used, and the other headline metrics."""
    rows = [
        "| model | items | tool selection [Wilson 95%] | macro tool acc. (eval split) | arguments | full-call exact "
        "| parsimony | irrelevance | format valid | identical to SFT | selection |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    candidates = selection.get("candidates", {})
    for name, record in records.items():
        s = record.get("summary", {})
        interval = s.get("tool_selection_interval") or (None, None)
        entry = candidates.get(name, {})
        if name == BASE:
            verdict = "baseline (G3)"
        elif name == selection.get("selected"):
            verdict = "**selected**"
        elif entry:
            under = len(entry.get("floor_violations", {}))
            verdict = f"{under} tools under the floor" if under else "qualifies"
        else:
            verdict = "—"
        rows.append(
            f"| {name} | {s.get('items', '—')} | {_pct(s.get('tool_selection_accuracy'))}{_interval(*interval)} "
            f"| {_pct(entry.get('macro_tool_accuracy'))} | {_pct(s.get('argument_accuracy'))} "
            f"| {_pct(s.get('full_call_exact'))} | {_pct(s.get('parsimony_rate'))} "
            f"| {_pct(s.get('irrelevance_accuracy'))} | {_pct(s.get('format_validity'))} "
            f"| {_pct(s.get('identical_to_sft'))} | {verdict} |"
        )
    return "\n".join(rows)


def per_tool_table(record: Mapping[str, Any]) -> str:
    """The released checkpoint's tool-selection accuracy per tool with its interval."""
    rows = ["| tool | n | correct | accuracy [Wilson 95%] | low confidence |", "|---|---|---|---|---|"]
    for tool, row in sorted(record.get("per_tool", {}).items()):
        flag = "yes" if row.get("low_confidence") else ""
        rows.append(
            f"| `{tool}` | {row.get('n', '—')} | {row.get('correct', '—')} "
            f"| {_pct(row.get('accuracy'))}{_interval(row.get('low'), row.get('high'))} | {flag} |"
        )
    return "\n".join(rows)


def phrasing_gap_section(method: str, record: Mapping[str, Any]) -> str:
    """The released checkpoint's tool selection on the eval split (seen phrasings) and on
    the bench (unseen phrasings), the gap in points and its Fisher exact p-value; a side
    the record lacks reads "not run"."""
    gap = phrasing_gap(method, record)
    rows = [
        f"{PHRASINGS_NOTE} Both: first-turn tool-selection accuracy (irrelevance items included), Wilson 95% "
        "intervals in brackets.",
        "",
        "| item set | phrasings | n | tool selection [Wilson 95%] |",
        "|---|---|---|---|",
        f"| eval split (selected the checkpoint) | seen in training | {gap.seen.n if gap.seen else '—'} "
        f"| {side_text(gap.seen)} |",
        f"| bench | unseen | {gap.unseen.n if gap.unseen else '—'} | {side_text(gap.unseen)} |",
        "",
    ]
    if gap.gap_points is None:
        rows.append(f"Generalization gap (eval − bench): {gap.verdict}.")
    else:
        rows.append(
            f"Generalization gap (eval − bench): **{gap_text(gap)} points**; two-sided Fisher exact p "
            f"{p_clause(gap.p_value)} (unpaired item sets, significant at p < {SIGNIFICANCE:g}): {gap.verdict}."
        )
    return "\n".join(rows)


def selection_section(selection: Mapping[str, Any]) -> str:
    """The rule, why this checkpoint won, and every candidate's standing."""
    lines = [
        f"Rule: {selection.get('rule', '—')} (split: {selection.get('split', 'eval')}).",
        "",
        f"Why this checkpoint: {selection.get('reason', '—')}",
        "",
        "| candidate | macro tool acc. (eval split) | tools under the floor | qualifies |",
        "|---|---|---|---|",
    ]
    for name, entry in selection.get("candidates", {}).items():
        under = entry.get("floor_violations", {})
        worst = ", ".join(f"`{t}` {_pct(a)}" for t, a in sorted(under.items(), key=lambda kv: kv[1])[:4])
        more = f" and {len(under) - 4} more" if len(under) > 4 else ""
        qualifies = "yes" if entry.get("qualifies") else "no"
        lines.append(f"| {name} | {_pct(entry.get('macro_tool_accuracy'))} | {worst or 'none'}{more} | {qualifies} |")
    if selection.get("missing"):
        lines += ["", f"No bench record (partition failed): {', '.join(selection['missing'])}."]
    return "\n".join(lines)


def limitations(inputs: CardInputs) -> list[str]:
    """What the numbers do not say."""
    record = inputs.records.get(inputs.method, {})
    low = sorted(t for t, row in record.get("per_tool", {}).items() if row.get("low_confidence"))
    items = [
        "The bench is generated from held-out courses of one simulated term and the tools' simulated "
        "backends; real Canvas data and real students' wording will differ.",
        f"Per-tool accuracies rest on small samples; tools with fewer than {LOW_CONFIDENCE_N} bench "
        f"samples are flagged low-confidence: {', '.join(f'`{t}`' for t in low) if low else 'none'}.",
        "Decode with special tokens kept (`skip_special_tokens=False`): the tool-call envelope is made "
        "of special tokens, and decoding without them deletes the calls.",
        "The model only proposes tool calls; the caller must validate them against the tool registry "
        "before executing anything.",
    ]
    if inputs.profile == "tiny":
        items.insert(0, "A demonstration model (see the top of this card): not for students' use.")
    if inputs.export.adapter == "qlora":
        items.append(
            "Trained as a QLoRA adapter on a 4-bit NF4 base; released as full-precision weights of the "
            "dequantized base with the adapter merged, which reproduce the benched model."
        )
    informational = _informational(inputs)
    unwaived = [v.id for v in informational if v.status == "NOT RUN" and not v.waiver]
    waived = [f'{v.id} ("{v.waiver}")' for v in informational if v.waiver]
    if unwaived:
        items.append(f"Guardrails not run and not waived (NOT RUN, no waiver; never a pass): {', '.join(unwaived)}.")
    if waived:
        items.append(f"Guardrails not run, waived by name with a reason: {', '.join(waived)}.")
    items += list(inputs.warnings)
    return items


def _stages_trained_on(step: LineageStep) -> tuple[str, ...]:
    """The data stages one checkpoint trained on: what its manifest's lineage records, else
    what its method reads (a manifest from before lineage was kept)."""
    recorded = step.manifest.get("lineage", {}).get("data")
    if recorded:
        return tuple(recorded)
    from canvas_pipeline.training.gates import stages_read
    from canvas_pipeline.training.methods import get_method

    try:
        return stages_read(get_method(step.method))
    except (KeyError, ValueError):
        return ()


def card_datasets(inputs: CardInputs) -> list[str]:
    """`datasets`: every stage a checkpoint on the lineage trained on, then the bench, in
    stage order; each by its Hub id when published, else by its local name."""
    order = list(STAGE_DATASETS)
    stages = {s for step in inputs.steps for s in _stages_trained_on(step)} | {BENCH_STAGE}
    ordered = sorted(stages, key=lambda s: (order.index(s) if s in order else len(order), s))
    return [inputs.dataset_repos.get(s) or STAGE_DATASETS.get(s, f"canvas_pipeline {s}") for s in ordered]


def card_tags(inputs: CardInputs) -> list[str]:
    """`trl` always (SFT, DPO and KTO trainers are TRL's); `peft` when the released checkpoint
    or one it was trained from went through a LoRA/QLoRA adapter."""
    tags = ["tool-calling", "function-calling", "canvas-lms", "gemma4", "trl"]
    tags += [inputs.method, f"profile-{inputs.profile}"]
    adapters = {inputs.export.adapter, *(step.manifest.get("adapter") for step in inputs.steps)}
    if adapters & set(PEFT_ADAPTERS):
        tags.append("peft")
    if inputs.profile != "e2b":
        tags.append("demo")
    return tags


def card_data(inputs: CardInputs) -> ModelCardData:
    """The YAML header: license, language, library, base model, datasets, tags and the bench
    results (`model-index`)."""
    hub_id = _hub_model_id(inputs.profile)
    name = f"canvas-pipeline-{inputs.profile}-{inputs.method}"
    summary = inputs.records.get(inputs.method, {}).get("summary", {})
    metrics = (
        ("tool_selection_accuracy", "tool selection accuracy"),
        ("argument_accuracy", "argument accuracy"),
        ("parsimony_rate", "parsimony rate"),
        ("format_validity", "format validity"),
    )
    results = [
        EvalResult(
            task_type="text-generation",
            dataset_type=inputs.dataset_repos.get(BENCH_STAGE) or "canvas_pipeline/bench",
            dataset_name=BENCH_DATASET,
            dataset_split="bench",
            metric_type=key,
            metric_name=label,
            metric_value=round(float(summary[key]), 4),
        )
        for key, label in metrics
        if summary.get(key) is not None
    ]
    return ModelCardData(
        language="en",
        license="gemma" if hub_id else "gpl-3.0",
        library_name="transformers",
        pipeline_tag="text-generation",
        base_model=hub_id,
        datasets=card_datasets(inputs),
        tags=card_tags(inputs),
        model_name=name,
        eval_results=results or None,
    )


def _usage(repo_id: str | None) -> str:
    where = repo_id or "path/to/this/folder"
    return (
        "```python\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f'model = AutoModelForCausalLM.from_pretrained("{where}")\n'
        f'tokenizer = AutoTokenizer.from_pretrained("{where}")\n'
        "prompt = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)\n"
        "ids = tokenizer(prompt, return_tensors='pt', add_special_tokens=False).input_ids\n"
        "out = model.generate(ids, max_new_tokens=128)\n"
        "print(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=False))\n"
        "```"
    )


def effects_section(inputs: CardInputs) -> str:
    """What each method did against `sft` on the same bench items, with exact McNemar
    p-values; the axis failure rates per model. Said plainly when there is no comparison."""
    if not inputs.effects:
        return "### What each method did\n\nNo paired comparison was recorded (no bench report)."
    return (
        "### What each method did (paired against sft, same bench items, greedy)\n\n"
        "Change in percentage points with the exact McNemar p-value; ▲ improved, ▼ regressed (p < 0.05). "
        "Nothing without a mark is a measured change.\n\n"
        + effects_table(inputs.effects, inputs.records)
        + "\n"
        + "\n".join(effects_sentences(inputs.effects))
        + "\n\n#### Failure rates per preference axis (bench)\n\n"
        + failure_table(inputs.effects)
    )


def _informational(inputs: CardInputs) -> Sequence[InformationalVerdict]:
    from canvas_pipeline.release.gate import informational_verdicts

    return inputs.informational or informational_verdicts(inputs.guardrails)


def card_text(inputs: CardInputs) -> str:
    """The card body (markdown, without the YAML header)."""
    title = f"# canvas_pipeline student assistant: `{inputs.method}` checkpoint ({inputs.profile} profile)"
    record = inputs.records.get(inputs.method, {})
    informational = _informational(inputs)
    shown = ", ".join(f"{v.id} {v.label}" + (f' ("{v.waiver}")' if v.waiver else "") for v in informational)
    gate_line = (
        f"Release gate: {', '.join(LINEAGE_GATE)} passed on this checkpoint's lineage. "
        f"{', '.join(INFORMATIONAL)}, which the release cannot always run itself, need a PASS (the release's own "
        "or a `canvas-train check` report on this same data) or a waiver by name with a reason before a release "
        f"is published; NOT RUN is never counted as a pass. Here: {shown}."
    )
    notice = informational_notice(informational)
    parts = [
        title,
        base_model_section(inputs.profile, inputs.export.parameters),
        *([notice] if notice else []),
        "A Gemma-4 model that answers students' questions about their Canvas LMS courses, calendar and "
        "study plan by calling 18 tools in Gemma-4's native tool-call format "
        "(`<|tool_call>call:NAME{ARGS}<tool_call|>`).",
        "## Method\n\n" + training_section(inputs.method, inputs.steps, inputs.export),
        "## Data\n\nEvery stage counts what it keeps and quarantines what it drops, with the reason "
        "(shrinkage = 1 - retained).\n\n" + data_table(inputs.stage_reports) + "\n\n" + PREFERENCE_DATA,
        "## Guardrails\n\n" + gate_line + "\n\n" + guardrail_table(inputs.guardrails, informational),
        "## Bench\n\nTool selection: is the first call the expected tool. Wilson 95% score intervals in "
        "brackets.\n\n" + bench_table(inputs.records, inputs.selection),
        effects_section(inputs),
        f"### Seen vs unseen phrasings (`{inputs.method}`)\n\n" + phrasing_gap_section(inputs.method, record),
        f"### Per tool (`{inputs.method}`)\n\n" + per_tool_table(record),
        "## Selection\n\n" + selection_section(inputs.selection),
        "## Use\n\n" + _usage(inputs.repo_id),
        "## Limitations\n\n" + "\n".join(f"- {item}" for item in limitations(inputs)),
    ]
    return "\n\n".join(parts) + "\n"


def build_card(inputs: CardInputs) -> ModelCard:
    """The model card: `ModelCardData` YAML header plus the body."""
    data = card_data(inputs)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{card_text(inputs)}")
