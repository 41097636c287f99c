"""The instance files and deploy/ configs, checked by the code that reads them: Dagster's
instance schema (dagster.yaml, deploy/dagster.yaml), dagster-postgres and dagster-k8s
(storage, run launcher, `dagster-k8s/config` run tags) and accelerate (the multi-GPU
config); the Helm chart's values (deploy/helm/values.yaml) through a transcription of the
chart's templates; and the argv of the pods the chart and K8sRunLauncher start, composed with
docker/Dockerfile's ENTRYPOINTs and executed here. Nothing here needs a cluster, helm, a
container engine, a database or a GPU."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
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
TAGS_YAML = REPO_ROOT / "canvas_pipeline" / "gpu_run_tags.yaml"
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
    return {key: value if isinstance(value, str) else json.dumps(value, sort_keys=True) for key, value in tags.items()}


def test_training_tags_cover_every_method_partition() -> None:
    tags = _load(TAGS_YAML)
    assert ["sft", *tags["training_job"]] == list(METHOD_NAMES)
    for name, tag_set in _tag_sets().items():
        assert set(tag_set) == {"dagster-k8s/config", "dagster/max_runtime"}, name
        assert int(tag_set["dagster/max_runtime"]) >= 3600, name


def test_every_gpu_run_gets_its_tags_from_the_definitions_each_training_partition_its_own() -> None:
    """A UI backfill, a schedule or `dagster job launch --partition` takes a partition's tags
    from the job's partitioned config, and the other GPU jobs carry theirs as job tags."""
    from canvas_pipeline.definitions import defs

    for name, tag_set in _tag_sets().items():
        job_name, _, method = name.partition("[")
        job = defs.resolve_job_def(job_name)
        if method:
            tags = job.partitioned_config.get_tags_for_partition_key(method.rstrip("]"))
        else:
            tags = job.tags
        assert {k: tags[k] for k in tag_set} == _as_run_tags(tag_set), name
        assert json.loads(tags["dagster-k8s/config"]) == tag_set["dagster-k8s/config"], name
        assert tags["gpu"] == "1", name
    assert "dagster-k8s/config" not in defs.resolve_job_def("data_job").tags


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


# ------------------------------------------------------------- the [deploy] extra and the image

PYPROJECT = REPO_ROOT / "pyproject.toml"
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
POD_TARGET = "dagster-pod"


def _pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def _stage_text(dockerfile: Path, name: str) -> str:
    """The instructions of one build stage, from its FROM to the next FROM."""
    text = dockerfile.read_text(encoding="utf-8")
    start = re.search(rf"^FROM\s+\S+\s+AS\s+{re.escape(name)}\s*$", text, re.MULTILINE | re.IGNORECASE)
    assert start, f"no stage {name} in {dockerfile}"
    end = re.search(r"^FROM\s", text[start.end() :], re.MULTILINE)
    return text[start.start() : start.end() + (end.start() if end else len(text))]


def test_the_deploy_extra_pins_the_k8s_and_postgres_packages_dev_pins() -> None:
    extras = _pyproject()["project"]["optional-dependencies"]
    deploy = sorted(extras["deploy"])
    assert deploy == ["dagster-k8s==0.29.27", "dagster-postgres==0.29.27"]
    assert set(deploy) <= set(extras["dev"])  # the tests run against what the image gets
    dagster_pin = next(d for d in _pyproject()["project"]["dependencies"] if d.startswith("dagster=="))
    assert dagster_pin == "dagster==1.13.27"  # dagster 1.13.N goes with the integrations' 0.29.N


def test_the_pod_target_installs_the_deploy_extra_and_has_no_entrypoint() -> None:
    from canvas_pipeline.guardrails.g10_container import parse_dockerfile

    parsed = parse_dockerfile(DOCKERFILE)
    pod = parsed.stage(POD_TARGET)
    assert pod.entrypoint is not None and pod.entrypoint.form == "exec" and pod.entrypoint.argv == ()
    assert "['optional-dependencies']['deploy']" in _stage_text(DOCKERFILE, POD_TARGET)
    # `docker build` without --target (compose's train service, G10) still builds the training image
    default = parsed.stage()
    assert default.name == "train" and default.entrypoint is not None
    assert default.entrypoint.argv == ("canvas-train",)


# --------------------------------------------------------------------- the Helm chart's values
# The chart (dagster/dagster) renders the instance ConfigMap from its values; helm and the chart
# are not here, so _chart_* below transcribe the chart's templates (configmap-instance.yaml and
# helpers/instance/_run-launcher.tpl, _postgresql.tpl, _run-coordinator.tpl, _concurrency.tpl;
# dagster-user-deployments' deployment-user.yaml and its k8sContainerContext helper) for the keys
# deploy/helm/values.yaml sets. What they make is then checked by Dagster's and dagster-k8s's own
# code. The README's install names the release `dagster` in namespace `canvas`.

RELEASE = "dagster"  # contains the chart's name, so the chart's fullname is the release name
NAMESPACE = "canvas"


def _helm_values() -> dict[str, Any]:
    return _load(HELM_VALUES)


def _names(refs: list[Mapping[str, Any]] | None) -> list[str]:
    return [ref["name"] for ref in refs or [] if "name" in ref]


def _chart_postgres(values: Mapping[str, Any]) -> dict[str, Any]:
    pg = values["postgresql"]
    return {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "params": pg.get("postgresqlParams", {}),
        }
    }


def _chart_run_launcher(values: Mapping[str, Any]) -> dict[str, Any]:
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": RELEASE,
        "dagster_home": values["global"]["dagsterHome"],
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    if "image" in k8s:
        config["job_image"] = f"{k8s['image']['repository']}:{k8s['image']['tag']}"
    optional = {
        "envConfigMaps": ("env_config_maps", _names),
        "envSecrets": ("env_secrets", _names),
        "envVars": ("env_vars", list),
        "volumeMounts": ("volume_mounts", list),
        "volumes": ("volumes", list),
        "labels": ("labels", dict),
        "resources": ("resources", dict),
    }
    for key, (name, convert) in optional.items():
        if k8s.get(key):
            config[name] = convert(k8s[key])
    if k8s.get("failPodOnRunFailure"):
        config["fail_pod_on_run_failure"] = True
    run_k8s = k8s.get("runK8sConfig") or {}
    parts = {
        "containerConfig": "container_config",
        "podSpecConfig": "pod_spec_config",
        "podTemplateSpecMetadata": "pod_template_spec_metadata",
        "jobSpecConfig": "job_spec_config",
        "jobMetadata": "job_metadata",
    }
    if run_k8s:
        config["run_k8s_config"] = {parts[k]: v for k, v in run_k8s.items() if v}
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def _chart_instance(values: Mapping[str, Any]) -> dict[str, Any]:
    """The dagster.yaml the chart writes into its instance ConfigMap for these values."""
    daemon = values["dagsterDaemon"]
    storage = _chart_postgres(values)
    instance: dict[str, Any] = {
        "scheduler": {"module": "dagster.core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": storage,
        },
        "run_launcher": _chart_run_launcher(values),
        "run_storage": {"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage", "config": storage},
        "event_log_storage": {
            "module": "dagster_postgres.event_log",
            "class": "PostgresEventLogStorage",
            "config": storage,
        },
    }
    coordinator = daemon["runCoordinator"]
    if daemon["enabled"] and coordinator["enabled"]:
        assert coordinator["type"] == "QueuedRunCoordinator"
        qrc = coordinator["config"].get("queuedRunCoordinator") or {}
        keys = {
            "maxConcurrentRuns": "max_concurrent_runs",
            "tagConcurrencyLimits": "tag_concurrency_limits",
            "dequeueIntervalSeconds": "dequeue_interval_seconds",
            "dequeueUseThreads": "dequeue_use_threads",
            "dequeueNumWorkers": "dequeue_num_workers",
        }
        instance["run_coordinator"] = {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"}
        config = {keys[k]: v for k, v in qrc.items() if v not in (None, [], {})}
        if config:
            instance["run_coordinator"]["config"] = config
    monitoring = daemon["runMonitoring"]
    if daemon["enabled"] and monitoring["enabled"]:
        rendered = {
            "enabled": True,
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
            "free_slots_after_run_end_seconds": monitoring["freeSlotsAfterRunEndSeconds"],
        }
        for key, name in (
            ("cancelTimeoutSeconds", "cancel_timeout_seconds"),
            ("maxResumeRunAttempts", "max_resume_run_attempts"),
            ("maxRuntimeSeconds", "max_runtime_seconds"),
        ):
            if monitoring.get(key) is not None:
                rendered[name] = monitoring[key]
        instance["run_monitoring"] = rendered
    retries = daemon["runRetries"]
    if daemon["enabled"] and retries["enabled"]:
        instance["run_retries"] = {"enabled": True}
        if retries.get("maxRetries"):
            instance["run_retries"]["max_retries"] = retries["maxRetries"]
        if retries.get("retryOnAssetOrOpFailure") is not None:
            instance["run_retries"]["retry_on_asset_or_op_failure"] = retries["retryOnAssetOrOpFailure"]
    instance["telemetry"] = {"enabled": values["telemetry"]["enabled"]}
    concurrency = values.get("concurrency") or {}
    if concurrency.get("enabled"):
        instance["concurrency"] = _chart_concurrency(values)
    return instance


def _chart_concurrency(values: Mapping[str, Any]) -> dict[str, Any]:
    pools, runs = values["concurrency"].get("pools", {}), values["concurrency"].get("runs", {})
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    if coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator":
        qrc = coordinator["config"].get("queuedRunCoordinator") or {}
        # the chart's template fails the install on these combinations
        assert runs.get("maxConcurrentRuns") is None or qrc.get("maxConcurrentRuns") is None
        assert not (runs.get("tagConcurrencyLimits") and qrc.get("tagConcurrencyLimits"))
    out: dict[str, Any] = {}
    rendered_pools = {
        name: pools[key]
        for key, name in (
            ("defaultLimit", "default_limit"),
            ("granularity", "granularity"),
            ("opGranularityRunBuffer", "op_granularity_run_buffer"),
        )
        if pools.get(key) is not None
    }
    if rendered_pools:
        out["pools"] = rendered_pools
    rendered_runs: dict[str, Any] = {}
    if runs.get("maxConcurrentRuns") is not None:
        rendered_runs["max_concurrent_runs"] = runs["maxConcurrentRuns"]
    if runs.get("tagConcurrencyLimits"):
        rendered_runs["tag_concurrency_limits"] = [
            {"key": t["key"], **({"value": t["value"]} if t.get("value") else {}), "limit": t["limit"]}
            for t in runs["tagConcurrencyLimits"]
        ]
    if rendered_runs:
        out["runs"] = rendered_runs
    return out


def _user_deployment(values: Mapping[str, Any]) -> dict[str, Any]:
    section = values["dagster-user-deployments"]
    assert section["enabled"] is True and section["enableSubchart"] is True
    (deployment,) = section["deployments"]
    return deployment


def _image_name(deployment: Mapping[str, Any]) -> str:
    return f"{deployment['image']['repository']}:{deployment['image']['tag']}"


def _chart_code_server_args(deployment: Mapping[str, Any], port: int | None = None) -> list[str]:
    """The `args` of the chart's user code Deployment (its container has no `command`)."""
    port = deployment["port"] if port is None else port
    return ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", str(port), *deployment["dagsterApiGrpcArgs"]]


def _chart_container_context(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """What the chart hands to runs with includeConfigInLaunchedRuns (its k8sContainerContext
    helper, passed to `dagster api grpc` as DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT)."""
    k8s: dict[str, Any] = {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "env_config_maps": [f"{RELEASE}-{deployment['name']}-user-env", *_names(deployment.get("envConfigMaps"))],
    }
    if deployment.get("envSecrets"):
        k8s["env_secrets"] = _names(deployment["envSecrets"])
    for key, name in (("volumeMounts", "volume_mounts"), ("volumes", "volumes"), ("labels", "labels")):
        if deployment.get(key):
            k8s[name] = deployment[key]
    if deployment.get("resources"):
        k8s["resources"] = deployment["resources"]
    k8s["namespace"] = NAMESPACE
    k8s["service_account_name"] = f"{RELEASE}-user-deployments"
    if isinstance(deployment.get("env"), list):
        k8s["env"] = deployment["env"]
    k8s["run_k8s_config"] = {"pod_spec_config": {"automount_service_account_token": True}}
    return {"k8s": k8s}


def test_helm_values_make_the_instance_deploy_dagster_yaml_describes(tmp_path: Path) -> None:
    """Storage, launcher, queue, pools, monitoring and retries, in the chart's keys, make the
    same instance settings as deploy/dagster.yaml, and Dagster's schema accepts the result."""
    values = _helm_values()
    instance = _chart_instance(values)
    _validated(tmp_path, instance)  # also Dagster's concurrency-vs-run_coordinator conflict check
    deploy = _load(DEPLOY_YAML)

    assert instance["concurrency"] == deploy["concurrency"]
    assert instance["concurrency"]["pools"] == {"granularity": "run", "default_limit": 1}
    assert {"key": "gpu", "value": "1", "limit": 1} in instance["concurrency"]["runs"]["tag_concurrency_limits"]
    assert instance["run_retries"] == deploy["run_retries"]
    monitoring = instance["run_monitoring"]
    assert {k: monitoring[k] for k in deploy["run_monitoring"]} == deploy["run_monitoring"]
    assert monitoring["free_slots_after_run_end_seconds"] == 0  # Dagster's default, as the local file
    assert instance["run_coordinator"] == {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"}
    assert instance["telemetry"] == deploy["telemetry"]

    home = tmp_path / "chart_instance"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance), encoding="utf-8")
    ref = InstanceRef.from_dir(str(home))
    for data in (ref.run_storage_data, ref.event_storage_data, ref.schedule_storage_data):
        assert data.module_name.startswith("dagster_postgres")
    assert (ref.run_launcher_data.module_name, ref.run_launcher_data.class_name) == ("dagster_k8s", "K8sRunLauncher")
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"


def test_helm_values_run_launcher_config_passes_dagster_k8s_and_matches_deploy() -> None:
    dagster_k8s = pytest.importorskip("dagster_k8s")
    values = _helm_values()
    config = _chart_run_launcher(values)["config"]
    result = process_config(dagster_k8s.K8sRunLauncher.config_type(), config)
    assert result.success, result.errors

    deploy = _load(DEPLOY_YAML)["run_launcher"]["config"]
    assert "job_image" not in config  # the run image is the code location's (the pod target)
    for key in ("env_secrets", "run_k8s_config", "fail_pod_on_run_failure", "image_pull_policy", "dagster_home"):
        assert config[key] == deploy[key], key
    assert config["postgres_password_secret"] == deploy["postgres_password_secret"]
    canvas_env = sorted(v for v in deploy["env_vars"] if v.startswith("CANVAS_"))
    assert sorted(config["env_vars"]) == canvas_env
    assert [(m["name"], m["mountPath"]) for m in config["volume_mounts"]] == [
        (m["name"], m["mount_path"]) for m in deploy["volume_mounts"]
    ]
    assert [v["persistentVolumeClaim"]["claimName"] for v in config["volumes"]] == [
        v["persistent_volume_claim"]["claim_name"] for v in deploy["volumes"]
    ]


def test_helm_user_deployment_runs_the_pod_target_for_the_definitions() -> None:
    values = _helm_values()
    deployment = _user_deployment(values)
    assert deployment["dagsterApiGrpcArgs"] == ["-m", _pyproject()["tool"]["dagster"]["module_name"]]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert "resources" not in deployment  # they would be handed to every run pod
    assert deployment["image"]["tag"] not in ("latest", "", None)

    # the image is the one docker/Dockerfile documents building from the pod target, not the
    # training image (the header's `docker build` lines: `-t NAME:TAG`, with or without --target)
    builds = re.findall(r"docker build -f docker/Dockerfile (--target (\S+) )?-t ([^:\s]+):", DOCKERFILE.read_text())
    by_target = {target or None: name for _, target, name in builds}
    assert set(by_target) == {None, POD_TARGET}, builds
    repository = deployment["image"]["repository"].rsplit("/", 1)[-1]
    assert repository == by_target[POD_TARGET] and repository != by_target[None]
    assert f'--target {POD_TARGET} -t "$REGISTRY/{repository}:' in (DEPLOY / "README.md").read_text()

    # the code server mounts the shared volume its sensor watches (CANVAS_RAW_DIR)
    mounts = {m["name"]: m["mountPath"] for m in deployment["volumeMounts"]}
    assert deployment["env"]["CANVAS_RAW_DIR"].startswith(mounts["canvas-data"] + "/")


# ---------------------------------------------------------------- the pod's argv, run here
# What a container runs, as Kubernetes composes it from the image and the pod spec: `command`
# replaces the image's ENTRYPOINT (and drops its CMD); `args` alone replace CMD and are
# appended to the ENTRYPOINT; neither: ENTRYPOINT + CMD.


def _container_argv(stage: Any, container: Any) -> list[str]:
    entrypoint = list(stage.entrypoint.argv) if stage.entrypoint is not None else []
    cmd = list(stage.cmd.argv) if stage.cmd is not None else []
    if container.command:
        return [*container.command, *(container.args or [])]
    return [*entrypoint, *(container.args if container.args is not None else cmd)]


def _venv_env() -> dict[str, str]:
    """The environment with this interpreter's bin folder (the venv's console scripts:
    dagster, canvas-train) first on PATH, as /opt/venv/bin is in the image."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _run_argv(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = _venv_env()
    exe = shutil.which(argv[0], path=env["PATH"])
    assert exe, f"{argv[0]} is not on PATH"
    return subprocess.run(
        [exe, *argv[1:]], capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
    )


_PROBE_JOB = """
import dagster as dg


@dg.op
def pod_argv_probe_op() -> int:
    return 1


@dg.job
def pod_argv_probe():
    pod_argv_probe_op()


defs = dg.Definitions(jobs=[pod_argv_probe])
"""


@pytest.fixture()
def launched_run_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The Job K8sRunLauncher creates for a queued run: the launcher's own launch_run with the
    config the chart makes from deploy/helm/values.yaml, a run whose code origin is what the
    chart's code server reports (entry point `dagster`, the pod target's image, the chart's
    container context), and mocked Kubernetes clients that capture the Job. The run's job is a
    one-op probe job in a file (so executing the pod's argv runs a whole run in seconds)."""
    dagster_k8s = pytest.importorskip("dagster_k8s")
    from dagster._core.code_pointer import CodePointer
    from dagster._core.launcher import LaunchRunContext
    from dagster._core.origin import DEFAULT_DAGSTER_ENTRY_POINT, JobPythonOrigin, RepositoryPythonOrigin

    values = _helm_values()
    deployment = _user_deployment(values)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    probe = tmp_path / "pod_argv_probe.py"
    probe.write_text(_PROBE_JOB, encoding="utf-8")

    config = _chart_run_launcher(values)["config"]
    result = process_config(dagster_k8s.K8sRunLauncher.config_type(), config)
    assert result.success, result.errors
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(_FAKE_KUBECONFIG, encoding="utf-8")
    batch_api = mock.MagicMock()
    launcher = dagster_k8s.K8sRunLauncher(
        **{**result.value, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)},
        k8s_client_batch_api=batch_api,
        k8s_client_core_api=mock.MagicMock(),
    )
    origin = JobPythonOrigin(
        job_name="pod_argv_probe",
        repository_origin=RepositoryPythonOrigin(
            executable_path=sys.executable,
            code_pointer=CodePointer.from_python_file(str(probe), "defs", str(tmp_path)),
            container_image=_image_name(deployment),
            entry_point=DEFAULT_DAGSTER_ENTRY_POINT,
            container_context=_chart_container_context(deployment),
        ),
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        launcher.register_instance(instance)
        run = DagsterRun(
            job_name="pod_argv_probe", run_id="5e0c1a2b-0000-4000-8000-000000000001", job_code_origin=origin
        )
        instance.add_run(run)
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
        (call,) = batch_api.create_namespaced_job.call_args_list
        yield call.kwargs["body"], call.kwargs["namespace"], instance, run.run_id


def test_the_run_pod_from_k8s_run_launcher_uses_the_pod_target_and_the_shared_volume(launched_run_pod: Any) -> None:
    job, namespace, _, _ = launched_run_pod
    deployment = _user_deployment(_helm_values())
    spec = job.spec.template.spec
    (container,) = spec.containers
    assert namespace == NAMESPACE
    assert container.image == _image_name(deployment)
    assert container.command is None  # only args: the image's ENTRYPOINT stays
    assert container.args[:3] == ["dagster", "api", "execute_run"]
    # launcher and code location both name the volume: one volume, one mount
    assert [v.name for v in spec.volumes] == ["canvas-data"]
    assert [(m.name, m.mount_path) for m in container.volume_mounts] == [("canvas-data", "/data")]
    env_from = {(e.config_map_ref or e.secret_ref).name for e in container.env_from}
    assert {"canvas-hf-token", f"{RELEASE}-canvas-pipeline-user-env"} <= env_from
    env = {e.name: e for e in container.env}
    assert env["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref.name == "dagster-postgresql-secret"
    assert env["CANVAS_OUT_DIR"].value == "/data/out"
    assert container.resources.requests["cpu"] == "2"  # the launcher's CPU default, no GPU
    assert "nvidia.com/gpu" not in (container.resources.limits or {})


@pytest.mark.slow
def test_the_pod_target_executes_the_run_pod_argv_and_the_training_target_rejects_it(launched_run_pod: Any) -> None:
    """The run pod's args behind each target's ENTRYPOINT, executed here: behind the pod target
    they are `dagster api execute_run <run>`, which runs the run to success; behind the
    training target they become `canvas-train dagster api ...`, which the CLI rejects."""
    from canvas_pipeline.guardrails.g10_container import parse_dockerfile

    job, _, instance, run_id = launched_run_pod
    (container,) = job.spec.template.spec.containers
    parsed = parse_dockerfile(DOCKERFILE)

    # behind the training image's ENTRYPOINT: refused by canvas-train's parser, the run untouched
    train_argv = _container_argv(parsed.stage(), container)
    assert train_argv[:4] == ["canvas-train", "dagster", "api", "execute_run"]
    rejected = _run_argv(train_argv, timeout=120)
    assert rejected.returncode == 2, rejected.stdout + rejected.stderr
    assert "invalid choice: 'dagster'" in rejected.stderr
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.NOT_STARTED

    # behind the pod target's: dagster's run worker loads the run and runs it to success
    pod_argv = _container_argv(parsed.stage(POD_TARGET), container)
    done = _run_argv(pod_argv)
    assert done.returncode == 0, (
        f"{shlex.join(pod_argv[:3])} ... exited {done.returncode}: " + (done.stdout + done.stderr)[-4000:]
    )
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS


@pytest.mark.slow
def test_the_pod_target_serves_the_chart_code_server_argv(tmp_path: Path) -> None:
    """The chart's user code container (its args behind the pod target's ENTRYPOINT, with the
    chart's env) serves canvas_pipeline.definitions: the chart's readiness probe passes, and the
    server reports the entry point, image and container context the run pod above was built from."""
    from dagster._api.list_repositories import sync_list_repositories_grpc
    from dagster._core.origin import DEFAULT_DAGSTER_ENTRY_POINT
    from dagster._grpc.client import DagsterGrpcClient
    from dagster._grpc.server import wait_for_grpc_server
    from dagster_shared.utils import find_free_port

    from canvas_pipeline.guardrails.g10_container import parse_dockerfile

    deployment = _user_deployment(_helm_values())
    port = find_free_port()
    container = mock.Mock(command=None, args=_chart_code_server_args(deployment, port))
    argv = _container_argv(parse_dockerfile(DOCKERFILE).stage(POD_TARGET), container)
    context = _chart_container_context(deployment)
    env = {
        **_venv_env(),
        "DAGSTER_HOME": str(tmp_path),
        "DAGSTER_CURRENT_IMAGE": _image_name(deployment),
        "DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT": json.dumps(context),
        **{k: str(tmp_path / "data" / Path(v).name) for k, v in deployment["env"].items() if k.endswith("_DIR")},
    }
    exe = shutil.which(argv[0], path=env["PATH"])
    assert exe
    server = subprocess.Popen([exe, *argv[1:]], env=env, stdin=subprocess.DEVNULL)
    try:
        client = DagsterGrpcClient(port=port, host="localhost")
        wait_for_grpc_server(server, client, argv, timeout=180)
        probe = _run_argv(["dagster", "api", "grpc-health-check", "-p", str(port)], timeout=60)
        assert probe.returncode == 0, probe.stdout + probe.stderr
        listed = sync_list_repositories_grpc(client)
        assert list(listed.entry_point) == DEFAULT_DAGSTER_ENTRY_POINT
        assert listed.container_image == _image_name(deployment)
        assert listed.container_context == context
    finally:
        server.terminate()
        server.wait(timeout=60)
