"""Names shared across the project: one constant each."""

from __future__ import annotations

TAG_PREFIX = "modelgate."
GATE_TAG_PREFIX = TAG_PREFIX + "gate."
POLICY_DIR = "configs/policies"
PROMOTE_FLOW = "promote-model-version"
PROMOTE_DEPLOYMENT = f"{PROMOTE_FLOW}/promote-version"
RECONCILE_FLOW = "reconcile-model"
LOCK_PREFIX = "modelgate-promote-"
EVENT_PREFIX = "modelgate."
DEFAULT_LEDGER_EXPERIMENT = "model-promotions"
EVIDENCE_CACHE_EXPERIMENT = "modelgate-evidence-cache"
JUDGE_PLACED_FLOW = "judge-placed-gates"
