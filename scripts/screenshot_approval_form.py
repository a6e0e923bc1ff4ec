"""Screenshot of a paused promotion's approval form in the Prefect UI, taken with headless Chromium.

Starts a `prefect server start` on 127.0.0.1 (own PREFECT_HOME in a temp folder), registers the demo
baseline model in a temp MLflow (SQLite), runs `modelgate promote` under a policy that asks for
approval, opens the paused run in Chromium, clicks Resume, saves the form as PNG, then approves over
the REST API so the promotion finishes, and stops everything. Playwright drives the system Chromium
(Debian's `chromium` package; `make browser` installs it).

Run: `.venv/bin/python scripts/screenshot_approval_form.py [--output docs/approval-form.png]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from browser import chromium_path, open_browser  # scripts/browser.py: the system Chromium under Playwright

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(0.5)
    raise SystemExit(f"error: {what} not ready after {timeout} s")


def register_baseline(env: dict[str, str]) -> None:
    code = (
        "from modelgate.environment import configure; configure(); "
        "from demo.adult_data import load_train; from flows.demo import DEMO_CANDIDATES; "
        "from tasks.demo_models import log_adult_model; label, config, text = DEMO_CANDIDATES[0]; "
        "log_adult_model('adult-income', label, config, load_train(), text)"
    )
    subprocess.run([str(BIN / "python"), "-c", code], env=env, cwd=ROOT, check=True, capture_output=True)


def approval_policy(path: Path) -> str:
    data = yaml.safe_load((ROOT / "configs/policies/adult-income.yaml").read_text())
    data["eval_data"]["path"] = str(ROOT / "data/uci-adult/adult_eval.csv.gz")
    data["reference_data"]["path"] = str(ROOT / "data/uci-adult/adult_train.csv.gz")
    data["gates"]["data_validation"]["suite_files"] = [str(ROOT / "configs/expectations/adult-income.json")]
    for gate in ("robustness", "latency", "integration"):
        data["gates"][gate]["enabled"] = False
    data["approval"] = {"mode": "always", "approvers": ["alice", "bob"], "timeout_s": 900, "poll_interval_s": 1}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def screenshot(url: str, output: Path) -> None:
    """Open the paused run, click Resume, wait for the approval form and save the window as PNG."""
    with open_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url)
        page.get_by_role("button", name="Resume", exact=True).click(timeout=60_000)
        page.get_by_text("approver").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)  # let the form finish drawing
        output.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(output))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "docs" / "approval-form.png"))
    args = parser.parse_args()
    if chromium_path() is None:
        print("error: no Chromium at /usr/bin/chromium or on PATH (install it with `make browser`)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="modelgate-shot-"))
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MODELGATE_HOME": str(work / "home"),
        "MPLCONFIGDIR": str(work / "mpl"),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    server_env = {**env, "PREFECT_HOME": str(work / "prefect-server"), "PREFECT_UI_API_URL": api}
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env, cwd=work, stdout=(work / "server.log").open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    promotion = None
    try:
        register_baseline(env)
        wait_for(lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200, "prefect server")
        client_env = {**env, "PREFECT_API_URL": api, "PREFECT_HOME": str(work / "prefect-client")}
        policy = approval_policy(work / "policy.yaml")
        promotion = subprocess.Popen(
            [str(BIN / "modelgate"), "promote", "--model", "adult-income", "--version", "1", "--policy", policy],
            env=client_env, cwd=work, stdout=(work / "promote.log").open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip

        def paused():
            body = {"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}}
            runs = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=5).json()
            return runs[0]["id"] if runs else None

        run_id = wait_for(paused, "the paused promotion", timeout=300)
        output = Path(args.output)
        screenshot(f"http://127.0.0.1:{port}/runs/flow-run/{run_id}", output)
        answer = {"approver": "alice", "approve": True, "reason": "screenshot taken; gates look fine"}
        httpx.post(f"{api}/flow_runs/{run_id}/resume", json={"run_input": answer}, timeout=10)
        code = promotion.wait(timeout=300)
        print(f"wrote {output}; the promotion then exited {code}")
        return 0
    finally:
        if promotion and promotion.poll() is None:
            promotion.kill()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
