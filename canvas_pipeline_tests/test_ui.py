"""The Dagster UI, for real: `dagster dev` (webserver + daemon) on the repository's workspace,
queried and driven through its GraphQL API, the global asset lineage page rendered by
headless Chromium, and the server stopped through its process group.

One `dagster dev` is shared by the module (temporary DAGSTER_HOME with the repository's
dagster.yaml, CANVAS_OUT_DIR in a temporary folder). Every failure carries the tail of the
server's log. The Chromium test skips, saying why, when no Chromium binary is installed
(`apt-get install -y chromium`). With CANVAS_UPDATE_SCREENSHOT=1 the screenshot is also
copied to docs/asset_graph.png (the README's picture).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from canvas_pipeline.defs.assets_data import RAW_KEY, SCRUBBED_KEY
from canvas_pipeline.defs.automation import DATA_SCHEDULE_NAME, RAW_DIR_SENSOR_NAME
from canvas_pipeline_tests.test_dagster_runs import BIN, REPO_ROOT, _default_signals

EXPLICIT_JOBS = {"data_job", "base_model_job", "sft_job", "training_job", "report_job"}
IMPLICIT_ASSET_JOB = "__ASSET_JOB"

SERVER_START_TIMEOUT_S = 240  # webserver answering and the code location loaded
RUN_TIMEOUT_S = 600  # data_job: ~30-60 s on a free 2-core machine
STOP_GRACE_S = 45  # SIGTERM -> SIGKILL
RESIGNAL_S = 5  # SIGTERM again when the group has members started since the last one
PAGE_RENDER_TIMEOUT_S = 120
TERMINAL_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}
WINDOW = (1600, 1000)
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# --------------------------------------------------------------------------- GraphQL
# Names checked against the installed dagster_graphql (schema/roots/query.py, mutation.py).

WORKSPACE_QUERY = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename
          ... on RepositoryLocation { name repositories { name
              jobs { name isAssetJob } sensors { name } schedules { name } } }
          ... on PythonError { message stack } } } }
    ... on PythonError { message stack } } }
"""

ASSETS_QUERY = """
{ assetNodes { assetKey { path } groupName
    assetChecksOrError { __typename
      ... on AssetChecks { checks { name blocking } }
      ... on AssetCheckNeedsMigrationError { message }
      ... on AssetCheckNeedsUserCodeUpgrade { message }
      ... on AssetCheckNeedsAgentUpgradeError { message } } } }
"""

UI_RUN_ASSETS = (RAW_KEY, SCRUBBED_KEY)

LAUNCH_RUN_MUTATION = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) { __typename
    ... on LaunchRunSuccess { run { runId status jobName } }
    ... on RunConfigValidationInvalid { errors { message path reason } }
    ... on PythonError { message stack }
    ... on Error { message } } }
"""

RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) { __typename
    ... on Run { runId jobName status assetMaterializations { assetKey { path } } }
    ... on Error { message } } }
"""

RUN_ERRORS_QUERY = """
query RunErrors($runId: ID!) {
  logsForRun(runId: $runId, limit: 1000) { __typename
    ... on EventConnection { events { __typename
        ... on MessageEvent { level stepKey message }
        ... on ErrorEvent { error { message } } } }
    ... on Error { message } } }
"""

# The "Join the Dagster community" dialog the UI opens for 127.0.0.1 until it was skipped
# once per DAGSTER_HOME ($DAGSTER_HOME/.nux/nux.yaml); its Skip button sends this.
SET_NUX_SEEN_MUTATION = "mutation { setNuxSeen }"


# ------------------------------------------------------------------------ the server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of process group `pgid`, as 'pid cmdline'."""
    if not Path("/proc").is_dir():  # not Linux: ask the kernel whether anything is left
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [f"process group {pgid}"]
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(f"{entry.name} {cmdline[:160]}")
    return members


class DagsterDev:
    """`dagster dev -w workspace.yaml` in its own session/process group, logging to a file."""

    def __init__(self, root: Path) -> None:
        self.home, self.out, self.log_path = root / "dagster_home", root / "out", root / "dagster_dev.log"
        self.home.mkdir(parents=True)
        shutil.copy(REPO_ROOT / "dagster.yaml", self.home / "dagster.yaml")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("CANVAS_RAW_DIR", "CANVAS_OUT_DIR")}
        env.update(DAGSTER_HOME=str(self.home), CANVAS_OUT_DIR=str(self.out), PYTHONUNBUFFERED="1")
        args = [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(self.port)]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_signals,
        )
        self.pgid = self.proc.pid  # a new session: its leader's pid is the group id
        self.location = self.repository = ""

    def log_tail(self, chars: int = 12000) -> str:
        if not self._log.closed:
            self._log.flush()
        text = ANSI.sub("", self.log_path.read_text(errors="replace"))
        return text[-chars:]

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n----- dagster dev log ({self.log_path}), tail -----\n{self.log_tail()}")

    @contextmanager
    def log_on_failure(self) -> Iterator[None]:
        """Plain assertion failures inside get the server's log attached too."""
        try:
            yield
        except AssertionError as exc:
            self.fail(f"{type(exc).__name__}: {exc}")

    def graphql(self, query: str, variables: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        try:
            response = requests.post(
                f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout
            )
        except requests.RequestException as exc:
            self.fail(f"GraphQL request failed: {exc!r}")
        if response.status_code != 200:
            self.fail(f"GraphQL answered HTTP {response.status_code}: {response.text[:2000]}")
        body = response.json()
        if body.get("errors"):
            self.fail(f"GraphQL errors: {json.dumps(body['errors'], indent=1)[:4000]}\nquery: {query}")
        return body["data"]

    def run_errors(self, run_id: str) -> str:
        """The run's failure events with their Python errors, then its other ERROR/CRITICAL
        messages (at most 20)."""
        logs = self.graphql(RUN_ERRORS_QUERY, {"runId": run_id})["logsForRun"]
        events = logs.get("events", [])
        failures = [
            f"[{e.get('stepKey')}] {e['__typename']}: {e.get('message', '')}\n{(e.get('error') or {}).get('message', '')}"
            for e in events
            if e.get("error")
        ]
        others = [
            f"[{e.get('stepKey')}] {e['__typename']}: {e.get('message', '')[:600]}"
            for e in events
            if not e.get("error") and e.get("level") in ("ERROR", "CRITICAL")
        ]
        return "\n".join([*failures, *others][:20]) or json.dumps(logs)[:2000]

    def wait_until_ready(self) -> None:
        """/server_info answers and the workspace's one code location is LOADED; fails at once
        when dagster dev exits or the location fails to load (with the Python error)."""
        deadline, last = time.monotonic() + SERVER_START_TIMEOUT_S, "nothing yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"dagster dev exited with code {self.proc.returncode} before it was ready")
            try:
                info = requests.get(f"{self.url}/server_info", timeout=10)
                if info.status_code == 200:
                    body = requests.post(f"{self.url}/graphql", json={"query": WORKSPACE_QUERY}, timeout=30).json()
                    entries = body["data"]["workspaceOrError"]["locationEntries"]
                    last = json.dumps(entries)[:2000]
                    if entries and entries[0]["loadStatus"] == "LOADED":
                        location = entries[0]["locationOrLoadError"]
                        if location["__typename"] != "RepositoryLocation":
                            self.fail(f"the code location did not load: {json.dumps(location, indent=1)}")
                        self.location = location["name"]
                        self.repository = location["repositories"][0]["name"]
                        return
                else:
                    last = f"/server_info: HTTP {info.status_code}"
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                last = repr(exc)
            time.sleep(2)
        self.fail(f"dagster dev was not ready within {SERVER_START_TIMEOUT_S} s (last answer: {last})")

    def stop(self) -> tuple[bool, list[str]]:
        """SIGTERM to the whole process group, SIGKILL to what is left after STOP_GRACE_S.
        Returns (stopped by SIGTERM alone, processes still alive after SIGKILL)."""

        def wait_empty(seconds: float) -> bool:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                self.proc.poll()  # reap the leader
                if self.proc.returncode is not None and not _group_members(self.pgid):
                    return True
                time.sleep(0.5)
            return False

        def term() -> None:
            try:
                os.killpg(self.pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass

        graceful = True
        if self.proc.returncode is None or _group_members(self.pgid):
            signalled = {m.split()[0] for m in _group_members(self.pgid)}
            term()
            # dagster dev's webserver restarts a code server that exits while the webserver is
            # itself shutting down (seen on a loaded CI machine); the new one was started after
            # the signal and never got it. As a supervisor would, signal what is new in the group.
            for _ in range(STOP_GRACE_S // RESIGNAL_S):
                graceful = wait_empty(RESIGNAL_S)
                if graceful:
                    break
                members = {m.split()[0] for m in _group_members(self.pgid)}
                if members - signalled:
                    signalled |= members
                    term()
        if not graceful:
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_empty(15)
        self._log.close()
        return graceful, _group_members(self.pgid)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    dev = DagsterDev(tmp_path_factory.mktemp("ui"))
    try:
        dev.wait_until_ready()
        yield dev
    finally:
        if dev.proc.returncode is None or _group_members(dev.pgid):
            dev.stop()


# ----------------------------------------------------------------------------- tests


def test_dagster_dev_serves_the_definitions_and_runs_data_job(server: DagsterDev) -> None:
    """Every asset, asset check (with its blocking flag), job, sensor and schedule of the
    Definitions is served over GraphQL; data_job launched through `launchRun` succeeds."""
    with server.log_on_failure():
        _serves_the_definitions_and_runs_data_job(server)


def _serves_the_definitions_and_runs_data_job(server: DagsterDev) -> None:
    from canvas_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()

    # jobs, sensors, schedules of the one repository
    entries = server.graphql(WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]
    assert [e["name"] for e in entries] == [server.location]
    (repository,) = entries[0]["locationOrLoadError"]["repositories"]
    jobs = {j["name"] for j in repository["jobs"]}
    assert jobs == {j.name for j in defs.resolve_all_job_defs()}
    assert jobs == EXPLICIT_JOBS | {IMPLICIT_ASSET_JOB}
    assert {s["name"] for s in repository["sensors"]} == {s.name for s in defs.sensors} == {RAW_DIR_SENSOR_NAME}
    assert {s["name"] for s in repository["schedules"]} == {s.name for s in defs.schedules} == {DATA_SCHEDULE_NAME}

    # every asset and every asset check, with its blocking flag
    nodes = server.graphql(ASSETS_QUERY)["assetNodes"]
    served_assets = {"/".join(n["assetKey"]["path"]) for n in nodes}
    assert served_assets == {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert len(served_assets) == len(nodes)
    served_checks: dict[str, bool] = {}
    for node in nodes:
        checks = node["assetChecksOrError"]
        assert checks["__typename"] == "AssetChecks", checks
        for check in checks["checks"]:
            served_checks[f"{'/'.join(node['assetKey']['path'])}:{check['name']}"] = check["blocking"]
    expected_checks = {k.to_user_string(): graph.get_check_spec(k).blocking for k in graph.asset_check_keys}
    assert served_checks == expected_checks
    assert {n["groupName"] for n in nodes} == {graph.get(k).group_name for k in graph.get_all_asset_keys()}

    # launch data_job through the API; the queued run coordinator hands it to the daemon
    launched = server.graphql(
        LAUNCH_RUN_MUTATION,
        {
            "executionParams": {
                "selector": {
                    "repositoryLocationName": server.location,
                    "repositoryName": server.repository,
                    "jobName": "data_job",
                    # the job's first two assets: launching through the daemon is what is
                    # tested here (the whole data_job runs in test_dagster_runs.py)
                    "assetSelection": [{"path": list(key.path)} for key in UI_RUN_ASSETS],
                },
                "runConfigData": {},
            }
        },
    )["launchRun"]
    if launched["__typename"] != "LaunchRunSuccess":
        server.fail(f"launchRun did not launch data_job: {json.dumps(launched, indent=1)}")
    run_id = launched["run"]["runId"]
    assert launched["run"]["jobName"] == "data_job"

    deadline, run, seen = time.monotonic() + RUN_TIMEOUT_S, None, []
    while time.monotonic() < deadline:
        run = server.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]
        if run["__typename"] != "Run":
            server.fail(f"runOrError({run_id}) answered {json.dumps(run)}")
        if not seen or seen[-1] != run["status"]:
            seen.append(run["status"])
        if run["status"] in TERMINAL_RUN_STATUSES:
            break
        time.sleep(3)
    assert run is not None
    if run["status"] != "SUCCESS":
        server.fail(
            f"data_job run {run_id} ended {run['status']} (statuses seen: {' -> '.join(seen)}; limit {RUN_TIMEOUT_S} s)"
            f"\n----- the run's errors -----\n{server.run_errors(run_id)}"
        )
    materialized = {"/".join(m["assetKey"]["path"]) for m in run["assetMaterializations"]}
    assert materialized == {k.to_user_string() for k in UI_RUN_ASSETS}
    assert set(UI_RUN_ASSETS) < defs.resolve_job_def("data_job").asset_layer.selected_asset_keys
    # the run worker got the server's environment: it wrote under CANVAS_OUT_DIR
    assert (server.out / "raw" / "canvas_items.parquet").stat().st_size > 0
    assert (server.out / "curated" / "scrubbed_items.parquet").stat().st_size > 0
    assert not (server.out / "phase1").exists()


# -------------------------------------------------------- headless Chromium over CDP


class Chromium:
    """Headless Chromium driven through the DevTools protocol over `--remote-debugging-pipe`
    (fd 3: commands in, fd 4: replies out, NUL-separated JSON): standard library only, and
    the test can wait for the page's JavaScript to render before it takes the screenshot."""

    def __init__(self, binary: str, profile: Path, log_path: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # numbers >= 10, so the dup2 onto 3 and 4 in the child cannot overwrite each other
        child_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)

        def in_child() -> None:
            os.dup2(child_r, 3)  # dup2 clears close-on-exec on the copies
            os.dup2(child_w, 4)

        self.log_path = log_path
        self._log = log_path.open("wb")
        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-background-networking",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={profile}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=in_child,
            close_fds=False,  # keep 3 and 4; every other descriptor of ours is close-on-exec
            start_new_session=True,
        )
        os.close(child_r)
        os.close(child_w)
        self._buffer, self._next_id = b"", 0

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"Chromium did not answer {method} within 60 s")
            if select.select([self._from_browser], [], [], left)[0]:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise EOFError(f"Chromium closed the DevTools pipe during {method} (exit {self.proc.poll()})")
                self._buffer += chunk

    def log_tail(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (OSError, RuntimeError, TimeoutError, EOFError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # renderers and zygotes of this browser only
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=20)
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        self._log.close()


def _png_colour_stats(path: Path) -> tuple[tuple[int, int], int, float]:
    """(size, distinct RGB colours, share of the most common colour)."""
    from PIL import Image  # pillow comes with matplotlib, a dependency of the project

    with Image.open(path) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=rgb.width * rgb.height) or []
        top = max(count for count, _ in colours) if colours else 0
        return rgb.size, len(colours), top / (rgb.width * rgb.height)


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary, or a skip saying why (before the server fixture starts anything)."""
    explicit = os.environ.get("CANVAS_CHROMIUM")
    if explicit:
        found = explicit if Path(explicit).is_file() else shutil.which(explicit)
        assert found, f"CANVAS_CHROMIUM={explicit!r} is neither a file nor on PATH"
        return found
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "no Chromium binary found (chromium, chromium-browser, google-chrome; or set CANVAS_CHROMIUM): "
        "install it with `apt-get install -y chromium`"
    )


def test_asset_graph_page_renders_in_headless_chromium(chromium: str, server: DagsterDev, tmp_path: Path) -> None:
    """The global asset lineage page renders every asset's node; its screenshot is not blank."""
    with server.log_on_failure():
        _asset_graph_page_renders(chromium, server, tmp_path)


def _asset_graph_page_renders(chromium: str, server: DagsterDev, tmp_path: Path) -> None:
    nodes = server.graphql(ASSETS_QUERY)["assetNodes"]
    names = sorted({n["assetKey"]["path"][-1] for n in nodes})
    groups = sorted({n["groupName"] for n in nodes})
    assert server.graphql(SET_NUX_SEEN_MUTATION)["setNuxSeen"] is True

    # /asset-groups is the global asset lineage page ("Lineage" in the navigation). Groups
    # start collapsed there; `expanded` holds the group ids to open, `global@global:<group>`
    # (groupIdForNode in the UI's source).
    expanded = ",".join(f"global@global:{g}" for g in groups)
    url = f"{server.url}/asset-groups?{urllib.parse.urlencode({'expanded': expanded})}"
    shot = tmp_path / "asset_graph.png"

    browser = Chromium(chromium, tmp_path / "chromium_profile", tmp_path / "chromium.log")
    text, missing = "", names
    try:
        targets = browser.call("Target.getTargets")["targetInfos"]
        page = next((t["targetId"] for t in targets if t["type"] == "page"), None)
        if page is None:
            page = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": page, "flatten": True})["sessionId"]
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        browser.call("Page.navigate", {"url": url}, session)
        deadline = time.monotonic() + PAGE_RENDER_TIMEOUT_S
        while time.monotonic() < deadline:
            result = browser.call(
                "Runtime.evaluate",
                {"expression": "document.body ? document.body.innerText : ''", "returnByValue": True},
                session,
            )
            text = result["result"].get("value") or ""
            missing = [n for n in names if n not in text]
            if "Global asset lineage" in text and not missing:
                break
            time.sleep(1)
        time.sleep(3)  # the graph's zoom-to-fit settles; the community dialog would open after 1 s
        text = browser.call(
            "Runtime.evaluate", {"expression": "document.body.innerText", "returnByValue": True}, session
        )["result"].get("value", "")
        png = browser.call("Page.captureScreenshot", {"format": "png"}, session)["data"]
        shot.write_bytes(base64.b64decode(png))
    except (OSError, RuntimeError, TimeoutError, EOFError) as exc:
        server.fail(f"driving Chromium failed: {exc!r}\n----- chromium log -----\n{browser.log_tail()}")
    finally:
        browser.close()

    if "Global asset lineage" not in text or missing:
        server.fail(
            f"{url} did not render the asset graph within {PAGE_RENDER_TIMEOUT_S} s "
            f"(missing asset names: {missing}; screenshot: {shot})\n----- page text -----\n{text[:3000]}"
        )
    assert "Join the Dagster community" not in text, "the community dialog covers the graph"
    size, colours, top_share = _png_colour_stats(shot)
    assert size == WINDOW
    assert colours >= 300 and top_share < 0.97, f"{shot} looks blank: {colours} colours, top colour {top_share:.0%}"
    print(f"asset graph screenshot: {shot} ({url})")
    if os.environ.get("CANVAS_UPDATE_SCREENSHOT") == "1":
        target = REPO_ROOT / "docs" / "asset_graph.png"
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, target)
        print(f"copied to {target}")


def test_dagster_dev_stops_when_its_process_group_is_terminated(server: DagsterDev) -> None:
    """Last in the module: SIGTERM to the group ends webserver, daemon and code servers."""
    graceful, left = server.stop()
    with server.log_on_failure():
        assert not left, f"still running after SIGKILL: {left}"
        assert graceful, f"dagster dev needed SIGKILL: not gone {STOP_GRACE_S} s after SIGTERM"
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{server.url}/server_info", timeout=5)
