"""G10: the containers run what they are meant to run. Layer (a) on the real docker/ files and
on hand-made bad ones (the v7-broken `sh -c` behind the ENTRYPOINT among them), Docker's
exec/shell-form semantics, G10 in the registry and in `canvas-train check`; layer (b) (a real
`docker build` + `docker run --rm IMAGE --help`) only where a container engine answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from canvas_pipeline.cli_args import build_parser
from canvas_pipeline.guardrails.g10_container import (
    DockerfileError,
    EngineSettings,
    compose_argv,
    compose_services,
    engine_reachable,
    g10_containers,
    is_shell_c,
    layer_a,
    parse_dockerfile,
)
from canvas_pipeline.guardrails.inputs import Bundle
from canvas_pipeline.guardrails.registry import GUARDRAILS, CheckConfig, by_id, run_guardrails

REPO_ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("canvas-train"))
OFF = EngineSettings(mode="off", mode_source="test")

GOOD_DOCKERFILE = 'FROM python:3.12-slim\nENTRYPOINT ["canvas-train"]\nCMD ["--help"]\n'
GOOD_COMPOSE = """
services:
  train:
    build: {context: .., dockerfile: docker/Dockerfile}
    image: canvas-train:local
    command: ["pipeline"]
"""


def project(tmp_path: Path, dockerfile: str = GOOD_DOCKERFILE, compose: str | None = GOOD_COMPOSE) -> Path:
    (tmp_path / "docker").mkdir(parents=True, exist_ok=True)
    (tmp_path / "docker" / "Dockerfile").write_text(dockerfile)
    if compose is not None:
        (tmp_path / "docker" / "compose.yaml").write_text(compose)
    return tmp_path


def dockerfile_stage(tmp_path: Path, text: str):
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return parse_dockerfile(path).stage()


# ----------------------------------------------------------------------------- the real files


def test_real_docker_files_pass_layer_a() -> None:
    a = layer_a(REPO_ROOT, build_parser)
    assert a.passed, a.problems
    assert a.execution is not None
    assert list(a.execution.argv) == ["canvas-train", "--help"]
    assert a.execution.exit_code == 0
    assert Path(a.execution.resolved[0]).name == "canvas-train"
    argv = {c.where: list(c.argv) for c in a.containers}
    assert argv["docker/Dockerfile (image default)"] == ["canvas-train", "--help"]
    assert argv["docker/compose.yaml service train"] == ["canvas-train", "pipeline"]
    worker = argv["docker/compose.yaml service anon-piiranha"]
    assert worker[:4] == ["canvas-train", "data", "--scrubber", "piiranha"]
    assert argv["docker/Dockerfile.anon-piiranha (image default)"][:4] == worker[:4]


def test_real_compose_commands_are_lists_for_exec_entrypoints() -> None:
    import yaml

    compose = yaml.safe_load((REPO_ROOT / "docker" / "compose.yaml").read_text())
    for name, service in compose["services"].items():
        assert isinstance(service["command"], list), name
        dockerfile = parse_dockerfile(REPO_ROOT / service["build"]["dockerfile"]).stage()
        assert dockerfile.entrypoint is not None and dockerfile.entrypoint.form == "exec", name
    assert compose["services"]["anon-piiranha"]["network_mode"] == "none"


def test_g10_real_result_in_the_registry_with_the_engine_layer_off(tmp_path: Path) -> None:
    assert [g.id for g in GUARDRAILS].index("G10") == 9
    config = CheckConfig(project_root=REPO_ROOT, g10_engine="off", cli_parser=build_parser)
    (result,) = run_guardrails(Bundle(tmp_path, {}, {}), config, ("G10",))
    assert result.passed is None and result.status == "NOT RUN"  # no build: no verdict, never PASS
    assert result.value["argv"] == ["canvas-train", "--help"]
    assert result.value["exit_code"] == 0 and result.value["elapsed_s"] > 0
    assert result.value["engine"] == "not run"
    assert "engine layer (b) not run" in result.reason and "CheckConfig.g10_engine: off" in result.reason
    assert any("engine layer (b) not run" in d for d in result.details)
    assert by_id("G10").run(Bundle(tmp_path, {}, {}), config).passed is None


def test_g10_without_the_cli_parser_is_not_run_naming_it(tmp_path: Path) -> None:
    (result,) = run_guardrails(Bundle(tmp_path, {}, {}), CheckConfig(project_root=REPO_ROOT), ("G10",))
    assert result.status == "NOT RUN" and "no canvas-train parser given" in result.reason


def test_g10_runs_in_canvas_train_check(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "raw").mkdir(parents=True)
    (data / "raw" / "report.json").write_text(
        json.dumps({"stage": "raw", "rows_in": 5, "rows_out": 5, "retained": 1.0})
    )
    env = {**os.environ, "CANVAS_G10_ENGINE": "off"}
    proc = subprocess.run(
        [CLI, "check", "--data-dir", str(data), "--tokenizer", str(tmp_path / "none"), "--no-g9"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env=env,
    )
    g10 = next(line for line in proc.stdout.splitlines() if line.startswith("G10"))
    assert " NOT RUN " in g10, proc.stdout + proc.stderr
    assert "engine layer (b) not run: engine layer off (CANVAS_G10_ENGINE: off)" in proc.stdout
    report = json.loads((data / "guardrails.json").read_text())
    record = next(r for r in report["results"] if r["id"] == "G10")
    assert record["value"]["argv"] == ["canvas-train", "--help"] and record["value"]["exit_code"] == 0


def test_no_docker_folder_is_not_run_never_pass(tmp_path: Path) -> None:
    result = g10_containers(tmp_path, OFF, build_parser)
    assert result.passed is None and "no docker/Dockerfile" in result.reason


# ----------------------------------------------------------------------------- the bad files


def test_compose_sh_c_behind_the_entrypoint_fails_naming_file_and_service(tmp_path: Path) -> None:
    """The v7-broken collision: ENTRYPOINT ["canvas-train"] + command: sh -c "..."."""
    compose = GOOD_COMPOSE.replace('command: ["pipeline"]', 'command: sh -c "canvas-train pipeline"')
    result = g10_containers(project(tmp_path, compose=compose), OFF, build_parser)
    assert result.passed is False
    text = "\n".join(result.details)
    assert "docker/compose.yaml service train" in text
    assert "`sh -c ...` behind ENTRYPOINT" in text
    assert "canvas-train sh -c 'canvas-train pipeline'" in text  # what the container really runs
    assert '["pipeline"]' in text  # the fix, as a list
    assert "string command:" in text and "write command: as a YAML list" in text
    assert "invalid choice: 'sh'" in text  # argparse's own words, as at run time
    assert result.n_offending == 3


def test_shell_form_entrypoint_with_sh_c_command_fails(tmp_path: Path) -> None:
    dockerfile = 'FROM python:3.12-slim\nENTRYPOINT canvas-train\nCMD ["sh", "-c", "canvas-train pipeline"]\n'
    result = g10_containers(project(tmp_path, dockerfile, compose=None), OFF, build_parser)
    assert result.passed is False
    text = "\n".join(result.details)
    assert "docker/Dockerfile (image default): shell-form ENTRYPOINT canvas-train" in text
    assert "ignores CMD and run arguments" in text and "never reaches it" in text
    # what runs instead is `/bin/sh -c canvas-train`, which exits 2 (no command given)
    assert "failed here: exit 2" in text
    assert result.value["exit_code"] == 2


def test_shell_form_cmd_behind_an_exec_entrypoint_fails(tmp_path: Path) -> None:
    dockerfile = 'FROM python:3.12-slim\nENTRYPOINT ["canvas-train"]\nCMD canvas-train --help\n'
    result = g10_containers(project(tmp_path, dockerfile, compose=None), OFF, build_parser)
    assert result.passed is False
    assert any("`/bin/sh -c ...` behind ENTRYPOINT" in d and "docker/Dockerfile" in d for d in result.details)


def test_an_argv_that_exits_non_zero_fails(tmp_path: Path) -> None:
    dockerfile = 'FROM python:3.12-slim\nENTRYPOINT ["canvas-train"]\nCMD ["--no-such-flag"]\n'
    result = g10_containers(project(tmp_path, dockerfile, compose=None), OFF, build_parser)
    assert result.passed is False
    assert result.value["argv"] == ["canvas-train", "--no-such-flag"] and result.value["exit_code"] == 2
    text = "\n".join(result.details)
    assert "docker/Dockerfile: the training image's argv canvas-train --no-such-flag failed here: exit 2" in text
    assert "docker/Dockerfile (image default): canvas-train --no-such-flag is rejected by canvas-train's parser" in text


def test_an_argv_the_parser_accepts_but_that_exits_non_zero_fails(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-data"
    dockerfile = f'FROM python:3.12-slim\nENTRYPOINT ["canvas-train"]\nCMD ["check", "--data-dir", "{missing}"]\n'
    result = g10_containers(project(tmp_path, dockerfile, compose=None), OFF, build_parser)
    assert result.passed is False and result.value["exit_code"] == 2
    (problem,) = result.details
    assert problem.startswith("docker/Dockerfile: the training image's argv canvas-train check --data-dir")
    assert "failed here: exit 2: canvas-train check: error: cannot read" in problem


def test_a_command_list_the_cli_rejects_fails_without_running_it(tmp_path: Path) -> None:
    compose = GOOD_COMPOSE.replace('["pipeline"]', '["pipline"]')
    result = g10_containers(project(tmp_path, compose=compose), OFF, build_parser)
    assert result.passed is False
    (problem,) = [d for d in result.details if "service train" in d]
    assert "canvas-train pipline is rejected by canvas-train's parser: " in problem
    assert "invalid choice: 'pipline'" in problem


def test_a_training_image_that_is_not_canvas_train_fails(tmp_path: Path) -> None:
    result = g10_containers(
        project(tmp_path, 'FROM python:3.12-slim\nCMD ["python3", "--version"]\n', None), OFF, build_parser
    )
    assert result.passed is False
    assert any("not canvas-train" in d for d in result.details)


def test_compose_building_a_missing_dockerfile_fails(tmp_path: Path) -> None:
    compose = GOOD_COMPOSE + "  worker:\n    build: {context: .., dockerfile: docker/Dockerfile.gone}\n"
    result = g10_containers(project(tmp_path, compose=compose), OFF, build_parser)
    assert result.passed is False
    assert any("service worker: builds docker/Dockerfile.gone, which does not exist" in d for d in result.details)


# ----------------------------------------------------------------------------- Docker semantics


def test_exec_entrypoint_and_exec_cmd_concatenate(tmp_path: Path) -> None:
    stage = dockerfile_stage(tmp_path, 'FROM x\nENTRYPOINT ["canvas-train", "data"]\nCMD ["--out", "o"]\n')
    container = compose_argv("t", stage.entrypoint, stage.cmd)
    assert container.argv == ("canvas-train", "data", "--out", "o") and not container.problems
    # arguments at run time (or a compose command list) replace CMD, never the ENTRYPOINT
    container = compose_argv("t", stage.entrypoint, stage.cmd, command_override=["--help"])
    assert container.argv == ("canvas-train", "data", "--help") and not container.problems


def test_shell_form_entrypoint_ignores_cmd(tmp_path: Path) -> None:
    stage = dockerfile_stage(tmp_path, 'FROM x\nENTRYPOINT canvas-train --help\nCMD ["pipeline"]\n')
    assert stage.entrypoint.form == "shell" and stage.cmd.form == "exec"
    container = compose_argv("t", stage.entrypoint, stage.cmd)
    assert container.argv == ("/bin/sh", "-c", "canvas-train --help")
    assert len(container.problems) == 1 and "ignores CMD" in container.problems[0]
    alone = compose_argv("t", stage.entrypoint, None)
    assert alone.argv == ("/bin/sh", "-c", "canvas-train --help") and not alone.problems


def test_exec_entrypoint_with_shell_form_cmd_appends_sh_c(tmp_path: Path) -> None:
    stage = dockerfile_stage(tmp_path, 'FROM x\nENTRYPOINT ["canvas-train"]\nCMD canvas-train pipeline\n')
    container = compose_argv("t", stage.entrypoint, stage.cmd)
    assert container.argv == ("canvas-train", "/bin/sh", "-c", "canvas-train pipeline")
    assert container.problems


def test_cmd_alone_in_either_form(tmp_path: Path) -> None:
    exec_cmd = dockerfile_stage(tmp_path, 'FROM x\nCMD ["canvas-train", "--help"]\n')
    assert compose_argv("t", exec_cmd.entrypoint, exec_cmd.cmd).argv == ("canvas-train", "--help")
    shell_cmd = dockerfile_stage(tmp_path, "FROM x\nCMD canvas-train --help\n")
    container = compose_argv("t", shell_cmd.entrypoint, shell_cmd.cmd)
    assert container.argv == ("/bin/sh", "-c", "canvas-train --help") and not container.problems
    assert container.notes  # a shell script is run, not parsed


def test_invalid_json_is_shell_form_and_shell_instruction_applies(tmp_path: Path) -> None:
    stage = dockerfile_stage(tmp_path, "FROM x\nENTRYPOINT ['canvas-train']\n")
    assert stage.entrypoint.form == "shell"
    assert stage.entrypoint.argv == ("/bin/sh", "-c", "['canvas-train']")
    stage = dockerfile_stage(tmp_path, 'FROM x\nSHELL ["/bin/bash", "-lc"]\nCMD echo hi\n')
    assert stage.cmd.argv == ("/bin/bash", "-lc", "echo hi")
    assert is_shell_c(stage.cmd.argv) and is_shell_c(["sh", "-c", "x"]) and not is_shell_c(["canvas-train", "-c"])


def test_continuations_comments_heredocs_and_last_instruction_wins(tmp_path: Path) -> None:
    text = (
        "# syntax=docker/dockerfile:1\n"
        "FROM x\n"
        "RUN <<EOF\n"
        "CMD this line is a heredoc body\n"
        "EOF\n"
        'CMD ["first"]\n'
        'ENTRYPOINT ["canvas-train", \\\n'
        "# a comment inside the continuation\n"
        '            "data"]\n'
        'CMD ["--out", \\\n   "o"]\n'
    )
    stage = dockerfile_stage(tmp_path, text)
    assert stage.entrypoint.argv == ("canvas-train", "data") and stage.entrypoint.line == 7
    assert stage.cmd.argv == ("--out", "o")


def test_entrypoint_resets_an_inherited_cmd_but_not_one_set_in_the_stage(tmp_path: Path) -> None:
    inherited = dockerfile_stage(tmp_path, 'FROM x AS base\nCMD ["--help"]\nFROM base\nENTRYPOINT ["canvas-train"]\n')
    assert inherited.cmd is None and inherited.base == "base" and inherited.inherited_from == "x"
    kept = dockerfile_stage(tmp_path, 'FROM x\nCMD ["--help"]\nENTRYPOINT ["canvas-train"]\n')
    assert kept.cmd is not None and kept.cmd.argv == ("--help",)


def test_compose_entrypoint_override_drops_the_image_cmd_and_strings_are_split(tmp_path: Path) -> None:
    stage = dockerfile_stage(tmp_path, 'FROM x\nENTRYPOINT ["canvas-train"]\nCMD ["--help"]\n')
    override = compose_argv("t", stage.entrypoint, stage.cmd, entrypoint_override=["canvas-train", "--version"])
    assert override.argv == ("canvas-train", "--version") and not override.problems
    split = compose_argv("t", stage.entrypoint, stage.cmd, entrypoint_override="canvas-train --version")
    assert split.argv == ("canvas-train", "--version")
    string_cmd = compose_argv("t", stage.entrypoint, stage.cmd, command_override="check --data-dir 'my out'")
    assert string_cmd.argv == ("canvas-train", "check", "--data-dir", "my out")
    assert any("string command:" in p for p in string_cmd.problems)


def test_compose_service_using_an_image_built_by_another_service(tmp_path: Path) -> None:
    compose = GOOD_COMPOSE + '  again:\n    image: canvas-train:local\n    command: ["check", "--data-dir", "out"]\n'
    root = project(tmp_path, compose=compose)
    argv = {c.where: c.argv for c in compose_services(root, root / "docker" / "compose.yaml")}
    assert argv["docker/compose.yaml service again"] == ("canvas-train", "check", "--data-dir", "out")


def test_compose_scalars_become_strings_and_a_broken_string_is_a_problem(tmp_path: Path) -> None:
    compose = GOOD_COMPOSE.replace('["pipeline"]', '["data", "--out", "out", "--seed", 3]')
    root = project(tmp_path, compose=compose)
    (train,) = compose_services(root, root / "docker" / "compose.yaml")
    assert train.argv == ("canvas-train", "data", "--out", "out", "--seed", "3") and not train.problems
    broken = GOOD_COMPOSE.replace('command: ["pipeline"]', "command: 'sh -c \"canvas-train'")
    (root / "docker" / "compose.yaml").write_text(broken)
    (train,) = compose_services(root, root / "docker" / "compose.yaml")
    assert train.problems and "cannot be split into arguments" in train.problems[0]
    (root / "docker" / "compose.yaml").write_text(GOOD_COMPOSE.replace('["pipeline"]', "{a: 1}"))
    result = g10_containers(root, OFF, build_parser)
    assert result.passed is False
    assert any("service train: command must be a list of strings or a string" in d for d in result.details)


# ----------------------------------------------------------------------------- Docker's own parser
# Dockerfiles are read by BuildKit's parser (the `dockerfile` package). Each file below is read
# the way `docker build` reads it; the hand-written reader G10 had before misread every one.

TRICKY_DOCKERFILE = (
    "# syntax=docker/dockerfile:1\n"
    "# escape=`\n"
    "FROM python:3.12-slim AS base\n"
    # a heredoc body holding instruction-like lines, then a tab-stripped one and two on one line
    "RUN <<EOF\n"
    'ENTRYPOINT ["not", "this"]\n'
    "EOF\n"
    "RUN <<-EOF\n"
    "\tCMD not this either\n"
    "\tEOF\n"
    "COPY <<A /a <<B /b\n"
    "CMD a\n"
    "A\n"
    "CMD b\n"
    "B\n"
    # `<<` that is no heredoc: quoted, a here-string, in a LABEL
    'RUN echo "x <<EOF y" && cat <<<word\n'
    'LABEL note="a<<EOF"\n'
    # a Windows path whose trailing backslash is no continuation under `# escape=`
    "RUN dir c:\\\n"
    "FROM base AS train\n"
    # a continuation (with the escape directive's backtick) across a comment and a blank line
    'ENTRYPOINT ["canvas-train", `\n'
    "# the comment inside the continuation\n"
    "\n"
    '            "--help"]\n'
)


def test_dockerfile_constructs_only_dockers_parser_reads_right(tmp_path: Path) -> None:
    stage = dockerfile_stage(tmp_path, TRICKY_DOCKERFILE)
    assert stage.name == "train" and stage.base == "base" and stage.inherited_from == "python:3.12-slim"
    assert stage.entrypoint is not None and stage.entrypoint.form == "exec"
    assert stage.entrypoint.argv == ("canvas-train", "--help") and stage.entrypoint.line == 19
    assert stage.cmd is None  # nothing in the heredoc bodies is an instruction
    # the same file through G10: layer (a) passes (the old reader lost the ENTRYPOINT in a heredoc)
    result = g10_containers(project(tmp_path, TRICKY_DOCKERFILE, compose=None), OFF, build_parser)
    assert result.extra["layer_a"]["passed"] is True, result.details
    assert result.value["argv"] == ["canvas-train", "--help"] and result.value["exit_code"] == 0


def test_json_form_as_docker_reads_it(tmp_path: Path) -> None:
    # escaped quotes, backslashes and \u escapes are JSON's
    stage = dockerfile_stage(
        tmp_path, 'FROM x\nENTRYPOINT ["canvas-train"]\nCMD ["--out", "a \\"b\\" c\\\\d", "\\u0041"]\n'
    )
    assert stage.cmd.form == "exec" and stage.cmd.argv == ("--out", 'a "b" c\\d', "A")
    # a blank line inside a continuation is skipped, not the end of the instruction
    stage = dockerfile_stage(tmp_path, 'FROM x\nENTRYPOINT ["canvas-train", \\\n\n   "data"]\n')
    assert stage.entrypoint.form == "exec" and stage.entrypoint.argv == ("canvas-train", "data")
    # Docker reads the array and ignores what follows it
    stage = dockerfile_stage(tmp_path, 'FROM x\nENTRYPOINT ["canvas-train"] # no comment here\n')
    assert stage.entrypoint.form == "exec" and stage.entrypoint.argv == ("canvas-train",)
    # a shell-form continuation keeps its whitespace, as the image config will (layer (b) compares)
    stage = dockerfile_stage(tmp_path, "FROM x\nCMD canvas-train \\\n    --help\n")
    assert stage.cmd.argv == ("/bin/sh", "-c", "canvas-train     --help")


def test_a_dockerfile_docker_refuses_fails_g10_naming_the_file(tmp_path: Path) -> None:
    # an array with a non-string is no shell form for Docker: the build fails, so does G10
    result = g10_containers(
        project(tmp_path, 'FROM x\nENTRYPOINT ["canvas-train", 1]\n', compose=None), OFF, build_parser
    )
    assert result.passed is False
    assert any("docker/Dockerfile: " in d and "arrays must be comprised of strings only" in d for d in result.details)
    with pytest.raises(DockerfileError, match="before the first FROM"):
        dockerfile_stage(tmp_path, "RUN true\nFROM x\n")
    with pytest.raises(DockerfileError, match="SHELL must be a JSON array"):
        dockerfile_stage(tmp_path, "FROM x\nSHELL /bin/bash -c\n")


def test_the_real_dockerfile_stages_and_default_target() -> None:
    parsed = parse_dockerfile(REPO_ROOT / "docker" / "Dockerfile")
    names = [s.name for s in parsed.stages]
    assert "dagster-pod" in names and names[-1] == "train" and parsed.stage() is parsed.stages[-1]
    assert parsed.stage("dagster-pod").entrypoint.argv == ()  # `ENTRYPOINT []`
    assert parsed.args["BASE_IMAGE"] == "python:3.12-slim"  # the ARG before the first FROM


# ----------------------------------------------------------------------------- engine modes


def test_engine_unreachable_auto_is_not_run_after_layer_a_and_says_so(tmp_path: Path) -> None:
    """Layer (a) passed, but nothing was built: NOT RUN with the reason, never PASS."""
    settings = EngineSettings(mode="auto", docker="canvas-no-such-docker")
    result = g10_containers(project(tmp_path), settings, build_parser)
    assert result.passed is None and result.status == "NOT RUN"
    assert result.extra["layer_a"]["passed"] is True
    assert result.value["engine"] == "not run"
    assert "engine layer (b) not run: no container engine reachable: no `canvas-no-such-docker`" in result.reason


def test_engine_required_but_unreachable_fails(tmp_path: Path) -> None:
    settings = EngineSettings(mode="on", docker="canvas-no-such-docker", mode_source="test")
    result = g10_containers(project(tmp_path), settings, build_parser)
    assert result.passed is False
    assert any("engine layer required (test: on)" in d for d in result.details)


def test_engine_mode_from_the_environment() -> None:
    assert EngineSettings.from_env(env={}).mode == "auto"
    settings = EngineSettings.from_env(env={"CANVAS_G10_ENGINE": "OFF", "PIP_FIND_LINKS": "/w https://x/simple"})
    assert settings.mode == "off" and settings.mode_source == "CANVAS_G10_ENGINE"
    assert settings.wheel_dirs == ("/w",)
    assert EngineSettings.from_env("on", env={"CANVAS_G10_ENGINE": "off"}).mode == "on"
    with pytest.raises(ValueError, match="CANVAS_G10_ENGINE must be one of"):
        EngineSettings.from_env(env={"CANVAS_G10_ENGINE": "sometimes"})


# ----------------------------------------------------------------------------- layer (b)


def _engine_or_skip() -> EngineSettings:
    """Runs whenever an engine answers (even with CANVAS_G10_ENGINE=off, which only keeps the
    other guardrail runs fast); the base image and wheels come from CANVAS_G10_* as in G10."""
    settings = EngineSettings.from_env("on")
    reachable, answer = engine_reachable(settings)
    if not reachable:
        pytest.skip(f"layer (b) needs a container engine: {answer} (docker/podman_setup.sh sets one up)")
    return settings


@pytest.mark.slow
def test_layer_b_builds_and_runs_the_training_image() -> None:
    settings = _engine_or_skip()
    result = g10_containers(REPO_ROOT, settings, build_parser)
    b = result.extra["layer_b"]
    assert result.passed is True, result.details
    assert b["ran"] is True and b["build"]["exit_code"] == 0 and b["run"]["exit_code"] == 0
    assert b["image_argv"] == ["canvas-train", "--help"]
    assert result.value["engine"]["run_exit_code"] == 0
