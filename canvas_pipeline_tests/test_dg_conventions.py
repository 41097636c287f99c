"""dg and config conventions: the definitions are the `defs/` folder as `dg` loads it (a
file `dg scaffold defs` writes there is loaded with no other edit), run config is typed
(`profile` and `scrubber` are enums of the domain's values), and every switch is read
from the environment when a run starts, never when the code is imported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, get_args

import dagster as dg
import pytest

from canvas_pipeline.definitions import defs
from canvas_pipeline.defs.assets_release import RELEASE_KEY, ReleaseConfig, release_model
from canvas_pipeline.defs.automation import raw_dir_sensor
from canvas_pipeline.defs.resources import DataSettings, ModelSettings, ProfileName, ScrubberKind

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SWITCHES = (
    "CANVAS_OUT_DIR",
    "CANVAS_RAW_DIR",
    "CANVAS_PROFILE",
    "CANVAS_REQUIRE_G3",
    "CANVAS_BENCH_ITEMS",
    "CANVAS_SELECTION_ITEMS",
    "CANVAS_RELEASE_PUBLISH",
    "CANVAS_RELEASE_REPO_ID",
    "CANVAS_RELEASE_PRIVATE",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in SWITCHES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _summary(d: dg.Definitions) -> dict[str, set[str]]:
    graph = d.resolve_asset_graph()
    return {
        "assets": {k.to_user_string() for k in graph.get_all_asset_keys()},
        "checks": {k.to_user_string() for k in graph.asset_check_keys},
        "jobs": {j.name for j in d.jobs or []},
        "sensors": {s.name for s in d.sensors or []},
        "schedules": {s.name for s in d.schedules or []},
        "resources": set(d.resources or {}),
    }


# ------------------------------------------------------------------ the defs folder


def test_the_definitions_are_what_dg_loads_from_the_defs_folder() -> None:
    """`canvas_pipeline.definitions:defs` (what workspace.yaml, `dagster -m` and
    `[tool.dg.project] code_location_target_module` name) holds exactly what
    `dg.load_from_defs_folder` finds through pyproject.toml, every kind of definition included."""
    loaded = _summary(dg.load_from_defs_folder(path_within_project=REPO_ROOT))
    ours = _summary(defs)
    assert ours == loaded
    assert ours["jobs"] == {"data_job", "base_model_job", "sft_job", "training_job", "report_job"}
    assert ours["sensors"] == {"raw_dir_sensor"} and ours["schedules"] == {"data_job_daily"}
    assert ours["resources"] >= {"data", "model"}
    assert (REPO_ROOT / "workspace.yaml").read_text().count("module_name: canvas_pipeline.definitions") == 1


def test_a_file_scaffolded_into_defs_is_loaded(tmp_path: Path) -> None:
    """`dg scaffold defs dagster.asset` into a copy of the project: `dg check defs` passes and
    `dg list defs` lists the new asset beside every asset the project had, with no edit to
    definitions.py."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", project / "pyproject.toml")
    shutil.copytree(
        REPO_ROOT / "canvas_pipeline", project / "canvas_pipeline", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "PYTHONPATH")}

    def dg_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "dg"), *args], capture_output=True, text=True, cwd=project, env=env, timeout=300
        )

    scaffold = dg_cli("scaffold", "defs", "dagster.asset", "scaffolded_probe.py")
    assert scaffold.returncode == 0, scaffold.stdout + scaffold.stderr
    written = project / "canvas_pipeline" / "defs" / "scaffolded_probe.py"
    assert "@dg.asset" in written.read_text()

    check = dg_cli("check", "defs")
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
    listing = dg_cli("list", "defs", "--json")
    assert listing.returncode == 0, listing.stderr[-2000:]
    listed = {a["asset_key"] for a in json.loads(listing.stdout)["assets"]}
    assert "scaffolded_probe" in listed
    assert listed - {"scaffolded_probe"} == _summary(defs)["assets"]


def test_an_installed_package_without_pyproject_loads_the_same_definitions(tmp_path: Path) -> None:
    """The images install the wheel: no pyproject.toml beside the package, which is where
    `dg.load_from_defs_folder` looks for the defs module. The definitions load all the same."""
    site = tmp_path / "site-packages"
    shutil.copytree(
        REPO_ROOT / "canvas_pipeline", site / "canvas_pipeline", ignore=shutil.ignore_patterns("__pycache__")
    )
    code = (
        "import json, canvas_pipeline, canvas_pipeline.definitions as d\n"
        "g = d.defs.resolve_asset_graph()\n"
        "print(json.dumps([canvas_pipeline.__file__, sorted(k.to_user_string() for k in g.asset_check_keys)]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"} | {"PYTHONPATH": str(site)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    where, checks = json.loads(proc.stdout.strip().splitlines()[-1])
    assert where.startswith(str(site)) and not (site / "pyproject.toml").exists()
    assert set(checks) == _summary(defs)["checks"]


# ------------------------------------------------------------------ typed config


def test_profile_and_scrubber_are_literals_of_the_domain_values() -> None:
    from canvas_pipeline.data.pii import SCRUBBER_KINDS
    from canvas_pipeline.training.profiles import PROFILES

    assert set(get_args(ProfileName)) == set(PROFILES)
    assert set(get_args(ScrubberKind)) == set(SCRUBBER_KINDS)
    assert ModelSettings.model_fields["profile"].annotation == ProfileName
    assert DataSettings.model_fields["scrubber"].annotation == ScrubberKind


@pytest.mark.parametrize(
    ("job", "resource", "key", "value", "allowed"),
    [
        ("base_model_job", "model", "profile", "e4b", ("tiny", "e2b", "e2b-shape")),
        ("data_job", "data", "scrubber", "regex", ("rule", "piiranha")),
    ],
)
def test_an_unknown_choice_in_run_config_fails_validation_naming_the_allowed_values(
    job: str, resource: str, key: str, value: str, allowed: tuple[str, ...]
) -> None:
    run_config = {"resources": {resource: {"config": {key: value}}}}
    with pytest.raises(dg.DagsterInvalidConfigError) as error:
        dg.validate_run_config(defs.resolve_job_def(job), run_config)
    message = str(error.value)
    assert f"{resource}:config:{key}" in message and value in message
    assert all(repr(a) in message for a in allowed), message
    # a known value validates, and so does none (the environment or the default fills it)
    dg.validate_run_config(defs.resolve_job_def(job), {"resources": {resource: {"config": {key: allowed[-1]}}}})
    dg.validate_run_config(defs.resolve_job_def(job), {})


# ------------------------------------------------------------------ read when a run starts


def _built(resource: str) -> Any:
    """The definitions' resource as a run (or a sensor tick) builds it, now."""
    with dg.build_resources({resource: defs.resources[resource]}) as built:
        return getattr(built, resource)


def test_settings_are_read_when_a_run_starts_not_at_import(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert _built("model").profile == "tiny" and _built("data").out_dir == "out"
    clean_env.setenv("CANVAS_PROFILE", "e2b")
    clean_env.setenv("CANVAS_REQUIRE_G3", "0")
    clean_env.setenv("CANVAS_BENCH_ITEMS", "8")
    clean_env.setenv("CANVAS_OUT_DIR", str(tmp_path))
    model, data = _built("model"), _built("data")
    assert (model.profile, model.require_g3, model.bench_items, model.selection_items) == ("e2b", False, 8, None)
    assert data.out_path == tmp_path and data.raw_path is None
    # run config still wins over the environment
    with dg.build_resources(
        {"model": defs.resources["model"]}, resource_config={"model": {"config": {"profile": "e2b-shape"}}}
    ) as built:
        assert built.model.profile == "e2b-shape" and built.model.bench_items == 8


def test_a_bad_value_in_the_environment_fails_the_run_naming_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CANVAS_PROFILE", "e4b")
    with pytest.raises(dg.DagsterResourceFunctionError) as error:
        _built("model")
    assert "ModelSettings.profile from CANVAS_PROFILE='e4b'" in str(error.value.__cause__)
    assert "'tiny', 'e2b' or 'e2b-shape'" in str(error.value.__cause__)


def test_the_sensor_reads_the_raw_folder_when_it_ticks(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    context = dg.build_sensor_context(resources={"data": defs.resources["data"]})
    assert "No raw folder to watch" in raw_dir_sensor(context).skip_message
    clean_env.setenv("CANVAS_RAW_DIR", str(tmp_path / "exports"))
    context = dg.build_sensor_context(resources={"data": defs.resources["data"]})
    assert str(tmp_path / "exports") in raw_dir_sensor(context).skip_message


def _release_args(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, run_config: dict | None = None) -> dict:
    """What `release/model` passes to the domain's release, run through the definitions'
    resources (the domain call is replaced by a recorder that refuses)."""
    import canvas_pipeline.release as release
    from canvas_pipeline.release import ReleaseRefused

    seen: dict[str, Any] = {}

    def recorder(out_dir, profile, publish, repo_id, log, private):  # noqa: ANN001, ANN202
        seen.update(out_dir=out_dir, profile=profile, publish=publish, repo_id=repo_id, private=private)
        raise ReleaseRefused(["recorded, not released"])

    monkeypatch.setattr(release, "release_checkpoint", recorder)
    monkeypatch.setenv("CANVAS_OUT_DIR", str(tmp_path))
    result = dg.materialize(
        [release_model],
        resources=dict(defs.resources),
        run_config=run_config or {},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "recorded, not released" in failure.step_failure_data.user_failure_data.description
    return seen


def test_publishing_follows_the_environment_at_run_time(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The definitions are imported (at the top of this module) with no CANVAS_RELEASE_*
    set; what is set before a run is what that run does."""
    assert _release_args(clean_env, tmp_path) == {
        "out_dir": tmp_path,
        "profile": "tiny",
        "publish": False,
        "repo_id": None,
        "private": True,
    }
    clean_env.setenv("CANVAS_RELEASE_PUBLISH", "1")
    clean_env.setenv("CANVAS_RELEASE_REPO_ID", "canvas-test/tiny")
    clean_env.setenv("CANVAS_RELEASE_PRIVATE", "0")
    seen = _release_args(clean_env, tmp_path)
    assert (seen["publish"], seen["repo_id"], seen["private"]) == (True, "canvas-test/tiny", False)
    # the run's own config wins over the environment
    seen = _release_args(
        clean_env, tmp_path, {"ops": {RELEASE_KEY.to_python_identifier(): {"config": {"publish": False}}}}
    )
    assert seen["publish"] is False and seen["repo_id"] == "canvas-test/tiny"
    clean_env.delenv("CANVAS_RELEASE_PUBLISH")
    assert _release_args(clean_env, tmp_path)["publish"] is False
    assert ReleaseConfig(publish=True).settings().publish is True


def test_switches_set_when_the_code_is_imported_are_not_baked_in(tmp_path: Path) -> None:
    """A process imports the definitions with every switch set (a code server started with
    CANVAS_RELEASE_PUBLISH=1), then the variables go: nothing of them is left in the
    definitions, and the next run is a dry run on the defaults."""
    script = textwrap.dedent(
        """
        import json, os
        import dagster as dg
        from canvas_pipeline.definitions import defs
        from canvas_pipeline.defs.assets_release import ReleaseConfig

        before = ReleaseConfig().settings().publish
        resolved = dg.validate_run_config(defs.resolve_job_def("report_job"), {})
        for name in [n for n in os.environ if n.startswith("CANVAS_")]:
            del os.environ[name]
        with dg.build_resources(dict(defs.resources)) as built:
            after = {"profile": built.model.profile, "out_dir": built.data.out_dir, "raw_dir": built.data.raw_dir,
                     "require_g3": built.model.require_g3}
        print(json.dumps({"before": before, "after": after, "publish": ReleaseConfig().settings().publish,
                          "resolved": resolved}, default=str))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANVAS_")}
    env |= {
        "CANVAS_RELEASE_PUBLISH": "1",
        "CANVAS_RELEASE_REPO_ID": "canvas-test/baked",
        "CANVAS_PROFILE": "e2b",
        "CANVAS_OUT_DIR": str(tmp_path / "baked_out"),
        "CANVAS_RAW_DIR": str(tmp_path / "baked_raw"),
        "CANVAS_REQUIRE_G3": "0",
    }
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["before"] is True  # while it is set, it is what the release reads
    assert report["after"] == {"profile": "tiny", "out_dir": "out", "raw_dir": None, "require_g3": True}
    assert report["publish"] is False
    resolved = json.dumps(report["resolved"])
    assert "baked" not in resolved and "e2b" not in resolved
