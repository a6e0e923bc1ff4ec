"""Registry scan: which models have policies, and which of their versions have no decision yet."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from gates.errors import BadInputError, PolicyError
from gates.policy import PromotionPolicy
from tasks.ledger import FINAL_OUTCOMES
from tasks.mlflow_store import client
from tasks.policy_files import load_policy
from tasks.registry import TAG_PREFIX, champion

PAGE = 1000


def policies_in(policy_dir: str) -> dict[str, str]:
    """Model name -> policy file, for every policy YAML in the folder (an invalid one is an error)."""
    folder = Path(policy_dir)
    if not folder.is_dir():
        raise BadInputError(f"policy folder not found: {policy_dir}")
    found: dict[str, str] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        policy = load_policy(path)
        if policy.model_name in found:
            raise PolicyError(f"{path}: a second policy for {policy.model_name!r} (first: {found[policy.model_name]})")
        found[policy.model_name] = str(path)
    return found


@task(name="scan-targets", cache_policy=NO_CACHE)
def scan_targets(models: list[str] | None, policy_dir: str) -> dict[str, str]:
    """The models to scan with their policy files; a named model without a policy is an error."""
    available = policies_in(policy_dir)
    if models is None:
        registered = {m.name for m in client().search_registered_models(max_results=PAGE)}
        unmanaged = sorted(registered - set(available))
        if unmanaged:
            get_run_logger().info("registered models without a policy (not scanned): %s", ", ".join(unmanaged))
        return {m: p for m, p in available.items() if m in registered}
    missing = [m for m in models if m not in available]
    if missing:
        raise BadInputError(f"no policy for model {missing[0]!r} in {policy_dir} (policies: {', '.join(available)})")
    return {m: available[m] for m in models}


def undecided_versions(policy: PromotionPolicy) -> list[str]:
    """READY versions that are not champion and have no final decision, by one paged registry search."""
    c = client()
    name = policy.model_name.replace("'", "''")
    versions = []
    token = None
    while True:
        page = c.search_model_versions(f"name='{name}'", max_results=PAGE, page_token=token)
        versions.extend(page)
        token = page.token
        if not token:
            break
    current = champion(c, policy.model_name, policy.champion_alias)
    undecided = [
        str(mv.version)
        for mv in versions
        if str(mv.status) == "READY"
        and (current is None or str(mv.version) != current.version)
        and (mv.tags or {}).get(TAG_PREFIX + "outcome") not in FINAL_OUTCOMES
    ]
    return sorted(undecided, key=int)


@task(name="find-undecided-versions", cache_policy=NO_CACHE)
def find_undecided(policy_path: str) -> tuple[str, list[str]]:
    """(model, versions without a decision) for one policy."""
    policy = load_policy(policy_path)
    return policy.model_name, undecided_versions(policy)
