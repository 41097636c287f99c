"""A UI-style asset backfill of `models/sft`, `on_policy/preference_data` and all eight
`models/checkpoint` partitions, driven through Dagster's own backfill daemon in process,
trains `sft` first, then writes its on-policy data, then trains each method once.

What runs is Dagster's: the `PartitionBackfill` the UI's "Materialize all partitions" (or a
partition list) creates, `execute_backfill_iteration` (one daemon tick each call) and a
`SyncInMemoryRunLauncher` that executes each run the daemon submits synchronously in this
process. What is stubbed is the domain work the asset bodies call (training, the on-policy
stage, the on-policy guardrails), so each call is recorded with the daemon tick it ran in
and nothing trains. The DPO-family partitions must not only come after `sft` in the call
list: they must be requested in a later tick than the one that trained `sft`, i.e. the
backfill waited for `sft`'s materialization (without the graph edge every run is requested
in the first tick).
"""

from __future__ import annotations

import json
import logging
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from canvas_pipeline.defs.assets_training import CHECKPOINT_KEY, METHOD_PARTITIONS, REFERENCE_METHOD
from canvas_pipeline.defs.checks import check_name
from canvas_pipeline.defs.keys import ON_POLICY_KEY, SFT_KEY

REPO_ROOT = Path(__file__).resolve().parents[1]
ON_POLICY = "on_policy"
MAX_TICKS = 30
# The default SQLite event log opens a new engine per event; in memory, each backfill takes
# about 7 s instead of about 24 s.
IN_MEMORY_STORAGE = {
    "event_log_storage": {"module": "dagster._core.storage.event_log", "class": "InMemoryEventLogStorage"},
}


@dataclass
class Recorder:
    """What the stubbed domain functions were asked to do, in order, with the daemon tick
    (1-based) during which each call happened."""

    tick: int = 0
    calls: list[tuple[str, int]] = field(default_factory=list)

    def record(self, name: str) -> None:
        self.calls.append((name, self.tick))

    @property
    def order(self) -> list[str]:
        return [name for name, _ in self.calls]

    def tick_of(self, name: str) -> int:
        return next(t for n, t in self.calls if n == name)


def stub_domain(monkeypatch: pytest.MonkeyPatch, out_dir: Path) -> Recorder:
    """Replace the domain functions the `sft`, `checkpoint` and `preference_data` assets and
    their checks call with fast fakes that record the call, write what the real ones leave
    for the checks (a checkpoint manifest, a passing G5 dry-run record) and refuse, like the
    real training, to start a method from an `sft` that is not on disk."""
    import canvas_pipeline.defs.assets_on_policy as assets_on_policy
    import canvas_pipeline.evaluation.on_policy as on_policy
    import canvas_pipeline.training.run as run
    from canvas_pipeline.data.layout import DRY_RUN_RECORD, MANIFEST, checkpoint_dir, run_dir
    from canvas_pipeline.guardrails.registry import ON_POLICY_GUARDRAILS
    from canvas_pipeline.guardrails.result import GuardrailResult

    recorder = Recorder()
    monkeypatch.setenv("CANVAS_OUT_DIR", str(out_dir))
    monkeypatch.setenv("CANVAS_PROFILE", "tiny")

    def sft_on_disk(out: Path, profile: str) -> bool:
        return (checkpoint_dir(out, profile, REFERENCE_METHOD) / MANIFEST).is_file()

    def fake_train_method(
        method_name: str, data_dir: Path, out: Path, profile_name: str = "tiny", *args: Any, **kwargs: Any
    ):
        recorder.record(method_name)
        if method_name != REFERENCE_METHOD and not sft_on_disk(out, profile_name):
            raise FileNotFoundError(f"{method_name} starts from sft, which is not trained under {out}")
        ckpt = checkpoint_dir(out, profile_name, method_name)
        ckpt.mkdir(parents=True, exist_ok=True)
        (ckpt / MANIFEST).write_text(json.dumps({"method": method_name}))
        record = run_dir(out, profile_name, method_name) / DRY_RUN_RECORD
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"grad_norm": 0.5, "passed": True, "reason": ""}))
        g5 = GuardrailResult("G5", "one-step dry run per method", True, {method_name: 0.5}, "grad_norm < 1.0")
        return run.TrainingReport(method_name, profile_name, ckpt, {"train_loss": 1.0}, [g5])

    def fake_write_on_policy_stage(out: Path, profile: str, config: Any, log: Any = print) -> dict[str, Any]:
        recorder.record(ON_POLICY)
        if not sft_on_disk(out, profile):
            raise FileNotFoundError(f"the on-policy data needs sft, which is not trained under {out}")
        return {"rows": 1, "wall_s": 0.0}

    def fake_on_policy_guardrails(out: Path, profile: str, config: Any) -> list[GuardrailResult]:
        return [GuardrailResult(gid, gid, True, {}, "stub") for gid in ON_POLICY_GUARDRAILS]

    monkeypatch.setattr(run, "train_method", fake_train_method)
    monkeypatch.setattr(on_policy, "write_on_policy_stage", fake_write_on_policy_stage)
    monkeypatch.setattr(on_policy, "self_play", lambda *a, **k: None)
    monkeypatch.setattr(assets_on_policy, "check_config", lambda *a, **k: None)
    monkeypatch.setattr(assets_on_policy, "run_on_policy_guardrails", fake_on_policy_guardrails)
    return recorder


@contextmanager
def asset_backfill(
    recorder: Recorder,
    partition_names: list[str] | None,
    asset_selection: list[dg.AssetKey],
    module_name: str = "canvas_pipeline.definitions",
    attribute: str = "defs",
) -> Iterator[tuple[dg.DagsterInstance, Any]]:
    """Create, on a fresh test instance whose run launcher runs each run synchronously in
    this process, the asset backfill the UI creates (`all partitions` when `partition_names`
    is None), tick the backfill daemon until the backfill is no longer requested, and yield
    the instance and the final backfill."""
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster._time import get_current_timestamp

    target = InProcessWorkspaceLoadTarget(
        InProcessCodeLocationOrigin(
            LoadableTargetOrigin(
                executable_path=sys.executable,
                module_name=module_name,
                attribute=attribute,
                working_directory=str(REPO_ROOT),
            ),
            location_name="canvas_pipeline",
        )
    )
    logger = logging.getLogger("test_backfill_order")
    # The daemon submits each run to the SyncInMemoryRunCoordinator, which hands it to the
    # SyncInMemoryRunLauncher: the run executes before `submit_run` returns.
    with dg.instance_for_test(
        synchronous_run_coordinator=True, synchronous_run_launcher=True, overrides=IN_MEMORY_STORAGE
    ) as instance:
        with create_test_daemon_workspace_context(target, instance) as workspace_context:
            request_context = workspace_context.create_request_context()
            errors = [e.load_error for e in request_context.get_code_location_entries().values() if e.load_error]
            assert not errors, errors
            backfill = PartitionBackfill.from_asset_partitions(
                backfill_id="order",
                asset_graph=request_context.asset_graph,
                partition_names=partition_names,
                asset_selection=asset_selection,
                backfill_timestamp=get_current_timestamp(),
                tags={},
                dynamic_partitions_store=instance,
                all_partitions=partition_names is None,
                title=None,
                description=None,
                # Steps run in this process (the stubs apply); which run the daemon requests
                # when does not depend on the executor.
                run_config={"execution": {"config": {"in_process": {}}}},
            )
            instance.add_backfill(backfill)
            for tick in range(1, MAX_TICKS + 1):
                recorder.tick = tick
                errors = [e for e in execute_backfill_iteration(workspace_context, logger) if e is not None]
                assert not errors, errors
                backfill = instance.get_backfill("order")
                if backfill.status != BulkActionStatus.REQUESTED:
                    break
            else:
                pytest.fail(f"the backfill is still {backfill.status} after {MAX_TICKS} daemon ticks")
            yield instance, backfill


def test_asset_graph_puts_sft_upstream_of_every_checkpoint_partition() -> None:
    from canvas_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    assert {SFT_KEY, ON_POLICY_KEY} <= graph.get(CHECKPOINT_KEY).parent_keys
    assert SFT_KEY in graph.get(ON_POLICY_KEY).parent_keys
    upstream = dg.AssetSelection.assets(CHECKPOINT_KEY).upstream().resolve(graph)
    assert {SFT_KEY, ON_POLICY_KEY} <= upstream
    # every partition of the checkpoint depends on the one, unpartitioned, sft
    assert graph.get(SFT_KEY).partitions_def is None
    assert len(METHOD_PARTITIONS.get_partition_keys()) == 8
    assert REFERENCE_METHOD not in METHOD_PARTITIONS.get_partition_keys()


@pytest.mark.parametrize("partitions", ["all_partitions", "shuffled_list"])
def test_ui_asset_backfill_in_any_order_trains_sft_first(
    partitions: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backfill of the three assets, selected checkpoint-first, with the partitions
    either "all" or listed in a shuffled order, trains `sft` in an earlier daemon tick than
    any method, writes the on-policy data after `sft` and before any method, and trains
    every method partition exactly once, in its own run. The backfill's runs include the
    assets' checks (an asset backfill selects them all): G5 passes on each partition."""
    from dagster._core.execution.backfill import BulkActionStatus
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
    from dagster._core.storage.tags import BACKFILL_ID_TAG, PARTITION_NAME_TAG

    methods = METHOD_PARTITIONS.get_partition_keys()
    shuffled = list(methods)
    random.Random(22).shuffle(shuffled)
    assert shuffled != list(methods)
    recorder = stub_domain(monkeypatch, tmp_path / "out")
    with asset_backfill(
        recorder,
        partition_names=shuffled if partitions == "shuffled_list" else None,
        asset_selection=[CHECKPOINT_KEY, ON_POLICY_KEY, SFT_KEY],
    ) as (instance, backfill):
        runs = instance.get_runs(filters=RunsFilter(tags={BACKFILL_ID_TAG: "order"}))
        statuses = {r.run_id: (r.status.value, r.tags.get(PARTITION_NAME_TAG)) for r in runs}
        partition_runs = sorted(r.tags[PARTITION_NAME_TAG] for r in runs if PARTITION_NAME_TAG in r.tags)
        materialized = instance.get_materialized_partitions(CHECKPOINT_KEY)
        upstream_materialized = [instance.get_latest_materialization_event(k) for k in (SFT_KEY, ON_POLICY_KEY)]
        g5 = dg.AssetCheckKey(CHECKPOINT_KEY, check_name("G5"))
        partition_of_run = {r.run_id: r.tags.get(PARTITION_NAME_TAG) for r in runs}
        g5_partitions = sorted(
            (partition_of_run.get(r.run_id), r.status.value)
            for r in instance.event_log_storage.get_asset_check_execution_history(g5, limit=100)
        )

    # the order the stubs were called in, and the daemon tick each call ran in
    order = recorder.order
    assert order[:2] == [REFERENCE_METHOD, ON_POLICY], recorder.calls
    assert sorted(order[2:]) == sorted(methods), recorder.calls  # each method exactly once
    assert len(order) == len(set(order)) == 10, recorder.calls
    # the daemon waited: no method was even requested in the tick that trained sft
    sft_tick = recorder.tick_of(REFERENCE_METHOD)
    assert all(recorder.tick_of(m) > sft_tick for m in methods), recorder.calls
    assert all(recorder.tick_of(m) > recorder.tick_of(ON_POLICY) >= sft_tick for m in methods), recorder.calls
    # what Dagster recorded agrees: every run succeeded, one per method partition
    assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS, (backfill.status, statuses)
    assert all(status == DagsterRunStatus.SUCCESS.value for status, _ in statuses.values()), statuses
    assert partition_runs == sorted(methods), statuses
    assert materialized == set(methods)
    assert all(event is not None for event in upstream_materialized)
    assert g5_partitions == [(m, "SUCCEEDED") for m in sorted(methods)], g5_partitions
