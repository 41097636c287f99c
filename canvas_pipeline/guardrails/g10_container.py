"""G10: the containers run what they are meant to run.

v7-broken shipped `ENTRYPOINT ["canvas-train"]` with a compose `command: sh -c "..."`: the
container ran `canvas-train sh -c ...` and argparse rejected it at run time. Two layers:

(a) always, no engine needed: read every `docker/Dockerfile*` with Docker's own parser (the
    `dockerfile` package wraps BuildKit's) and the compose file (PyYAML; `entrypoint` and
    `command` as a list or a string), compose the argv each container would run, refuse `sh -c`
    behind an ENTRYPOINT, a string `command:` behind an exec ENTRYPOINT and a CMD that a
    shell-form ENTRYPOINT drops, check every `canvas-train` argv against the CLI's own parser,
    and execute the training image's argv (`canvas-train --help`) here, with the console script
    of the running environment: it must exit 0.
(b) when a container engine answers (`docker info`, honouring DOCKER_HOST): `docker build` the
    training image from a clean copy of the project and `docker run --rm IMAGE --help`, exit 0,
    and the engine's image config must hold the ENTRYPOINT/CMD that (a) parsed.

Docker semantics used here (Dockerfile reference, "Understand how CMD and ENTRYPOINT interact"):
exec form is what Docker's parser reads as a JSON array of strings; anything else (including an
invalid JSON array such as `['canvas-train']`) is shell form, run as SHELL + [text] (default
["/bin/sh", "-c"]); an exec ENTRYPOINT gets CMD appended (a shell-form CMD appended as /bin/sh -c
TEXT); a shell-form ENTRYPOINT ignores CMD and `docker run` arguments; ENTRYPOINT resets a CMD
inherited from the base image; an entrypoint override (`docker run --entrypoint`, compose
`entrypoint:`) drops the image's CMD. Compose splits a string `entrypoint:`/`command:` into
arguments shell-style (it never runs a shell), so a string behind an exec ENTRYPOINT becomes
arguments of that entrypoint.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dockerfile as dockerfile_parser

from canvas_pipeline.guardrails.result import GuardrailResult, not_run

# Builds canvas-train's argument parser (`canvas_pipeline.cli_args.build_parser`): the caller
# passes it, so this guardrail imports nothing above it.
ParserFactory = Callable[[], argparse.ArgumentParser]
GID = "G10"
NAME = "docker build and run --help"
THRESHOLD = "exit 0"

TRAIN_DOCKERFILE = "docker/Dockerfile"
COMPOSE_NAMES = ("docker/compose.yaml", "docker/compose.yml", "docker/docker-compose.yml", "docker/docker-compose.yaml")
CLI_NAME = "canvas-train"
DEFAULT_SHELL = ("/bin/sh", "-c")
SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"})

ENGINE_ENV = "CANVAS_G10_ENGINE"  # auto (default) | on | off
ENGINE_MODES = ("auto", "on", "off")


class DockerfileError(ValueError):
    """A Dockerfile or compose file that cannot be read as one."""


# ----------------------------------------------------------------------------- Dockerfile


@dataclass(frozen=True)
class Instruction:
    """One ENTRYPOINT or CMD as Docker stores it: exec form keeps the JSON list, shell form
    becomes SHELL + [text]."""

    keyword: str
    form: str  # "exec" | "shell"
    argv: tuple[str, ...]
    text: str  # exec form: the list as JSON; shell form: the command line Docker's parser kept
    line: int

    def describe(self) -> str:
        return f"{self.keyword} {self.text} ({self.form} form, line {self.line})"


@dataclass(frozen=True)
class Stage:
    name: str | None
    base: str
    line: int
    entrypoint: Instruction | None = None
    cmd: Instruction | None = None
    shell: tuple[str, ...] = DEFAULT_SHELL
    inherited_from: str | None = None  # an external base image whose ENTRYPOINT/CMD are unknown here


@dataclass(frozen=True)
class Dockerfile:
    path: Path
    stages: tuple[Stage, ...]
    args: Mapping[str, str]  # ARG defaults before the first FROM

    def stage(self, target: str | None = None) -> Stage:
        if target is None:
            return self.stages[-1]
        for stage in self.stages:
            if stage.name is not None and stage.name.lower() == target.lower():
                return stage
        raise DockerfileError(f"{self.path}: no build stage named {target!r}")


def _instruction(command: dockerfile_parser.Command, shell: tuple[str, ...]) -> Instruction:
    keyword = command.cmd.upper()
    if command.json:
        return Instruction(keyword, "exec", tuple(command.value), json.dumps(list(command.value)), command.start_line)
    text = " ".join(command.value)  # one string, continuations joined as Docker joins them
    return Instruction(keyword, "shell", (*shell, text), text, command.start_line)


def _unquote(value: str) -> str:
    with contextlib.suppress(ValueError):
        return "".join(shlex.split(value))
    return value


def parse_dockerfile(path: Path) -> Dockerfile:
    """The build stages of a Dockerfile with the ENTRYPOINT, CMD and SHELL each leaves. Docker's
    own parser (BuildKit's, through the `dockerfile` package) reads the file: parser directives,
    escapes, continuations, comments, heredocs and exec-vs-shell form are its word."""
    try:
        commands = dockerfile_parser.parse_string(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise DockerfileError(f"{path}: cannot read: {exc}") from exc
    except dockerfile_parser.GoParseError as exc:
        raise DockerfileError(f"{path}: {exc}") from exc
    stages: list[Stage] = []
    args: dict[str, str] = {}
    current: dict[str, Any] | None = None

    def close() -> None:
        if current is not None:
            stages.append(Stage(**{k: v for k, v in current.items() if k != "cmd_set"}))

    for command in commands:
        keyword, line, value = command.cmd.upper(), command.start_line, command.value
        if keyword == "FROM":
            close()
            if not value:
                raise DockerfileError(f"{path}:{line}: FROM without an image")
            base = value[0]  # --platform and other flags are in command.flags
            name = value[2] if len(value) >= 3 and value[1].upper() == "AS" else None
            parent = next((s for s in reversed(stages) if s.name and s.name.lower() == base.lower()), None)
            current = {"name": name, "base": base, "line": line, "inherited_from": base, "cmd_set": False}
            if parent is not None:
                current.update(entrypoint=parent.entrypoint, cmd=parent.cmd, shell=parent.shell)
                current["inherited_from"] = parent.inherited_from
            continue
        if current is None:
            if keyword == "ARG":
                for word in value:
                    key, sep, default = word.partition("=")
                    args[key] = _unquote(default) if sep else ""
                continue
            raise DockerfileError(f"{path}:{line}: {keyword} before the first FROM")
        if keyword == "SHELL":
            if not command.json or not value:
                raise DockerfileError(f"{path}:{line}: SHELL must be a JSON array of strings, got {command.original!r}")
            current["shell"] = tuple(value)
        elif keyword == "ENTRYPOINT":
            current["entrypoint"] = _instruction(command, current.get("shell", DEFAULT_SHELL))
            if not current["cmd_set"]:
                current["cmd"] = None  # ENTRYPOINT resets a CMD inherited from the base image
        elif keyword == "CMD":
            current["cmd"] = _instruction(command, current.get("shell", DEFAULT_SHELL))
            current["cmd_set"] = True
    close()
    if not stages:
        raise DockerfileError(f"{path}: no FROM instruction")
    return Dockerfile(Path(path), tuple(stages), args)


# ----------------------------------------------------------------------------- composing argv


@dataclass(frozen=True)
class Container:
    """The argv one container runs, where it comes from, and what is wrong with it."""

    where: str  # "docker/Dockerfile (image default)" or "docker/compose.yaml service train"
    argv: tuple[str, ...]
    image: str = ""  # the Dockerfile it runs, relative to the project root
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "image": self.image,
            "argv": list(self.argv),
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def is_shell_c(argv: Sequence[str]) -> bool:
    """`sh -c ...`, `/bin/bash -lc ...` and the like."""
    if len(argv) < 2 or Path(argv[0]).name not in SHELLS:
        return False
    flag = argv[1]
    return flag == "-c" or (flag.startswith("-") and not flag.startswith("--") and "c" in flag[1:])


def _show(argv: Sequence[str]) -> str:
    return shlex.join(argv)


def compose_argv(
    where: str,
    entrypoint: Instruction | None,
    cmd: Instruction | None,
    *,
    entrypoint_override: list[str] | str | None = None,
    command_override: list[str] | str | None = None,
    image: str = "",
) -> Container:
    """The argv a container runs from its image's ENTRYPOINT/CMD and the overrides a compose
    service (or `docker run`) gives, with the problems G10 refuses."""
    problems: list[str] = []
    notes: list[str] = []
    ep_argv: tuple[str, ...] | None = None
    ep_shell = False
    ep_label = ""
    if entrypoint_override is not None:
        ep_argv, error = _argv_of(entrypoint_override)
        if error:
            return Container(where, (), image, (f"{where}: entrypoint: {entrypoint_override!r}: {error}",))
        ep_label = f"entrypoint: {json.dumps(list(ep_argv))}"
        cmd = None  # an entrypoint override drops the image's CMD
    elif entrypoint is not None:
        ep_argv, ep_shell = entrypoint.argv, entrypoint.form == "shell"
        ep_label = entrypoint.describe()
    if ep_argv is not None and not ep_argv:
        ep_argv = None  # `entrypoint: []` clears it

    if command_override is not None:
        string_command = isinstance(command_override, str)
        args, error = _argv_of(command_override)
        if error:
            return Container(where, (), image, (f"{where}: command: {command_override!r}: {error}",))
        arg_label = f"command: {command_override!r}" if string_command else f"command: {json.dumps(list(args))}"
    elif cmd is not None:
        string_command = False
        args = cmd.argv
        arg_label = cmd.describe()
    else:
        string_command, args, arg_label = False, (), ""

    if ep_argv is None:
        argv = args
    elif ep_shell:
        argv = ep_argv
        if args:
            problems.append(
                f"{where}: shell-form {ep_label} ignores CMD and run arguments: {arg_label} never reaches it "
                f"(it runs {_show(argv)}); write ENTRYPOINT as a JSON list"
            )
    else:
        argv = ep_argv + args
        if args and is_shell_c(args) and not is_shell_c(ep_argv):
            unwrapped = _unwrap_shell_c(args, ep_argv)
            problems.append(
                f"{where}: `{_show(args[:2])} ...` behind {ep_label}: the container runs {_show(argv)}, "
                f"so {Path(ep_argv[0]).name} receives '{args[0]}' as its first argument; give the entrypoint's "
                "arguments as a list instead" + (f", here {json.dumps(unwrapped)}" if unwrapped is not None else "")
            )
        if string_command:
            problems.append(
                f"{where}: string {arg_label} behind exec {ep_label}: compose splits it into arguments of the "
                f"entrypoint ({_show(argv)}); write command: as a YAML list of arguments"
            )
    if not argv:
        problems.append(f"{where}: runs nothing (no ENTRYPOINT, no CMD, no command)")
    elif is_shell_c(argv) and (ep_argv is None or ep_shell):
        notes.append(f"{where}: runs through a shell ({_show(argv[:2])} ...): its script is not checked")
    return Container(where, tuple(argv), image, tuple(problems), tuple(notes))


def _unwrap_shell_c(args: Sequence[str], ep_argv: Sequence[str]) -> list[str] | None:
    """For a hint: `sh -c "canvas-train pipeline"` behind ["canvas-train"] -> ["pipeline"]."""
    if len(args) < 3:
        return None
    try:
        words = shlex.split(args[2])
    except ValueError:
        return None
    if words[: len(ep_argv)] == list(ep_argv):
        return words[len(ep_argv) :]
    if words and Path(words[0]).name == Path(ep_argv[0]).name:
        return words[1:]
    return None


def _argv_of(value: list[Any] | str) -> tuple[tuple[str, ...], str]:
    """A compose entrypoint/command as the argv compose makes of it: a list as it is (scalars
    as strings), a string split shell-style (compose never runs a shell for it)."""
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value)), ""
        except ValueError as exc:
            return (), f"cannot be split into arguments ({exc})"
    return tuple(str(v) for v in value), ""


def image_default(root: Path, dockerfile: Path, target: str | None = None) -> Container:
    """What `docker run IMAGE` runs for the image a Dockerfile builds."""
    rel = _rel(root, dockerfile)
    parsed = parse_dockerfile(dockerfile)
    stage = parsed.stage(target)
    where = f"{rel} (image default" + (f", target {target})" if target else ")")
    container = compose_argv(where, stage.entrypoint, stage.cmd, image=rel)
    if stage.inherited_from and stage.entrypoint is None:
        note = f"{where}: no ENTRYPOINT here; one from the base image {stage.inherited_from} is not seen"
        container = Container(container.where, container.argv, rel, container.problems, (*container.notes, note))
    return container


# ----------------------------------------------------------------------------- compose


def load_compose(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DockerfileError(f"{path}: cannot read as YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise DockerfileError(f"{path}: no `services:` mapping")
    return data


def _build_dockerfile(compose_dir: Path, build: Any) -> tuple[Path, str | None]:
    if isinstance(build, str):
        return compose_dir / build / "Dockerfile", None
    if isinstance(build, dict):
        context = compose_dir / str(build.get("context", "."))
        dockerfile = Path(str(build.get("dockerfile", "Dockerfile")))
        target = build.get("target")
        return (dockerfile if dockerfile.is_absolute() else context / dockerfile), (str(target) if target else None)
    raise DockerfileError(f"`build:` must be a path or a mapping, got {build!r}")


def compose_services(root: Path, compose_path: Path) -> list[Container]:
    """The argv each compose service runs: its image's ENTRYPOINT/CMD (from the Dockerfile it
    builds, or that another service builds under the same image name) with its overrides."""
    data = load_compose(compose_path)
    rel_compose = _rel(root, compose_path)
    compose_dir = compose_path.parent
    services: dict[str, Any] = data["services"]
    built: dict[str, tuple[Path, str | None]] = {}
    for spec in services.values():
        if isinstance(spec, dict) and spec.get("build") is not None and spec.get("image"):
            with contextlib.suppress(DockerfileError):
                built[str(spec["image"])] = _build_dockerfile(compose_dir, spec["build"])
    out: list[Container] = []
    for name, spec in services.items():
        where = f"{rel_compose} service {name}"
        if not isinstance(spec, dict):
            out.append(Container(where, (), problems=(f"{where}: not a mapping",)))
            continue
        entrypoint, command = spec.get("entrypoint"), spec.get("command")
        bad = [k for k, v in (("entrypoint", entrypoint), ("command", command)) if not _is_argv(v)]
        if bad:
            problem = f"{where}: {' and '.join(bad)} must be a list of strings or a string"
            out.append(Container(where, (), problems=(problem,)))
            continue
        source: tuple[Path, str | None] | None = None
        try:
            if spec.get("build") is not None:
                source = _build_dockerfile(compose_dir, spec["build"])
            elif spec.get("image") and str(spec["image"]) in built:
                source = built[str(spec["image"])]
        except DockerfileError as exc:
            out.append(Container(where, (), problems=(f"{where}: {exc}",)))
            continue
        ep_inst: Instruction | None = None
        cmd_inst: Instruction | None = None
        notes: list[str] = []
        image = ""
        if source is not None:
            dockerfile, target = source
            image = _rel(root, dockerfile)
            if not dockerfile.is_file():
                out.append(Container(where, (), image, problems=(f"{where}: builds {image}, which does not exist",)))
                continue
            try:
                stage = parse_dockerfile(dockerfile).stage(target)
            except DockerfileError as exc:
                out.append(Container(where, (), image, problems=(f"{where}: {exc}",)))
                continue
            ep_inst, cmd_inst = stage.entrypoint, stage.cmd
        else:
            notes.append(f"{where}: image {spec.get('image')!r} is not built here: its ENTRYPOINT/CMD are unknown")
        container = compose_argv(
            where, ep_inst, cmd_inst, entrypoint_override=entrypoint, command_override=command, image=image
        )
        if source is None and entrypoint is None:
            # Without the image's ENTRYPOINT only the overrides are known: no argv to judge.
            container = Container(where, (), "", (), ())
        out.append(Container(container.where, container.argv, image, container.problems, (*container.notes, *notes)))
    return out


def _is_argv(value: Any) -> bool:
    return (
        value is None
        or isinstance(value, str)
        or (
            isinstance(value, list) and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)
        )
    )


# ----------------------------------------------------------------------------- checking argv


def cli_rejects(args: Sequence[str], parser: ParserFactory) -> str:
    """Why `canvas-train ARGS` would be refused by its own argument parser ('' if accepted);
    nothing runs: the parser only parses (`--help` counts as accepted)."""
    argv = [str(a) for a in args]
    if argv[:1] == ["--check"]:  # as cli.main does
        argv[0] = "check"
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            lines = [line for line in stderr.getvalue().splitlines() if line.strip()]
            return lines[-1] if lines else f"exit {exc.code}"
    return ""


def check_cli_args(container: Container, parser: ParserFactory) -> Container:
    """A container whose argv starts with canvas-train: its arguments must parse."""
    if not container.argv or Path(container.argv[0]).name != CLI_NAME:
        return container
    reason = cli_rejects(container.argv[1:], parser)
    if not reason:
        return container
    problem = f"{container.where}: {_show(container.argv)} is rejected by canvas-train's parser: {reason}"
    return Container(container.where, container.argv, container.image, (*container.problems, problem), container.notes)


def resolve_executable(name: str) -> str | None:
    """argv[0] as this environment runs it: a path as is, else the console script beside the
    running interpreter (the venv's bin), else PATH."""
    if os.sep in name:
        return name if os.access(name, os.X_OK) else None
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


@dataclass(frozen=True)
class Execution:
    argv: tuple[str, ...]
    resolved: tuple[str, ...]
    exit_code: int | None
    elapsed_s: float
    output_tail: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "argv": list(self.argv),
            "resolved": list(self.resolved),
            "exit_code": self.exit_code,
            "elapsed_s": round(self.elapsed_s, 3),
            "output_tail": self.output_tail,
            "error": self.error,
        }


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def execute_locally(argv: Sequence[str], timeout: float = 120.0) -> Execution:
    """Run argv here (argv[0] resolved to this environment's executable, its bin dir first on
    PATH so a shell-form command finds the console scripts too)."""
    argv = tuple(argv)
    if not argv:
        return Execution(argv, (), None, 0.0, error="empty argv")
    exe = resolve_executable(argv[0])
    if exe is None:
        return Execution(argv, (), None, 0.0, error=f"{argv[0]}: not found beside {sys.executable} nor on PATH")
    resolved = (exe, *argv[1:])
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            resolved, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return Execution(argv, resolved, None, time.perf_counter() - started, error=f"timed out after {timeout:.0f}s")
    except OSError as exc:
        return Execution(argv, resolved, None, time.perf_counter() - started, error=str(exc))
    return Execution(argv, resolved, proc.returncode, time.perf_counter() - started, _tail(proc.stdout + proc.stderr))


# ----------------------------------------------------------------------------- layer (a)


@dataclass(frozen=True)
class LayerA:
    containers: tuple[Container, ...]
    execution: Execution | None
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "containers": [c.to_dict() for c in self.containers],
            "execution": self.execution.to_dict() if self.execution else None,
            "problems": list(self.problems),
        }


def find_compose(root: Path) -> Path | None:
    return next((root / n for n in COMPOSE_NAMES if (root / n).is_file()), None)


def dockerfiles(root: Path) -> list[Path]:
    """docker/Dockerfile first, then every other docker/Dockerfile.* (not .dockerignore files)."""
    folder = root / "docker"
    others = sorted(
        p
        for p in folder.glob("Dockerfile.*")
        if p.is_file() and not p.name.endswith((".dockerignore", ".containerignore"))
    )
    main = root / TRAIN_DOCKERFILE
    return ([main] if main.is_file() else []) + others


def layer_a(root: Path, parser: ParserFactory, timeout: float = 120.0) -> LayerA:
    """Static composition of every container's argv, then the training image's argv executed here."""
    root = Path(root)
    containers: list[Container] = []
    for dockerfile in dockerfiles(root):
        try:
            containers.append(check_cli_args(image_default(root, dockerfile), parser))
        except DockerfileError as exc:
            containers.append(Container(f"{_rel(root, dockerfile)} (image default)", (), problems=(str(exc),)))
    compose = find_compose(root)
    if compose is not None:
        try:
            containers.extend(check_cli_args(c, parser) for c in compose_services(root, compose))
        except DockerfileError as exc:
            containers.append(Container(_rel(root, compose), (), problems=(str(exc),)))
    problems = [p for c in containers for p in c.problems]
    train = next((c for c in containers if c.where.startswith(f"{TRAIN_DOCKERFILE} (image default")), None)
    execution = None
    if train is None:
        problems.append(f"no {TRAIN_DOCKERFILE}: the training image is not defined")
    elif train.argv:
        if Path(train.argv[0]).name != CLI_NAME:
            problems.append(
                f"{TRAIN_DOCKERFILE}: the training image runs {_show(train.argv)}, not {CLI_NAME} "
                f'(ENTRYPOINT ["{CLI_NAME}"] expected)'
            )
        execution = execute_locally(train.argv, timeout)
        if execution.exit_code != 0:
            last = execution.output_tail.splitlines()[-1] if execution.output_tail else ""
            why = execution.error or f"exit {execution.exit_code}" + (f": {last}" if last else "")
            problems.append(f"{TRAIN_DOCKERFILE}: the training image's argv {_show(train.argv)} failed here: {why}")
    return LayerA(tuple(containers), execution, tuple(problems))


# ----------------------------------------------------------------------------- layer (b)


@dataclass(frozen=True)
class EngineSettings:
    """How layer (b) reaches an engine; every field can come from the environment."""

    mode: str = "auto"  # auto: when `docker info` answers; on: required (unreachable fails); off
    docker: str = "docker"  # CANVAS_G10_DOCKER (e.g. podman)
    base_image: str | None = None  # CANVAS_G10_BASE_IMAGE: passed as --build-arg BASE_IMAGE
    wheel_dirs: tuple[str, ...] = ()  # CANVAS_G10_WHEELS (os.pathsep list); default: PIP_FIND_LINKS folders
    image_tag: str = "canvas-train:g10"
    info_timeout_s: float = 10.0
    build_timeout_s: float = 1800.0  # CANVAS_G10_BUILD_TIMEOUT
    run_timeout_s: float = 300.0
    ca_bundle: str | None = None  # podman only: --secret id=ca,src=CA (CANVAS_G10_CA; default SSL_CERT_FILE)
    mode_source: str = "the default"  # where `mode` came from, for the report

    @classmethod
    def from_env(cls, mode: str | None = None, env: Mapping[str, str] | None = None) -> EngineSettings:
        env = os.environ if env is None else env
        chosen = (mode or env.get(ENGINE_ENV) or "auto").strip().lower()
        source = "CheckConfig.g10_engine" if mode else ENGINE_ENV if env.get(ENGINE_ENV) else "the default"
        if chosen not in ENGINE_MODES:
            raise ValueError(f"{ENGINE_ENV} must be one of {', '.join(ENGINE_MODES)}, got {chosen!r}")
        if "CANVAS_G10_WHEELS" in env:
            wheels = tuple(p for p in env["CANVAS_G10_WHEELS"].split(os.pathsep) if p)
        else:
            wheels = tuple(p for p in env.get("PIP_FIND_LINKS", "").split() if "://" not in p)
        return cls(
            mode=chosen,
            docker=env.get("CANVAS_G10_DOCKER", "docker"),
            base_image=env.get("CANVAS_G10_BASE_IMAGE") or None,
            wheel_dirs=wheels,
            build_timeout_s=float(env.get("CANVAS_G10_BUILD_TIMEOUT", 1800)),
            ca_bundle=env.get("CANVAS_G10_CA") or env.get("SSL_CERT_FILE") or None,
            mode_source=source,
        )


def engine_reachable(settings: EngineSettings) -> tuple[bool, str]:
    """(reachable, what answered or why not): `docker info` within a short timeout."""
    exe = shutil.which(settings.docker)
    host = os.environ.get("DOCKER_HOST") or "the default socket"
    if exe is None:
        return False, f"no `{settings.docker}` command on PATH"
    try:
        proc = subprocess.run(
            [exe, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=settings.info_timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return False, f"`{settings.docker} info` did not answer within {settings.info_timeout_s:.0f}s ({host})"
    if proc.returncode != 0:
        last = _tail(proc.stderr or proc.stdout, 1) or f"exit {proc.returncode}"
        return False, f"`{settings.docker} info` failed ({host}): {last}"
    return True, f"{settings.docker} -> engine {proc.stdout.strip() or '?'} ({host})"


def project_files(root: Path) -> list[str]:
    """The files a fresh clone holds: git's tracked and untracked-not-ignored files (so never
    .venv or out/); without git, the inputs the Dockerfiles use."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            timeout=60,
            check=True,
        )
        files = [f for f in proc.stdout.decode().split("\0") if f]
    except (OSError, subprocess.SubprocessError):
        files = []
    if not files:
        files = [
            str(p.relative_to(root))
            for name in ("pyproject.toml", "README.md", "dagster.yaml", "canvas_pipeline", "docker")
            for p in ([root / name] if (root / name).is_file() else sorted((root / name).rglob("*")))
            if p.is_file() and "__pycache__" not in p.parts
        ]
    return sorted(f for f in files if (root / f).is_file())  # a file deleted but still in the index is gone


def _wheels(wheel_dirs: Sequence[str]) -> list[Path]:
    return [wheel for folder in wheel_dirs for wheel in sorted(Path(folder).glob("*.whl"))]


def inputs_digest(root: Path, settings: EngineSettings) -> str:
    """What layer (b) builds from: the project files' bytes, the wheels offered, the settings."""
    digest = hashlib.sha256(repr(settings).encode())
    for rel in project_files(root):
        digest.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    for wheel in _wheels(settings.wheel_dirs):
        digest.update(f"{wheel.name}:{wheel.stat().st_size}".encode())
    return digest.hexdigest()


def stage_context(root: Path, target: Path, wheel_dirs: Sequence[str] = ()) -> dict[str, Any]:
    """A clean build context: `project_files` copied, plus local wheels under
    docker/build/wheels (the Dockerfile's WHEELS_DIR), hard-linked when possible."""
    files = project_files(root)
    for rel in files:
        dst = target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dst)
    wheels: list[str] = []
    wheel_target = target / "docker" / "build" / "wheels"
    wheel_target.mkdir(parents=True, exist_ok=True)
    for wheel in _wheels(wheel_dirs):
        dst = wheel_target / wheel.name
        try:
            os.link(wheel, dst)
        except OSError:
            shutil.copy2(wheel, dst)
        wheels.append(wheel.name)
    return {"files": len(files), "wheels": wheels}


@dataclass(frozen=True)
class LayerB:
    run: bool
    passed: bool | None
    reason: str = ""
    record: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "ran": self.run,
            "passed": self.passed,
            "reason": self.reason,
            "problems": list(self.problems),
            **self.record,
        }


def _timed(cmd: Sequence[str], timeout: float) -> tuple[int | None, float, str]:
    started = time.perf_counter()
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return None, time.perf_counter() - started, out + f"\n(timed out after {timeout:.0f}s)"
    return proc.returncode, time.perf_counter() - started, proc.stdout + proc.stderr


def layer_b(root: Path, settings: EngineSettings, expected: Container | None = None) -> LayerB:
    """docker build of docker/Dockerfile from a clean copy of the project, then
    docker run --rm IMAGE --help; the image's ENTRYPOINT+CMD must be what layer (a) parsed."""
    if settings.mode == "off":
        return LayerB(False, None, f"engine layer off ({settings.mode_source}: off)")
    reachable, answer = engine_reachable(settings)
    if not reachable:
        if settings.mode == "on":
            return LayerB(
                False, False, answer, problems=(f"engine layer required ({settings.mode_source}: on): {answer}",)
            )
        return LayerB(False, None, f"no container engine reachable: {answer}")
    key = (str(Path(root).resolve()), inputs_digest(Path(root), settings), expected)
    if key in _LAYER_B_DONE:  # the same inputs were built and run in this process already
        done = _LAYER_B_DONE[key]
        return LayerB(done.run, done.passed, done.reason, {**done.record, "reused": True}, done.problems)
    result = _build_and_run(root, settings, answer, expected)
    _LAYER_B_DONE[key] = result
    return result


_LAYER_B_DONE: dict[tuple[str, str, Container | None], LayerB] = {}


def _build_and_run(root: Path, settings: EngineSettings, answer: str, expected: Container | None) -> LayerB:
    docker = shutil.which(settings.docker) or settings.docker
    record: dict[str, Any] = {"engine": answer, "image": settings.image_tag}
    code, _, output = _timed([docker, "image", "inspect", "--format", "{{.Id}}", settings.image_tag], 60)
    previous = output.strip() if code == 0 else ""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="g10-context-") as tmp:
        context = Path(tmp)
        record["context"] = stage_context(root, context, settings.wheel_dirs)
        build = [docker, "build", "--force-rm", "-f", str(context / TRAIN_DOCKERFILE), "-t", settings.image_tag]
        if settings.base_image:
            build += ["--build-arg", f"BASE_IMAGE={settings.base_image}"]
        if Path(docker).name == "podman" and settings.ca_bundle and Path(settings.ca_bundle).is_file():
            build += ["--secret", f"id=ca,src={settings.ca_bundle}"]
        build.append(str(context))
        code, seconds, output = _timed(build, settings.build_timeout_s)
    record["build"] = {
        "argv": [Path(docker).name, *(arg.replace(str(context), ".") for arg in build[1:])],
        "exit_code": code,
        "elapsed_s": round(seconds, 1),
        "output_tail": _tail(output, 15),
    }
    if code != 0:
        problems.append(f"docker build -f {TRAIN_DOCKERFILE} exited {code}: {_tail(output, 3)}")
        return LayerB(True, False, answer, record, tuple(problems))
    code, _, output = _timed([docker, "image", "inspect", "--format", "{{.Id}}", settings.image_tag], 60)
    if previous and code == 0 and output.strip() != previous:
        # the tag moved: drop the image G10 built before (only that one; an engine without
        # overlay storage keeps a full copy of the tree per layer)
        _timed([docker, "image", "rm", previous], 120)
    code, seconds, output = _timed([docker, "image", "inspect", "--format", "{{json .Config}}", settings.image_tag], 60)
    if code == 0:
        try:
            config = json.loads(output.strip().splitlines()[0])
            image_argv = list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
        except (json.JSONDecodeError, IndexError, AttributeError):
            image_argv = None
        record["image_argv"] = image_argv
        if expected is not None and image_argv is not None and image_argv != list(expected.argv):
            problems.append(
                f"the engine's image runs {_show(image_argv)} where {TRAIN_DOCKERFILE} was parsed as "
                f"{_show(expected.argv)}"
            )
    run = [docker, "run", "--rm", "--network", "none", settings.image_tag, "--help"]
    code, seconds, output = _timed(run, settings.run_timeout_s)
    record["run"] = {
        "argv": [Path(docker).name, *run[1:]],
        "exit_code": code,
        "elapsed_s": round(seconds, 1),
        "output_tail": _tail(output, 4),
    }
    if code != 0:
        problems.append(f"docker run --rm {settings.image_tag} --help exited {code}: {_tail(output, 3)}")
    elif f"usage: {CLI_NAME}" not in output:
        problems.append(f"docker run --rm {settings.image_tag} --help printed no `usage: {CLI_NAME}`")
    return LayerB(True, not problems, answer, record, tuple(problems))


# ----------------------------------------------------------------------------- G10


def find_project_root(start: Path | None = None) -> Path | None:
    """The folder holding docker/Dockerfile: `start`, else the working directory, else the
    checkout this package was installed from (an editable install)."""
    candidates = [start] if start is not None else [Path.cwd(), Path(__file__).resolve().parents[2]]
    return next((Path(c) for c in candidates if c is not None and (Path(c) / TRAIN_DOCKERFILE).is_file()), None)


def g10_containers(
    root: Path | None, settings: EngineSettings | None, parser: ParserFactory, exec_timeout: float = 120.0
) -> GuardrailResult:
    """G10 as a GuardrailResult: value = the training image's argv, its exit code and elapsed
    time here, and the engine layer's outcome (or why it did not run). `parser` builds
    canvas-train's argument parser (`cli_args.build_parser`): every container argv that
    runs canvas-train must parse."""
    settings = settings or EngineSettings.from_env()
    found = find_project_root(root)
    if found is None:
        where = root if root is not None else f"{Path.cwd()} or {Path(__file__).resolve().parents[2]}"
        return not_run(GID, NAME, THRESHOLD, f"no {TRAIN_DOCKERFILE} under {where}")
    a = layer_a(found, parser, exec_timeout)
    train = next((c for c in a.containers if c.where.startswith(f"{TRAIN_DOCKERFILE} (image default")), None)
    b = layer_b(found, settings, train) if a.passed else LayerB(False, None, "layer (a) failed")
    value: dict[str, Any] = {
        "argv": list(a.execution.argv) if a.execution else [],
        "exit_code": a.execution.exit_code if a.execution else None,
        "elapsed_s": round(a.execution.elapsed_s, 3) if a.execution else None,
        "engine": (
            {
                "build_s": b.record.get("build", {}).get("elapsed_s"),
                "run_exit_code": b.record.get("run", {}).get("exit_code"),
            }
            if b.run
            else "not run"
        ),
    }
    details = list(a.problems) + list(b.problems)
    if not details:
        details = [f"{c.where}: {_show(c.argv)}" for c in a.containers if c.argv]
        details += [n for c in a.containers for n in c.notes]
    reason = ""
    if not b.run and b.passed is None and a.passed:
        # Layer (a) shows the argv works here; only an engine shows the image builds and runs.
        reason = f"engine layer (b) not run: {b.reason}; layer (a) passed, but without a build G10 has no verdict"
        details.append(reason)
    elif b.run and b.passed:
        build, run = b.record["build"], b.record["run"]
        details.append(
            f"engine layer (b): {b.reason}; docker build {build['elapsed_s']}s, docker run --rm "
            f"{settings.image_tag} --help exit {run['exit_code']}"
        )
    passed: bool | None = a.passed and b.passed is not False
    if passed and not b.run:
        passed = None
    extra = {"root": str(found), "layer_a": a.to_dict(), "layer_b": b.to_dict()}
    return GuardrailResult(
        GID, NAME, passed, value, THRESHOLD, tuple(details), len(a.problems) + len(b.problems), reason, extra
    )


def _rel(root: Path, path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)
