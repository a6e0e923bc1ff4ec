"""The CLI as a user runs it (README): a subprocess with embedded defaults in a fresh MODELGATE_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

CLI = [str(Path(sys.executable).parent / "modelgate")]


def run(args: list[str], home: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_", "MODELGATE_"))}
    env["MODELGATE_HOME"] = str(home)
    return subprocess.run(CLI + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def failed_gates(line: str) -> list[str]:
    """The gates a demo table row shows as failed."""
    return sorted(g.split("=")[0] for g in line.replace(",", " ").split() if g.endswith("=failed"))


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    result = run(["demo"], home, timeout=1500)  # about 6 minutes alone on 2 cores; more beside other test files
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [ln for ln in result.stdout.splitlines() if ln[:2] in ("v1", "v2", "v3", "v4", "v5", "v6", "v7")]
    assert [ln.split()[:4] for ln in lines] == [
        ["v1", "promote", "promoted", "v1"],  # baseline: first champion
        ["v2", "reject", "rejected", "v1"],  # biased: the bias gate rejects it
        ["v3", "reject", "rejected", "v1"],  # brittle: the robustness gate rejects it
        ["v4", "reject", "rejected", "v1"],  # slow: the latency gate rejects it
        ["v5", "reject", "rejected", "v1"],  # batch-dependent: the integration gate rejects it
        ["v6", "reject", "rejected", "v1"],  # full, on a broken eval file: data validation rejects it
        ["v6", "promote", "promoted", "v6"],  # full, on the good eval file
        ["v7", "reject", "rejected", "v6"],  # worse
        ["v1", "promote", "promoted", "v1"],  # wine-cultivar: scaled logistic regression, first champion
        ["v2", "reject", "rejected", "v1"],  # wine-cultivar: k-NN on unscaled measurements, much less accurate
        ["v1", "promote", "promoted", "v1"],  # diabetes-progression: linear regression, first champion
        ["v2", "reject", "rejected", "v1"],  # diabetes-progression: miscoded labels shift one sex's predictions
        ["v1", "promote", "promoted", "v1"],  # digits-cnn: CNN trained with pixel noise, first champion
        ["v2", "reject", "rejected", "v1"],  # digits-cnn: the same CNN without noise, far less robust to attacks
    ]
    assert "integration=failed" in lines[4] and "evaluation=passed" in lines[4]
    assert "latency=failed" in lines[3] and "evaluation=passed" in lines[3] and "robustness=passed" in lines[3]
    assert "bias=failed" in lines[1] and "evaluation=passed" in lines[1]
    assert "robustness=failed" in lines[2] and "evaluation=passed" in lines[2]
    assert "data_validation=failed" in lines[5] and "evaluation=skipped" in lines[5]
    wine_v1, wine_v2, diabetes_v1, diabetes_v2, digits_v1, digits_v2 = lines[8:]
    assert failed_gates(wine_v1) == [] and "bias=skipped" in wine_v1  # no sensitive feature in wine
    assert failed_gates(wine_v2) == ["evaluation"]
    assert failed_gates(diabetes_v1) == [] and "bias=passed" in diabetes_v1
    assert failed_gates(diabetes_v2) == ["bias"] and "evaluation=passed" in diabetes_v2
    assert failed_gates(digits_v1) == [] and "integration=passed" in digits_v1 and "bias=skipped" in digits_v1
    assert failed_gates(digits_v2) == ["robustness"] and "evaluation=passed" in digits_v2
    return home


@pytest.mark.slow
def test_demo_leaves_state_inside_its_home(demo_home):
    assert (demo_home / "mlflow.db").is_file()
    assert (demo_home / "prefect" / "prefect.db").is_file()
    assert any((demo_home / "artifacts" / "model-promotions").rglob("summary.md"))
    assert any((demo_home / "artifacts" / "modelgate-evidence-cache").rglob("gates.json"))
    assert any((demo_home / "evidence" / "cache" / "drift").rglob("drift.html"))
    for model in ("adult-income", "wine-cultivar", "diabetes-progression", "digits-cnn"):
        assert any((demo_home / "evidence" / "reports" / model).rglob("*.html")), model


@pytest.mark.slow
def test_history_lists_the_demo_attempts(demo_home):
    result = run(["history", "--model", "adult-income"], demo_home)
    assert result.returncode == 0, result.stderr
    rows = [ln.split() for ln in result.stdout.splitlines()[2:]]
    assert [(r[2], r[4]) for r in rows] == [
        ("v1", "promoted"),
        ("v2", "rejected"),
        ("v3", "rejected"),
        ("v4", "rejected"),
        ("v5", "rejected"),
        ("v6", "rejected"),
        ("v6", "promoted"),
        ("v7", "rejected"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["wine-cultivar", "diabetes-progression", "digits-cnn"])
def test_history_lists_the_task_sections(demo_home, model):
    result = run(["history", "--model", model], demo_home)
    assert result.returncode == 0, result.stderr
    rows = [ln.split() for ln in result.stdout.splitlines()[2:]]
    assert [(r[2], r[4]) for r in rows] == [("v1", "promoted"), ("v2", "rejected")]


@pytest.mark.slow
def test_promote_exit_codes(demo_home):
    # v7 was rejected against v6: a dry run says so again with exit code 1 and writes nothing.
    result = run(["promote", "--model", "adult-income", "--version", "7", "--dry-run"], demo_home)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "dry_run" in result.stdout

    result = run(["promote", "--model", "adult-income", "--version", "9"], demo_home)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "error: model 'adult-income' has no version 9"

    result = run(["promote", "--model", "adult-income", "--version", "7", "--eval-data", "nope.csv"], demo_home)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: eval data not found: ")

    history = run(["history", "--model", "adult-income", "--json"], demo_home)
    assert history.stdout.count('"run_id"') == 8  # none of these calls added a ledger entry


@pytest.mark.slow
@pytest.mark.parametrize(
    ("policy_text", "message"),
    [
        (None, "error: policy file not found: "),
        ("model_name: adult-income\neval_data: {path: e.csv, target: y}\nextra: 1\n", "extra: Extra inputs"),
        ("model_name: [unclosed\n", "invalid YAML at line"),
    ],
)
def test_bad_policy_exits_2_before_any_work(tmp_path, policy_text, message):
    policy = tmp_path / "policy.yaml"
    if policy_text is not None:
        policy.write_text(policy_text)
    result = run(["promote", "--model", "adult-income", "--version", "1", "--policy", str(policy)], tmp_path, 120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_day_to_day_commands_on_the_demo_ledger(demo_home):
    """champion-at and rollback on the demo's registry, and trigger without a server, as a user runs them."""
    now = run(["champion-at", "--model", "adult-income", "--time", "now"], demo_home, 120)
    assert now.returncode == 0 and "v6 was champion" in now.stdout
    bad = run(["rollback", "--model", "adult-income", "--to", "2"], demo_home, 120)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "error: version 2 was never champion according to the ledger; cannot roll back to it"
    )
    no_server = run(["trigger", "--model", "adult-income", "--version", "7"], demo_home, 120)
    assert no_server.returncode == 2 and "trigger needs PREFECT_API_URL" in no_server.stderr


@pytest.mark.slow
def test_manifest_prints_what_the_champion_was_promoted_with(demo_home):
    """`modelgate manifest` prints the InferenceService logged at the champion's promotion (kubectl apply -f -)."""
    import yaml

    from tests.kserve_schema import problems

    champion = run(["manifest", "--model", "adult-income"], demo_home, 120)
    assert champion.returncode == 0, champion.stderr
    manifest = yaml.safe_load(champion.stdout)
    assert problems(manifest) == []
    notes = manifest["metadata"]["annotations"]
    assert manifest["metadata"]["name"] == "adult-income"
    assert notes["serving.modelgate.io/model-uri"] == "models:/adult-income/6"
    assert manifest["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert run(["manifest", "--model", "adult-income", "--version", "6"], demo_home, 120).stdout == champion.stdout
    first = yaml.safe_load(run(["manifest", "--model", "adult-income", "--version", "1"], demo_home, 120).stdout)
    assert first["metadata"]["annotations"]["serving.modelgate.io/model-uri"] == "models:/adult-income/1"
    for args, error in [
        (["--model", "adult-income", "--version", "2"], "error: adult-income v2 was never promoted"),
        (["--model", "nope"], "error: no champion of 'nope' recorded in experiment 'model-promotions'"),
    ]:
        bad = run(["manifest", *args], demo_home, 120)
        assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.startswith(error), bad.stderr
