"""Screenshots of the evidence a reviewer reads: the Prefect runs list, the one-page report of a rejection, and
the MLflow model version page, taken with headless Chromium against real servers.

Starts `mlflow server` and `prefect server start` on 127.0.0.1 (state in a temp folder), trains and registers
three demo models (baseline, full, relationship-only), promotes them in that order with `modelgate promote`
under the demo policy with the slow gates off (robustness, latency, integration): two promotions, then a
rejection. Then it saves docs/runs-list.png, docs/report.png and docs/model-version.png, and stops both
servers. Playwright drives the system Chromium (Debian's `chromium` package; `make browser` installs it).

Run: `.venv/bin/python scripts/screenshot_evidence.py [--output-dir docs]` (about five minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import yaml
from browser import chromium_path, open_browser  # scripts/browser.py: the system Chromium under Playwright
from playwright.sync_api import Page
from screenshot_approval_form import BIN, ROOT, free_port, wait_for

MODEL = "adult-income"
CANDIDATES = ("baseline", "full", "relationship-only")  # registered as v1, v2, v3 (labels from flows.demo)
SLOW_GATES = ("robustness", "latency", "integration")
# MLflow's UI opens its assistant panel on a first visit; the screenshot shows the page without it.
CLOSED_ASSISTANT = (
    "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');"
    "localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');"
)


@contextmanager
def server(args: list[str], health: str, env: dict[str, str], log: Path) -> Iterator[None]:
    """A server in its own process group, healthy before use and stopped (with its children) after."""
    proc = subprocess.Popen(
        args, env=env, cwd=log.parent, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for(lambda: proc.poll() is None and httpx.get(health, timeout=2).status_code == 200, health)
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=10)


def register(labels: tuple[str, ...], env: dict[str, str]) -> None:
    """Train and register the demo's models with these labels, in order (v1, v2, ...)."""
    code = (
        "import sys; from modelgate.environment import configure; configure(); "
        "from demo.adult_data import load_train; from flows.demo import DEMO_CANDIDATES; "
        "from tasks.demo_models import log_adult_model; train = load_train(); "
        "by_label = {label: (config, text) for label, config, text in DEMO_CANDIDATES}; "
        "[log_adult_model('adult-income', label, by_label[label][0], train, by_label[label][1]) "
        "for label in sys.argv[1:]]"
    )
    subprocess.run([str(BIN / "python"), "-c", code, *labels], env=env, cwd=ROOT, check=True, capture_output=True)


def quick_policy(path: Path) -> str:
    """The demo policy with absolute paths and the slow gates off."""
    data = yaml.safe_load((ROOT / "configs/policies/adult-income.yaml").read_text())
    data["eval_data"]["path"] = str(ROOT / "data/uci-adult/adult_eval.csv.gz")
    data["reference_data"]["path"] = str(ROOT / "data/uci-adult/adult_train.csv.gz")
    data["gates"]["data_validation"]["suite_files"] = [str(ROOT / "configs/expectations/adult-income.json")]
    for gate in SLOW_GATES:
        data["gates"][gate]["enabled"] = False
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def promote(version: str, policy: str, env: dict[str, str], work: Path) -> dict:
    """`modelgate promote --json`; returns the outcome."""
    args = [str(BIN / "modelgate"), "promote", "--model", MODEL, "--version", version, "--policy", policy, "--json"]
    done = subprocess.run(args, env=env, cwd=work, capture_output=True, text=True, timeout=900)
    (work / f"promote-v{version}.log").write_text(done.stderr)
    if not done.stdout.strip():
        raise SystemExit(f"error: promote v{version} exited {done.returncode}: {done.stderr[-3000:]}")
    outcome = json.loads(done.stdout)
    print(f"v{version}: {outcome['outcome']} (exit {done.returncode})")
    return outcome


# MLflow shows a version's tags in a box of about four rows: scroll it to the last one (the report link).
SCROLL_TAGS_TO_REPORT = """() => {
  let box = [...document.querySelectorAll('*')].find(e => !e.childElementCount && e.textContent === 'modelgate.report');
  while (box && !(box.scrollHeight > box.clientHeight + 2 && getComputedStyle(box).overflowY !== 'visible'))
    box = box.parentElement;
  if (box) box.scrollTop = box.scrollHeight;
}"""


def settle(page: Page, text: str) -> None:
    """Wait for `text` on the page, then for the UI to finish drawing."""
    page.get_by_text(text).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)


def shoot_runs_list(page: Page, ui: str, rejected_name: str, output: Path) -> None:
    """The runs list: the duration chart (a red dot for the rejection) and every run's name, tags and state."""
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{ui}/runs")
    settle(page, rejected_name)
    page.screenshot(path=str(output))


def shoot_report(page: Page, report_html: Path, output: Path) -> None:
    """The report's top: the decision, why, the gate table, the links, and the first gate's evidence chart."""
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(report_html.resolve().as_uri(), wait_until="load")
    first_chart = page.locator("section.gate").first.locator("svg, img").first
    bottom = first_chart.bounding_box() or page.locator("#gates").bounding_box()
    height = min(bottom["y"] + bottom["height"] + 24, 1800) if bottom else 1200
    page.screenshot(path=str(output), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": height})


def shoot_model_version(page: Page, mlflow_url: str, version: str, output: Path) -> None:
    """The MLflow model version: the decision line with the report link as its description, and its tags."""
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{mlflow_url}/#/models/{MODEL}/versions/{version}")
    settle(page, "modelgate.decision")
    page.evaluate(SCROLL_TAGS_TO_REPORT)
    page.wait_for_timeout(500)
    page.screenshot(path=str(output), clip={"x": 0, "y": 0, "width": 1400, "height": 820})


def download_report(mlflow_url: str, run_id: str, work: Path) -> Path:
    """The ledger run's evidence/report.html, fetched from the MLflow server as a reviewer's browser would."""
    url = f"{mlflow_url}/get-artifact?path=evidence/report.html&run_uuid={run_id}"
    response = httpx.get(url, timeout=30)
    response.raise_for_status()
    path = work / "report.html"
    path.write_bytes(response.content)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=str(ROOT / "docs"))
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (servers' state and logs)")
    args = parser.parse_args()
    if chromium_path() is None:
        print("error: no Chromium at /usr/bin/chromium or on PATH (install it with `make browser`)", file=sys.stderr)
        return 2
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="modelgate-evidence-"))
    prefect_port, mlflow_port = free_port(), free_port()
    ui, mlflow_url = f"http://127.0.0.1:{prefect_port}", f"http://127.0.0.1:{mlflow_port}"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MODELGATE_HOME": str(work / "home"),
        "MPLCONFIGDIR": str(work / "mpl"),
        "MLFLOW_TRACKING_URI": mlflow_url,
    }
    for key in ("PREFECT_API_URL", "MODELGATE_ARTIFACT_ROOT"):
        env.pop(key, None)
    prefect_env = {**env, "PREFECT_HOME": str(work / "prefect-server"), "PREFECT_UI_API_URL": f"{ui}/api"}
    client_env = {**env, "PREFECT_API_URL": f"{ui}/api", "PREFECT_HOME": str(work / "prefect-client")}
    mlflow_args = [
        str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
        "--artifacts-destination", str(work / "mlflow-artifacts"), "--host", "127.0.0.1",
        "--port", str(mlflow_port), "--workers", "1",
    ]  # fmt: skip
    prefect_args = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)]
    try:
        with ExitStack() as servers:
            servers.enter_context(server(mlflow_args, f"{mlflow_url}/health", env, work / "mlflow.log"))
            servers.enter_context(server(prefect_args, f"{ui}/api/health", prefect_env, work / "prefect.log"))
            register(CANDIDATES, env)
            policy = quick_policy(work / "policy.yaml")
            outcomes = [promote(str(v), policy, client_env, work) for v in range(1, len(CANDIDATES) + 1)]
            rejected = outcomes[-1]
            if rejected["outcome"] != "rejected":
                raise SystemExit(f"error: v{rejected['version']} was {rejected['outcome']}, not rejected")
            report = download_report(mlflow_url, rejected["ledger_run_id"], work)
            with open_browser() as browser:
                context = browser.new_context()
                context.add_init_script(CLOSED_ASSISTANT)
                page = context.new_page()
                shoot_runs_list(page, ui, f"{MODEL} v{rejected['version']}: rejected", out / "runs-list.png")
                shoot_report(page, report, out / "report.png")
                shoot_model_version(page, mlflow_url, rejected["version"], out / "model-version.png")
        print(f"wrote {out / 'runs-list.png'}, {out / 'report.png'} and {out / 'model-version.png'}")
        return 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
