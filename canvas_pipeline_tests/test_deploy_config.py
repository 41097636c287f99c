"""The instance files and deploy/ configs, checked by the code that reads them: Dagster's
instance schema (dagster.yaml, deploy/dagster.yaml), dagster-postgres and dagster-k8s
(storage, run launcher, `dagster-k8s/config` run tags) and accelerate (the multi-GPU
config). Nothing here needs a cluster, a database or a GPU."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.dagster_run import DagsterRun

from canvas_pipeline.training.methods import METHOD_NAMES

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_YAML = REPO_ROOT / "dagster.yaml"
DEPLOY = REPO_ROOT / "deploy"
DEPLOY_YAML = DEPLOY / "dagster.yaml"
TAGS_YAML = DEPLOY / "k8s_training_tags.yaml"
ACCELERATE_YAML = DEPLOY / "accelerate_multi_gpu.yaml"

DEPLOY_ENV = {
    "DAGSTER_PG_HOST": "postgres.canvas.svc",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-real-password",
    "DAGSTER_PG_DB": "dagster",
    "CANVAS_IMAGE": "registry.example/canvas-train:1.0",
}


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _instance_dir(tmp_path: Path, source: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(source, home / "dagster.yaml")
    return home


def _validated(tmp_path: Path, config: Mapping[str, Any]) -> Mapping[str, Any]:
    """What Dagster itself does with $DAGSTER_HOME/dagster.yaml: raises on any unknown or
    mistyped key."""
    home = tmp_path / "validate"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
    value, custom_class = dagster_instance_config(str(home))
    assert custom_class is None
    return value


# ------------------------------------------------------------------ local dagster.yaml


def test_local_instance_loads_with_sqlite_queue_monitoring_and_retries(tmp_path: Path) -> None:
    config = _load(LOCAL_YAML)
    assert not {"storage", "run_storage", "event_log_storage", "schedule_storage"} & set(config)
    _validated(tmp_path, config)

    home = _instance_dir(tmp_path, LOCAL_YAML)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert Path(instance.root_directory) == home
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        concurrency = instance.get_concurrency_config()
        assert {"key": "gpu", "value": "1", "limit": 1} in concurrency.run_queue_config.tag_concurrency_limits
        assert concurrency.pool_config.default_pool_limit == 1  # the gpu pool
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_runtime_seconds >= 4 * 3600  # a GPU training partition fits
        assert instance.run_monitoring_start_timeout_seconds > 0
        assert instance.run_monitoring_cancel_timeout_seconds > 0
        assert instance.run_monitoring_max_resume_run_attempts == 0  # the local launcher cannot resume
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        assert instance.run_retries_retry_on_asset_or_op_failure is False  # a guardrail failure repeats


@pytest.mark.parametrize(
    ("section", "bad"),
    [
        ("run_monitoring", {"enabled": True, "max_runtime": 3600}),  # not max_runtime_seconds
        ("run_retries", {"enabled": True, "max_retries": "one"}),
        ("run_monitor", {"enabled": True}),
    ],
)
def test_the_instance_schema_rejects_wrong_keys(tmp_path: Path, section: str, bad: dict[str, Any]) -> None:
    """The check above can fail: Dagster's validator rejects a misspelled or mistyped key."""
    config = {**_load(LOCAL_YAML), section: bad}
    with pytest.raises(DagsterInvalidConfigError):
        _validated(tmp_path, config)


# ----------------------------------------------------------------- deploy/dagster.yaml


def test_deploy_instance_matches_the_schema_and_keeps_queue_monitoring_retries(tmp_path: Path) -> None:
    deploy = _load(DEPLOY_YAML)
    local = _load(LOCAL_YAML)
    _validated(tmp_path, deploy)

    assert deploy["run_retries"] == local["run_retries"]
    assert deploy["run_monitoring"]["enabled"] is True
    assert deploy["run_monitoring"]["max_runtime_seconds"] >= local["run_monitoring"]["max_runtime_seconds"]
    assert deploy["concurrency"]["pools"] == local["concurrency"]["pools"] == {"granularity": "run", "default_limit": 1}
    assert {"key": "gpu", "value": "1", "limit": 1} in deploy["concurrency"]["runs"]["tag_concurrency_limits"]

    ref = InstanceRef.from_dir(str(_instance_dir(tmp_path, DEPLOY_YAML)))
    for data in (ref.run_storage_data, ref.event_storage_data, ref.schedule_storage_data):
        assert data.module_name.startswith("dagster_postgres")
    assert (ref.run_launcher_data.module_name, ref.run_launcher_data.class_name) == ("dagster_k8s", "K8sRunLauncher")


def test_deploy_postgres_storage_resolves_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    dagster_postgres = pytest.importorskip("dagster_postgres")
    storage = _load(DEPLOY_YAML)["storage"]["postgres"]
    for name in DEPLOY_ENV:
        monkeypatch.delenv(name, raising=False)
    missing = process_config(dagster_postgres.DagsterPostgresStorage.config_type(), storage)
    assert not missing.success  # credentials come only from the environment

    for name, value in DEPLOY_ENV.items():
        monkeypatch.setenv(name, value)
    result = process_config(dagster_postgres.DagsterPostgresStorage.config_type(), storage)
    assert result.success, result.errors
    db = result.value["postgres_db"]
    assert (db["hostname"], db["username"], db["password"], db["db_name"]) == (
        DEPLOY_ENV["DAGSTER_PG_HOST"],
        DEPLOY_ENV["DAGSTER_PG_USERNAME"],
        DEPLOY_ENV["DAGSTER_PG_PASSWORD"],
        DEPLOY_ENV["DAGSTER_PG_DB"],
    )
    assert "not-a-real-password" not in DEPLOY_YAML.read_text(encoding="utf-8")


# ------------------------------------------------------------------ Kubernetes launcher


_FAKE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: "https://127.0.0.1:6443"}
contexts:
- name: fake
  context: {cluster: fake, user: fake}
current-context: fake
users:
- name: fake
  user: {token: fake}
"""


@pytest.fixture()
def k8s_launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """K8sRunLauncher built from deploy/dagster.yaml's config as Dagster processes it; only
    the cluster connection is swapped (a kubeconfig naming no reachable cluster, mocked
    API clients): nothing is sent anywhere."""
    dagster_k8s = pytest.importorskip("dagster_k8s")
    for name, value in DEPLOY_ENV.items():
        monkeypatch.setenv(name, value)
    config = _load(DEPLOY_YAML)["run_launcher"]["config"]
    result = process_config(dagster_k8s.K8sRunLauncher.config_type(), config)
    assert result.success, result.errors
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(_FAKE_KUBECONFIG, encoding="utf-8")
    value = {**result.value, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)}
    return dagster_k8s.K8sRunLauncher(
        **value, k8s_client_batch_api=mock.MagicMock(), k8s_client_core_api=mock.MagicMock()
    )


def _run_pod(launcher: Any, job_name: str, tags: Mapping[str, str]) -> Any:
    """The V1Job K8sRunLauncher.launch_run would create for a run with these tags."""
    from dagster_k8s.job import construct_dagster_k8s_job

    run = DagsterRun(job_name=job_name, run_id="0f1e2d3c-0000-4000-8000-000000000000", tags=dict(tags))
    context = launcher.get_container_context_for_run(run)
    job_config = context.get_k8s_job_config(job_image=None, run_launcher=launcher)
    return construct_dagster_k8s_job(
        job_config,
        args=["dagster", "api", "execute_run"],
        job_name="dagster-run-0f1e2d3c",
        user_defined_k8s_config=context.run_k8s_config,
        pod_name="dagster-run-0f1e2d3c",
        component="run_worker",
    )


def test_a_run_without_tags_gets_a_cpu_pod_with_the_shared_volume(k8s_launcher: Any) -> None:
    pod = _run_pod(k8s_launcher, "data_job", {})
    container = pod.spec.template.spec.containers[0]
    assert container.image == DEPLOY_ENV["CANVAS_IMAGE"]
    assert "nvidia.com/gpu" not in (container.resources.limits or {})
    assert container.resources.requests["cpu"] == "2"
    assert ("canvas-data", "/data") in {(m.name, m.mount_path) for m in container.volume_mounts}
    claims = {v.persistent_volume_claim.claim_name for v in pod.spec.template.spec.volumes if v.persistent_volume_claim}
    assert claims == {"canvas-data"}
    env = {e.name: e.value for e in container.env}
    assert env["CANVAS_OUT_DIR"] == "/data/out" and env["DAGSTER_PG_HOST"] == DEPLOY_ENV["DAGSTER_PG_HOST"]
    assert "DAGSTER_PG_PASSWORD" in env  # from the postgres password Secret, not from the file


def _tag_sets() -> dict[str, dict[str, Any]]:
    tags = _load(TAGS_YAML)
    return {
        "base_model_job": tags["base_model_job"],
        "sft_job": tags["sft_job"],
        **{f"training_job[{m}]": t for m, t in tags["training_job"].items()},
    }


def _as_run_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Run tag values are strings: the dagster-k8s/config mapping travels JSON-encoded."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in tags.items()}


def test_training_tags_cover_every_method_partition() -> None:
    tags = _load(TAGS_YAML)
    assert ["sft", *tags["training_job"]] == list(METHOD_NAMES)
    for name, tag_set in _tag_sets().items():
        assert set(tag_set) == {"dagster-k8s/config", "dagster/max_runtime"}, name
        assert int(tag_set["dagster/max_runtime"]) >= 3600, name


def test_training_tags_parse_with_dagster_k8s_and_ask_for_one_gpu(k8s_launcher: Any) -> None:
    from dagster_k8s.job import get_user_defined_k8s_config

    memory: dict[str, str] = {}
    for name, tag_set in _tag_sets().items():
        parsed = get_user_defined_k8s_config(_as_run_tags(tag_set))
        assert parsed.container_config["resources"]["limits"]["nvidia.com/gpu"] == 1, name

        job_name = name.split("[")[0]
        pod = _run_pod(k8s_launcher, job_name, {**_as_run_tags(tag_set), "gpu": "1"})
        spec = pod.spec.template.spec
        resources = spec.containers[0].resources
        assert resources.limits["nvidia.com/gpu"] == "1", name
        assert resources.requests["memory"] == resources.limits["memory"], name
        assert any(t.key == "nvidia.com/gpu" for t in spec.tolerations), name
        assert spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution, name
        assert ("canvas-data", "/data") in {(m.name, m.mount_path) for m in spec.containers[0].volume_mounts}
        memory[name] = resources.limits["memory"]
    assert memory["sft_job"] != memory["training_job[lora]"]  # full SFT asks for more


def test_a_misspelled_k8s_tag_is_rejected() -> None:
    """The tag check above can fail: dagster-k8s refuses keys it does not know."""
    from dagster_k8s.job import get_user_defined_k8s_config

    good = copy.deepcopy(_load(TAGS_YAML)["training_job"]["dpo"])
    bad = {**good, "dagster-k8s/config": {"container_conf": good["dagster-k8s/config"]["container_config"]}}
    with pytest.raises(DagsterInvalidConfigError):
        get_user_defined_k8s_config(_as_run_tags(bad))
    worse = copy.deepcopy(good)
    worse["dagster-k8s/config"]["container_config"]["resourcez"] = {}
    with pytest.raises(Exception, match="resourcez"):
        get_user_defined_k8s_config(_as_run_tags(worse))


# ----------------------------------------------------------------------------- accelerate


def test_accelerate_config_is_multi_gpu_bf16() -> None:
    config_args = pytest.importorskip("accelerate.commands.config.config_args")
    from accelerate.utils import DistributedType, PrecisionType

    config = config_args.ClusterConfig.from_yaml_file(str(ACCELERATE_YAML))
    assert config.distributed_type == DistributedType.MULTI_GPU
    assert config.num_processes >= 2 and config.num_machines == 1
    assert config.mixed_precision == "bf16" and config.mixed_precision in {p.value for p in PrecisionType}
    assert config.use_cpu is False


def test_accelerate_launch_reads_the_config_for_the_training_cli() -> None:
    """What `accelerate launch --config_file ... -m canvas_pipeline.cli train` would run,
    up to the point of starting processes (accelerate's own argument handling)."""
    launch = pytest.importorskip("accelerate.commands.launch")
    from accelerate.utils import prepare_multi_gpu_env

    parser = launch.launch_command_parser()
    args = parser.parse_args(
        ["--config_file", str(ACCELERATE_YAML), "-m", "canvas_pipeline.cli", "train", "--method", "sft"]
    )
    launch._validate_launch_command(args)
    assert args.multi_gpu and args.num_processes >= 2 and args.mixed_precision == "bf16"
    assert args.training_script == "canvas_pipeline.cli" and args.module
    env = prepare_multi_gpu_env(args)
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
