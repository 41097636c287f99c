"""Training one method end to end: gates, dry run, training (resumable), measurements,
an atomic checkpoint. The `models/checkpoint` asset and `canvas-train train` both call
`train_method`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from canvas_pipeline.data.io import atomic_write_dir, atomic_write_text
from canvas_pipeline.data.layout import (
    DRY_RUN_RECORD,
    MANIFEST,
    ON_POLICY_MUTATION,
    base_model_dir,
    checkpoint_dir,
    on_policy_dir,
    run_dir,
)
from canvas_pipeline.data.lineage import code_version, folder_fingerprint
from canvas_pipeline.guardrails.checks import g5_dry_runs
from canvas_pipeline.guardrails.result import GuardrailResult
from canvas_pipeline.training.checkpoints import (
    drop_resume_points,
    export_steps,
    last_complete_checkpoint,
    read_manifest,
)
from canvas_pipeline.training.data_prep import MethodData, judging_pairs, kto_weights, load_method_data, origin
from canvas_pipeline.training.gates import (
    GateError,
    base_bench_gate,
    consumption_gate,
    data_gate,
    preflight,
    reference_fingerprint,
)
from canvas_pipeline.training.lineage import superseded_reason, superseding, weights_fingerprint
from canvas_pipeline.training.methods import MethodConfig, get_method, is_reference
from canvas_pipeline.training.profiles import Profile, get_profile, reference_profile

Log = Callable[[str], None]
T = TypeVar("T")
SPPO_WEAK_MARGIN = 1.0  # nats: a pair the policy prefers by less than this is trained again
# SPPO's self-play: (current policy, tokenizer, round) -> the round's train pairs (the
# policy's own judged wrong answers) and a report. The evaluation layer provides it
# (`evaluation.on_policy.self_play`), so training imports no generation code.
SelfPlay = Callable[[Any, Any, int], tuple[list[dict[str, Any]], dict[str, Any]]]


@dataclass
class TrainingReport:
    method: str
    profile: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    gates: list[GuardrailResult] = field(default_factory=list)


def method_data_dir(method: MethodConfig, data_dir: Path, out_dir: Path, profile: str) -> Path:
    """Where a method's dataset is read: the on-policy stage's mix of its phase with the
    `sft` checkpoint's judged answers for the methods that train on it, the data folder
    otherwise."""
    if not method.on_policy:
        return Path(data_dir)
    folder = on_policy_dir(out_dir, profile)
    if not (folder / "report.json").is_file():
        raise FileNotFoundError(
            f"no on-policy data in {folder}: {method.name} trains on the `sft` checkpoint's judged answers "
            "mixed with its phase; materialize on_policy/preference_data first (or run `canvas-train on-policy`)"
        )
    return folder


def _token_count(dataset: Any) -> int:
    """Tokens the trainer's processed examples hold (every `*ids` column)."""
    columns = [c for c in dataset.column_names if c.endswith("input_ids") or c.endswith("_ids")]
    return sum(len(x) for c in columns for x in dataset[c])


def _starting_models(method: MethodConfig, profile: Profile, out_dir: Path) -> tuple[Any, Any, Path]:
    """(policy, reference or None, the folder the policy starts from)."""
    from canvas_pipeline.training.model import load_model

    if method.reference is not None:
        start = checkpoint_dir(out_dir, profile.name, method.reference)
        if read_manifest(start)["adapter"] != "full":
            raise ValueError(f"{method.name}: reference {method.reference} must be a full checkpoint")
        policy = load_model(start, bf16=profile.budget.bf16)
        if method.adapter != "full":
            return policy, None, start  # the reference is the policy with its adapter disabled
        return policy, load_model(start, bf16=profile.budget.bf16), start
    start = base_model_dir(out_dir, profile.name)
    if not (start / "config.json").is_file():
        raise FileNotFoundError(f"no base model in {start}: materialize models/base_model first")
    if method.adapter == "qlora":
        from peft import prepare_model_for_kbit_training

        model = load_model(start, quantize_4bit=True)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=profile.budget.gradient_checkpointing)
        return model, None, start
    return load_model(start, bf16=profile.budget.bf16), None, start


def _on_every_rank(trainer: Any, value: T) -> T:
    """Rank 0's `value` on every process (itself when there is one process)."""
    if trainer.accelerator.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]


def _replicas_agree(trainer: Any, method: str) -> dict[str, Any] | None:
    """With more than one process, every rank must end with the same trainable weights:
    the model was wrapped for data parallelism and its gradients were averaged. Replicas
    that differ mean each rank trained on its own share of the data alone; that raises,
    naming the ranks, rather than saving rank 0's replica as if it had seen every batch."""
    accelerator = trainer.accelerator
    if accelerator.num_processes == 1:
        return None
    import hashlib

    from accelerate.utils import gather_object

    digest = hashlib.sha256()
    for _, param in sorted(trainer.model.named_parameters()):
        if param.requires_grad:
            digest.update(param.detach().float().cpu().numpy().tobytes())
    digests = gather_object([digest.hexdigest()])
    wrapper = type(trainer.model_wrapped).__name__
    if len(set(digests)) != 1:
        ranks = ", ".join(f"rank {rank}: {d[:12]}" for rank, d in enumerate(digests))
        raise RuntimeError(
            f"{method}: the {len(digests)} processes ended with different weights ({ranks}); the model "
            f"ran as {wrapper}, so gradients were not synchronised"
        )
    return {"world_size": len(digests), "wrapper": wrapper, "replicas_agree": True, "weights_sha256": digests[0]}


def _train_once(trainer: Any, folder: Path, log: Log) -> tuple[Any, float]:
    last = last_complete_checkpoint(folder)
    if last:
        log(f"resuming from {last}")
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(last) if last else None)
    return output, time.perf_counter() - started


def _sppo_rounds(
    method: MethodConfig,
    profile: Profile,
    first: Any,
    ref: Any,
    tokenizer: Any,
    data: MethodData,
    work: Path,
    callbacks: list[Any],
    seed: int,
    log: Log,
    self_play: SelfPlay | None = None,
) -> tuple[list[dict[str, Any]], Any, float, int]:
    """Round 1 trains on every pair with `first` (the trainer G5 already dry-ran, so its
    reference log-probs are not computed twice). Each later round, with `self_play`, trains
    on the current policy's own answers that the axis judges find wrong, each against the
    trajectory's turn (self-play); without it, on the pairs the current policy still ranks
    wrong or by less than SPPO_WEAK_MARGIN nats."""
    from canvas_pipeline.training.factory import build_trainer
    from canvas_pipeline.training.preference_eval import completion_logps

    rounds: list[dict[str, Any]] = []
    rows = list(data.train_rows)
    _, eval_ds = data.datasets()
    wall, tokens, last_output, trainer = 0.0, 0, None, first
    source, played = "dataset", {}
    for index in range(1, method.rounds + 1):
        if len(rows) < profile.budget.batch_size:
            rounds.append({"round": index, "pairs": len(rows), "skipped": "fewer pairs left than one batch"})
            break
        if index > 1:
            # Each round's reference is the policy it starts from (SPPO's pi_t): TRL copies
            # the current adapter as "ref" when it gets a model that carries one already.
            if "ref" in trainer.model.peft_config:
                trainer.model.delete_adapter("ref")
            train_ds = MethodData(
                rows, data.eval_rows, data.full_train_rows, data.full_eval_rows, data.kind
            ).datasets()[0]
            trainer = build_trainer(
                method,
                profile,
                model=trainer.model,
                tokenizer=tokenizer,
                train_dataset=train_ds,
                eval_dataset=eval_ds,
                item_ids=data.item_ids(),
                output_dir=work / f"round-{index}",
                ref_model=ref,
                callbacks=callbacks,
                seed=seed,
            )
        last_output, seconds = _train_once(trainer, work / f"round-{index}", log)
        wall += seconds
        tokens += _token_count(trainer.train_dataset) * _epochs_seen(trainer)
        examples = [(r["prompt"], r[side], r.get("tools")) for r in data.train_rows for side in ("chosen", "rejected")]
        logps = completion_logps(trainer.model, tokenizer, examples)
        margins = [logps[2 * k] - logps[2 * k + 1] for k in range(len(data.train_rows))]
        wrong = sum(m < 0 for m in margins)
        weak = sum(0 <= m < SPPO_WEAK_MARGIN for m in margins)
        rounds.append(
            {
                "round": index,
                "pairs": len(rows),
                "source": source,
                **played,
                "ranked_wrong_after": wrong,
                "ranked_weak_after": weak,
            }
        )
        log(f"sppo round {index}: trained on {len(rows)} {source} pairs; after it {wrong} wrong, {weak} weak")
        if index == method.rounds:
            break
        if self_play is not None:
            rows, report = self_play(trainer.model, tokenizer, index + 1)
            source, played = "self-play", {f"self_play.{k}": v for k, v in report.items()}
        else:
            rows = [r for r, m in zip(data.train_rows, margins, strict=True) if m < SPPO_WEAK_MARGIN]
            source, played = "re-ranked", {}
    return rounds, (trainer, last_output), wall, tokens


def _epochs_seen(trainer: Any) -> float:
    return _rows_consumed(trainer) / max(1, len(trainer.train_dataset))


def _rows_consumed(trainer: Any) -> int:
    return int(
        trainer.state.global_step
        * trainer.args.per_device_train_batch_size
        * trainer.args.gradient_accumulation_steps
        * trainer.args.world_size
    )


def method_and_profile(method_name: str, profile_name: str) -> tuple[MethodConfig, Profile]:
    """The method as it trains under the profile: a method other methods start from gets
    the profile's reference budget, and a budget's own learning rate replaces the table's."""
    method, profile = get_method(method_name), get_profile(profile_name)
    if is_reference(method.name):
        profile = reference_profile(profile)
    if profile.budget.learning_rate is not None:
        method = dataclasses.replace(method, learning_rate=profile.budget.learning_rate)
    return method, profile


def _starting_lineage(method: MethodConfig, start: Path) -> dict[str, str | None]:
    """The base and the reference checkpoint a method starts from, as fingerprints; a
    superseded reference stops it."""
    if method.reference is None:
        return {"base": folder_fingerprint(start), "reference": None}
    if (marker := superseded_reason(start)) is not None:
        raise GateError(None, f"{method.name} starts from {method.reference}, which is superseded: {marker}")
    manifest = read_manifest(start)
    return {"base": manifest.get("lineage", {}).get("base"), "reference": reference_fingerprint(start)}


def train_method(
    method_name: str,
    data_dir: Path,
    out_dir: Path,
    profile_name: str = "tiny",
    seed: int = 0,
    log: Log = print,
    require_g3: bool = True,
    max_steps: int | None = None,
    self_play: SelfPlay | None = None,
    save_steps: int | None = None,
) -> TrainingReport:
    """Train one method; raise GateError when the data gate, G3, G12, G2 or G5 stops it.
    `require_g3=False` skips G3 (recorded as skipped in the metadata): for exercising the
    training mechanics on a base that is not meant to be good. `max_steps` replaces the
    budget's step count, and its train rows scale with it (`Budget.with_steps`); `save_steps`
    replaces its save interval. The method's checkpoint on disk is marked superseded as the
    run starts, with the reason when it fails: only a run that finishes replaces it."""
    from canvas_pipeline.training.callbacks import LogForwarder, eval_loss_at_start, peak_memory_bytes
    from canvas_pipeline.training.dry_run import dry_run
    from canvas_pipeline.training.factory import build_trainer
    from canvas_pipeline.training.model import parameter_counts
    from canvas_pipeline.training.preference_eval import pair_margins
    from canvas_pipeline.training.tokenizer import load_tokenizer, profile_tokenizer_dir

    dest = checkpoint_dir(out_dir, get_profile(profile_name).name, method_name)
    with superseding(dest, method_name):
        started = time.perf_counter()
        method, profile = method_and_profile(method_name, profile_name)
        if max_steps is not None:
            profile = dataclasses.replace(profile, budget=profile.budget.with_steps(max_steps))
        if save_steps is not None:
            profile = dataclasses.replace(profile, budget=dataclasses.replace(profile.budget, save_steps=save_steps))
        budget = profile.budget
        stages = data_gate(
            method,
            data_dir,
            out_dir,
            profile.name,
            checkpoint_dir(out_dir, profile.name, "sft"),
            profile_tokenizer_dir(out_dir, profile.name),
            log,
        )
        data_dir = method_data_dir(method, data_dir, out_dir, profile.name)
        data = load_method_data(
            data_dir,
            method,
            budget.train_rows,
            budget.eval_rows,
            seed,
            decision=budget.decision_rows,
            whole_every=budget.whole_row_every,
            course_swap=budget.course_swap,
        )
        g3 = base_bench_gate(out_dir, profile.name) if require_g3 else None
        gates = preflight(method, data)
        policy, ref, start = _starting_models(method, profile, out_dir)
        lineage: dict[str, Any] = {"data": stages, **_starting_lineage(method, start), "code": code_version()}
        tokenizer = load_tokenizer(start)
        train_ds, eval_ds = data.datasets()
        forwarder = LogForwarder(log, label=f"[{method.name}] ")
        desirable_weight, undesirable_weight = kto_weights(data.train_rows) if method.trainer == "kto" else (1.0, 1.0)
        work = run_dir(out_dir, profile.name, method.name)
        trainer = build_trainer(
            method,
            profile,
            model=policy,
            tokenizer=tokenizer,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            item_ids=data.item_ids(),
            output_dir=work / "round-1" if method.rounds > 1 else work,
            ref_model=ref,
            callbacks=[forwarder],
            desirable_weight=desirable_weight,
            undesirable_weight=undesirable_weight,
            seed=seed,
        )
        gates[0] = consumption_gate(method, data, trainer, budget.min_rows_consumed)
        # Under `accelerate launch` every process runs this function: rank 0's G5 verdict is
        # every rank's (all stop or all train), and only rank 0 writes records and checkpoints.
        main = trainer.is_world_process_zero()
        g5 = _on_every_rank(trainer, dry_run(trainer, method.name))
        log(
            f"[{method.name}] G5 dry run: loss {g5.loss:.4g}, grad_norm {g5.grad_norm:.4g}, {g5.reason()}; "
            f"largest {g5.largest_grads}"
        )
        record = {**dataclasses.asdict(g5), "passed": g5.passed, "reason": g5.reason()}
        if main:
            atomic_write_text(work / DRY_RUN_RECORD, json.dumps(record, indent=1))
        if not g5.passed:
            raise GateError(None, f"G5 stops {method.name}: {g5.reason()}")
        gates.append(g5_dry_runs({method.name: record}))
        sppo_rounds: list[dict[str, Any]] = []
        if method.rounds > 1:
            sppo_rounds, (trainer, output), train_wall, tokens = _sppo_rounds(
                method, profile, trainer, ref, tokenizer, data, work, [forwarder], seed, log, self_play
            )
        else:
            output, train_wall = _train_once(trainer, work, log)
            tokens = int(_token_count(trainer.train_dataset) * _epochs_seen(trainer))
        replicas = _replicas_agree(trainer, method.name)
        eval_after = trainer.evaluate()
        model = trainer.model
        if "ref" in getattr(model, "peft_config", {}):
            # TRL's frozen copy of the adapter (SPPO's per-round reference) is not part of the
            # model: it is neither counted nor saved.
            model.delete_adapter("ref")
        trainable, total = parameter_counts(model)
        grad_norms = [e["grad_norm"] for e in forwarder.history if "grad_norm" in e]
        metadata: dict[str, Any] = {
            "method": method.name,
            "profile": profile.name,
            "trainer": method.trainer,
            "adapter": method.adapter,
            "loss_type": method.loss_type,
            "beta": method.beta,
            "learning_rate": method.learning_rate,
            "started_from": str(start),
            "data_dir": str(data_dir),
            "train_rows_used": len(data.train_rows),
            "train_rows_distinct": len({r["id"] for r in data.train_rows}),
            # What the trainer consumed (steps x batch x accumulation x processes; the last
            # round's for SPPO), next to the dataset size G12 judges: a fixed step budget can
            # use a fraction of a dataset that clears G12.
            "train_rows_consumed": _rows_consumed(trainer),
            "train_dataset_rows": data.full_train_rows,
            "train_rows_on_policy": sum(origin(r) == ON_POLICY_MUTATION for r in data.train_rows),
            "decision_rows": budget.decision_rows and method.trainer == "sft",
            "course_swap_share": budget.course_swap if method.trainer == "sft" else 0.0,
            "train_rows_course_swapped": data.course_swapped,
            "train_rows_available": data.full_train_rows,
            "eval_rows_used": len(data.eval_rows),
            "steps": trainer.state.global_step,
            "train_loss": float(output.training_loss),
            "eval_loss": float(eval_after.get("eval_loss", float("nan"))),
            "grad_norm_last": grad_norms[-1] if grad_norms else None,
            "grad_norm_max": max(grad_norms) if grad_norms else None,
            "g5_dry_run": {"loss": g5.loss, "grad_norm": g5.grad_norm, "passed": g5.passed},
            "g3_base_bench": g3.value if g3 else "skipped (require_g3=False)",
            "trainable_parameters": trainable,
            "total_parameters": total,
            "tokens": tokens,
            "tokens_per_s": tokens / train_wall if train_wall else 0.0,
            "train_wall_s": train_wall,
            **peak_memory_bytes(),
        }
        if replicas:
            metadata["data_parallel"] = replicas
        if method.trainer == "sft":
            metadata["eval_loss_before"] = eval_loss_at_start(trainer)
        if method.trainer == "kto":
            metadata["desirable_weight"] = desirable_weight
            metadata["undesirable_weight"] = undesirable_weight
        if sppo_rounds:
            metadata["sppo_rounds"] = sppo_rounds
        if method.is_preference:
            pairs = judging_pairs(data_dir, method, data, budget.eval_rows, seed)
            per_axis = pair_margins(model, ref, tokenizer, pairs, method.beta or 0.1, method.per_token_reward)
            metadata["eval_reward_margin"] = per_axis["all"]["margin"]
            metadata["eval_reward_accuracy"] = per_axis["all"]["accuracy"]
            metadata["eval_margins_per_axis"] = per_axis

        final_step = int(trainer.state.global_step)

        def write(folder: Path) -> None:
            trainer.save_model(str(folder))
            tokenizer.save_pretrained(str(folder))
            manifest = {
                "method": method.name,
                "adapter": method.adapter,
                "base": str(start),
                "metrics": metadata,
                "lineage": lineage,
            }
            if budget.keep_step_checkpoints:
                metadata["step_candidates"] = export_steps(
                    Path(trainer.args.output_dir), final_step, folder, tokenizer, manifest
                )
            manifest["step"] = final_step
            manifest["lineage"] = {**lineage, "checkpoint": weights_fingerprint(folder)}
            (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str))

        if main:
            atomic_write_dir(dest, write)
            drop_resume_points(work)
        trainer.accelerator.wait_for_everyone()
        metadata["wall_s"] = time.perf_counter() - started
        return TrainingReport(method.name, profile.name, dest, metadata, [*([g3] if g3 else []), *gates])
