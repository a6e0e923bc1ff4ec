"""The promotion policy: one YAML per registered model, validated by these pydantic models."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gates.errors import PolicyError
from gates.placement import PlacementPolicy
from gates.serving_policy import ServingPolicy

TaskName = Literal["binary", "multiclass", "regression"]
MetricName = Literal[
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "balanced_accuracy",
    "f1_macro",
    "f1_weighted",
    "precision_macro",
    "recall_macro",
    "top_k_accuracy",
    "rmse",
    "mae",
    "r2",
    "mape",
    "max_error",
]
TASK_METRICS: dict[str, frozenset[str]] = {
    "binary": frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}),
    "multiclass": frozenset(
        {
            "accuracy",
            "balanced_accuracy",
            "f1_macro",
            "f1_weighted",
            "precision_macro",
            "recall_macro",
            "top_k_accuracy",
            "log_loss",
        }
    ),
    "regression": frozenset({"rmse", "mae", "r2", "mape", "max_error"}),
}
LOWER_IS_BETTER: frozenset[str] = frozenset({"log_loss", "rmse", "mae", "mape", "max_error"})
UNBOUNDED_METRICS: frozenset[str] = frozenset({"log_loss", "rmse", "mae", "mape", "max_error", "r2"})
ALIAS_PATTERN = r"^[A-Za-z0-9_-]+$"
RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)


class StrictModel(BaseModel):
    """Base: unknown keys are an error, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricRule(StrictModel):
    """How one metric is judged, with MLflow MetricThreshold semantics plus a bootstrap check."""

    threshold: float | None = Field(
        None, description="Absolute bound: the candidate's value must be at least this (at most, if lower is better)."
    )
    min_absolute_change: float | None = Field(
        None,
        gt=0,
        description="The candidate must beat the champion by at least this much (absolute), "
        "and the bootstrap interval of the difference must exclude zero.",
    )
    min_relative_change: float | None = Field(
        None,
        gt=0,
        le=10,
        description="The candidate must beat the champion by at least this fraction of the champion's value, "
        "and the bootstrap interval of the difference must exclude zero.",
    )
    max_regression: float | None = Field(
        None,
        ge=0,
        description="Non-inferiority margin: the whole bootstrap interval of candidate-minus-champion must lie "
        "above -max_regression (oriented so that positive is better).",
    )
    greater_is_better: bool | None = Field(
        None, description="Direction of the metric; defaults to the metric's own (lower is better only for log_loss)."
    )

    @property
    def compares_with_champion(self) -> bool:
        """True when this rule needs a champion to be judged."""
        return any(v is not None for v in (self.min_absolute_change, self.min_relative_change, self.max_regression))

    @property
    def requires_improvement(self) -> bool:
        """True when the candidate must beat the champion on this metric."""
        return self.min_absolute_change is not None or self.min_relative_change is not None


class BootstrapPolicy(StrictModel):
    """Paired bootstrap of the candidate-minus-champion difference."""

    resamples: int = Field(1000, ge=100, le=20000, description="Number of paired bootstrap resamples.")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Two-sided confidence level of the interval.")
    seed: int = Field(0, ge=0, description="Seed of the resampling, so a decision can be reproduced.")
    max_rows: int = Field(
        200_000,
        ge=1000,
        description="Above this many eval rows the cost of the bootstrap stops growing with the rows: the evaluation "
        "gate draws its intervals from a seeded subsample of this many rows (point estimates use every row; the "
        "interval is moved onto the whole data's estimate); the bias gate collapses equal (group, label, "
        "predictions) rows of a binary task and draws multinomial counts of them (the same bootstrap, at a cost "
        "that grows with the distinct rows, not the rows), and judges multiclass and regression tasks on a seeded "
        "sample of this many rows.",
    )


class EvaluationGatePolicy(StrictModel):
    """The evaluation gate: quality metrics, absolute and against the champion."""

    enabled: bool = Field(True, description="Run this gate.")
    blocking: bool = Field(True, description="A failure blocks promotion (otherwise it is a warning).")
    decision_threshold: float = Field(
        0.5, gt=0, lt=1, description="Score at or above which a row is predicted positive."
    )
    metrics: dict[MetricName, MetricRule] = Field(
        default_factory=lambda: {"roc_auc": MetricRule(min_absolute_change=0.001)},
        min_length=1,
        description="Metric name -> rule. binary: accuracy, precision, recall, f1, roc_auc, log_loss; multiclass: "
        "accuracy, balanced_accuracy, f1_macro, f1_weighted, precision_macro, recall_macro, top_k_accuracy, log_loss; "
        "regression: rmse, mae, r2, mape, max_error. Default: roc_auc (binary), accuracy (multiclass), rmse "
        "(regression), each required to beat the champion.",
    )
    top_k: int = Field(2, ge=1, le=100, description="k of top_k_accuracy (multiclass).")
    mape_floor: float = Field(
        1e-8,
        ge=0,
        description="mape leaves out rows whose target is closer to zero than this (their relative error is "
        "undefined); the report says how many.",
    )
    bootstrap: BootstrapPolicy = Field(default_factory=BootstrapPolicy, description="Paired bootstrap settings.")
    timeout_s: float = Field(
        600, gt=0, le=86400, description="Time limit for loading and scoring each model (a hang fails the gate)."
    )

    @model_validator(mode="after")
    def _directions_and_bounds(self) -> EvaluationGatePolicy:
        for name, rule in self.metrics.items():
            natural = name not in LOWER_IS_BETTER
            if rule.greater_is_better is not None and rule.greater_is_better != natural:
                raise ValueError(f"metrics.{name}.greater_is_better must be {natural} for {name}")
            if rule.threshold is not None and name not in UNBOUNDED_METRICS and not 0 <= rule.threshold <= 1:
                raise ValueError(f"metrics.{name}.threshold must be between 0 and 1, got {rule.threshold}")
            if rule.threshold is not None and name in LOWER_IS_BETTER and rule.threshold <= 0:
                raise ValueError(f"metrics.{name}.threshold must be positive, got {rule.threshold}")
            if rule.threshold is not None and name == "r2" and rule.threshold > 1:
                raise ValueError(f"metrics.r2.threshold must be at most 1, got {rule.threshold}")
        return self

    def rules_for(self, task: str) -> dict[str, MetricRule]:
        """The metric rules judged for a task: the policy's, or the task's default when it names none."""
        if "metrics" in self.model_fields_set:
            return dict(self.metrics)
        default = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}[task]
        if default == "rmse":
            return {default: MetricRule(min_relative_change=0.001)}
        return {default: MetricRule(min_absolute_change=0.001)}


class ExpectationSpec(StrictModel):
    """One extra Great Expectations expectation, by its snake_case type and keyword arguments."""

    type: str = Field(..., pattern=r"^expect_[a-z0-9_]+$", description="e.g. expect_column_values_to_match_regex.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="The expectation's keyword arguments.")


class ValueRange(StrictModel):
    """Allowed range of a numeric column (either bound may be open)."""

    min: float | None = Field(None, description="Smallest allowed value.")
    max: float | None = Field(None, description="Largest allowed value.")


class DataValidationGatePolicy(StrictModel):
    """Great Expectations validation of the eval data, run before any model is scored."""

    enabled: bool = Field(True, description="Run this gate.")
    blocking: bool = Field(True, description="A failure rejects and skips the model gates.")
    min_rows: int = Field(100, ge=1, description="Fewest eval rows accepted.")
    max_rows: int | None = Field(None, ge=1, description="Most eval rows accepted (no limit when unset).")
    learn_from_reference: bool = Field(
        True, description="Learn numeric ranges and category sets from the reference data, when there is one."
    )
    range_margin: float = Field(
        0.1, ge=0, le=10, description="Widen learned numeric ranges by this fraction of their width on each side."
    )
    max_categories: int = Field(
        500, ge=1, description="Columns with more distinct reference values than this get no category-set check."
    )
    mostly: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Share of rows that must satisfy each range and category-set expectation (value_ranges, "
        "value_sets, and the learned ones too when lower than learned_mostly).",
    )
    learned_mostly: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Share of rows that must satisfy a range or category set learned from the reference data. "
        "Default: derived from the sizes of the reference and eval data, so that a sound fresh sample passes every "
        "learned check with 99.9% confidence: each new row falls outside the reference's range with probability "
        "at most 2/(n+1) for n reference values (or in an unseen category with the Good-Turing share of "
        "categories seen once), and the allowance is that binomial's quantile, shared across the learned checks. "
        "A broken column (a sentinel, changed units) is far outside it.",
    )
    allow_nulls: list[str] = Field(
        default_factory=list,
        description="Model input columns allowed to hold nulls. Others must not, except columns that hold nulls in "
        "the reference data: they may have up to twice the reference's share of nulls (plus 1% of rows).",
    )
    value_ranges: dict[str, ValueRange] = Field(
        default_factory=dict, description="Column -> allowed range; overrides a learned range."
    )
    value_sets: dict[str, list[str | int | float | bool]] = Field(
        default_factory=dict, description="Column -> allowed values; overrides a learned category set."
    )
    expectations: list[ExpectationSpec] = Field(default_factory=list, description="Extra expectations.")
    suite_files: list[str] = Field(
        default_factory=list,
        description="Expectation suite JSON files (GX format: {expectations: [{type, kwargs}]}), "
        "relative to the policy file.",
    )


class DriftGatePolicy(StrictModel):
    """Evidently data drift of the eval data against the training reference."""

    enabled: bool = Field(True, description="Run this gate (skipped when the policy names no reference data).")
    blocking: bool = Field(False, description="A failure blocks promotion (otherwise it is a warning).")
    columns: list[str] | None = Field(None, description="Columns to test; default: the model's input columns.")
    max_drift_share: float = Field(0.3, ge=0, le=1, description="Fail when the share of drifted columns is above this.")
    column_threshold: float | None = Field(
        None, gt=0, description="Per-column drift threshold passed to evidently (default: evidently's own)."
    )
    classification_reports: bool = Field(
        True,
        description="Also keep an evidently classification-quality report for candidate and champion (while this "
        "gate is enabled).",
    )


BiasMetricName = Literal[
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "worst_group_accuracy",
    "accuracy_difference",
    "mae_difference",
    "worst_group_mae",
    "mean_prediction_difference",
]
BIAS_HIGHER_IS_BETTER: frozenset[str] = frozenset({"demographic_parity_ratio", "worst_group_accuracy"})
BIAS_TASK_METRICS: dict[str, frozenset[str]] = {
    "binary": frozenset(
        {
            "demographic_parity_difference",
            "demographic_parity_ratio",
            "equalized_odds_difference",
            "worst_group_accuracy",
        }
    ),
    "multiclass": frozenset(
        {"demographic_parity_difference", "equalized_odds_difference", "worst_group_accuracy", "accuracy_difference"}
    ),
    "regression": frozenset({"mae_difference", "worst_group_mae", "mean_prediction_difference"}),
}


class BiasRule(StrictModel):
    """Limits on one fairness metric, judged on its bootstrap interval."""

    limit: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Absolute limit: at most this for differences, at least this for ratio and worst-group accuracy.",
    )
    max_worsening: float | None = Field(
        None, ge=0, le=1, description="The candidate may be worse than the champion by at most this."
    )


def _default_bias_metrics() -> dict[str, BiasRule]:
    return {
        "demographic_parity_difference": BiasRule(max_worsening=0.05),
        "equalized_odds_difference": BiasRule(max_worsening=0.05),
    }


class BiasGatePolicy(StrictModel):
    """fairlearn audit over sensitive features and their intersection."""

    enabled: bool = Field(True, description="Run this gate (skipped when no sensitive features are named).")
    blocking: bool = Field(True, description="A failure blocks promotion (otherwise it is a warning).")
    sensitive_features: list[str] = Field(default_factory=list, description="Columns of the eval data to audit.")
    intersections: bool = Field(True, description="Also audit the intersection of all sensitive features.")
    min_group_size: int = Field(30, ge=1, description="Groups smaller than this are shown but not judged.")
    metrics: dict[BiasMetricName, BiasRule] = Field(
        default_factory=_default_bias_metrics,
        min_length=1,
        description="Fairness metric -> rule. binary: demographic_parity_difference, demographic_parity_ratio, "
        "equalized_odds_difference, worst_group_accuracy; multiclass (one-vs-rest per class, the worst class "
        "named): demographic_parity_difference, equalized_odds_difference, worst_group_accuracy, "
        "accuracy_difference; regression (in standard deviations of the eval target): mae_difference, "
        "worst_group_mae, mean_prediction_difference. Default: demographic parity and equalized odds may worsen "
        "by at most 0.05 (classification); mae_difference by at most 0.05 (regression).",
    )
    bootstrap: BootstrapPolicy = Field(default_factory=BootstrapPolicy, description="Bootstrap settings.")
    inconclusive: Literal["warn", "fail", "pass"] = Field(
        "warn",
        description="What an interval that straddles a limit means: a warning, a failure, or a pass.",
    )

    def rules_for(self, task: str) -> dict[str, BiasRule]:
        """The fairness rules judged for a task: the policy's, or the task's default when it names none."""
        if "metrics" in self.model_fields_set:
            return dict(self.metrics)
        if task == "regression":
            return {"mae_difference": BiasRule(max_worsening=0.05)}
        return dict(self.metrics)


AttackName = Literal["fgsm", "pgd_linf", "pgd_l2"]


class RobustnessGatePolicy(StrictModel):
    """Adversarial robustness: white-box attacks on torch models, black-box perturbations on any model."""

    enabled: bool = Field(True, description="Run this gate.")
    blocking: bool = Field(True, description="A failure blocks promotion (otherwise it is a warning).")
    attacks: list[AttackName] = Field(
        default_factory=lambda: ["fgsm", "pgd_linf"], min_length=1, description="White-box attacks to run."
    )
    epsilons: list[Annotated[float, Field(gt=0, le=10)]] = Field(
        default_factory=lambda: [0.05, 0.1, 0.25],
        min_length=1,
        description="Attack radii in standard deviations of each numeric feature (L-inf: per feature); for array "
        "data (images) in input units, e.g. 8/255 for pixels in [0, 1] (a fraction like '8/255' is read as such).",
    )
    l2_epsilons: list[Annotated[float, Field(gt=0, le=50)]] = Field(
        default_factory=lambda: [0.25, 0.5, 1.0],
        min_length=1,
        description="Radii for pgd_l2 (L2 norm, std units; array data: input units over the whole input).",
    )
    pgd_steps: int = Field(10, ge=1, le=500, description="PGD iterations.")
    pgd_step_size: float | None = Field(
        None, gt=0, description="PGD step in std units (default 2.5 * epsilon / steps)."
    )
    max_rows: int = Field(4000, ge=10, description="Attack a seeded sample of at most this many eval rows.")
    batch_size: int = Field(4096, ge=1, description="Rows per attack batch.")
    seed: int = Field(0, ge=0, description="Seed of the row sample, random starts and noise.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present, else CPU.")
    min_robust_accuracy: dict[float, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict, description="Epsilon -> floor on robust accuracy (every white-box attack)."
    )
    max_drop: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Largest allowed fall from clean accuracy, at any epsilon or perturbation (not judged when "
        "unset: by default robustness is judged against the champion).",
    )
    max_worse_than_champion: float | None = Field(
        0.05,
        ge=0,
        le=1,
        description="Largest allowed extra drop from clean accuracy over the champion's drop under the same attack "
        "or perturbation (robustness is judged on the drop, so a candidate that is merely less accurate is left "
        "to the evaluation gate).",
    )
    noise_levels: list[Annotated[float, Field(gt=0, le=10)]] = Field(
        default_factory=lambda: [0.1, 0.3],
        description="Gaussian noise on numeric features, in units of each column's robust spread on the "
        "reference data (IQR / 1.349, the std for normal data); a column with IQR 0 (one value for most rows) "
        "gets none. Array data: in units of value_range's width.",
    )
    category_swap_rates: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [0.05], description="Share of categorical values replaced by another category."
    )
    missing_rates: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [0.05], description="Share of nullable values set missing."
    )
    max_flip_rate: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Largest allowed share of predictions that change under a black-box perturbation (not judged "
        "when unset).",
    )
    blur_sigmas: list[Annotated[float, Field(gt=0, le=20)]] = Field(
        default_factory=lambda: [0.5], description="Array data (images): Gaussian blur, its sigma in pixels."
    )
    brightness_shifts: list[Annotated[float, Field(ge=-1, le=1)]] = Field(
        default_factory=lambda: [0.1], description="Array data: a shift of every value, as a share of value_range."
    )
    contrast_factors: list[Annotated[float, Field(gt=0, le=10)]] = Field(
        default_factory=lambda: [0.8], description="Array data: each input's values scaled about its own mean."
    )
    occlusion_sizes: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [0.25],
        description="Array data: a square patch (side as a share of the image side) set to the range's low end at a "
        "seeded random place per input.",
    )
    timeout_s: float = Field(
        600, gt=0, le=86400, description="Time limit for each model's attacks and perturbations (a hang fails it)."
    )

    @field_validator("epsilons", "l2_epsilons", mode="before")
    @classmethod
    def _fractions(cls, value: Any) -> Any:
        """'8/255' is 8/255."""
        return [_fraction(v) for v in value] if isinstance(value, list) else value


def _fraction(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*/\s*\d+(\.\d+)?\s*", value):
        top, bottom = (float(part) for part in value.split("/"))
        return top / bottom if bottom else value
    return value


class LatencyGatePolicy(StrictModel):
    """Serving latency of candidate and champion, timed in one process, interleaved."""

    enabled: bool = Field(True, description="Run this gate.")
    blocking: bool = Field(True, description="A failure blocks promotion (otherwise it is a warning).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present, else CPU.")
    require_gpu: bool = Field(False, description="Without a GPU the gate does not time on CPU (see no_gpu).")
    no_gpu: Literal["skip", "fail"] = Field("skip", description="With require_gpu and no GPU: skip or fail the gate.")
    batch_sizes: list[Annotated[int, Field(ge=1, le=65536)]] = Field(
        default_factory=lambda: [1, 64], min_length=1, description="Batch sizes to sweep."
    )
    iterations: int = Field(200, ge=10, le=100000, description="Timed calls per model and batch size.")
    warmup: int = Field(20, ge=0, le=10000, description="Untimed calls first.")
    threads: int | None = Field(
        1,
        ge=1,
        description="CPU threads while timing: torch's and the native pools' (BLAS, OpenMP) that scikit-learn, "
        "LightGBM or XGBoost use (None: leave as is).",
    )
    confirm_failures: bool = Field(
        True,
        description="A sweep that fails is timed again; the gate fails only when the second sweep fails too (a "
        "burst of load on a shared machine does not reject a model). Both sweeps are reported.",
    )
    subtract_run_queue_wait: bool = Field(
        True,
        description="On CPU (Linux), the time a timed call spent ready to run while the OS ran other processes "
        "(the kernel's run-queue wait for the calling thread) is taken out of that call: on a shared machine it "
        "measures the neighbours' load, not the model. Wall-clock p95 is reported beside it. False: judge "
        "wall-clock times.",
    )
    mode: Literal["eager", "compile", "cuda_graph"] = Field(
        "eager", description="eager, torch.compile, or a captured CUDA graph (CUDA only)."
    )
    slo_p95_ms: dict[int, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="Batch size -> p95 latency SLO in milliseconds."
    )
    max_regression: float | None = Field(
        0.5, ge=0, description="Largest allowed relative p95 increase over the champion (0.1 = +10%)."
    )
    min_regression_ms: float = Field(
        1.0,
        ge=0,
        description="A p95 increase over the champion smaller than this many milliseconds is never a regression: "
        "at that scale a shared CPU's noise moves p95 by more than any real change.",
    )
    slo_applies_to: Literal["served", "module"] = Field(
        "served",
        description="served: predict() on DataFrame rows through the input path, preprocessing included (any "
        "model); module: the torch module on encoded tensors (torch models only; falls back to served). "
        "Both are timed and reported when a torch view exists; the SLO and the champion comparison use this one.",
    )
    timeout_s: float = Field(
        600, gt=0, le=86400, description="Time limit for the whole latency sweep (a hang fails the gate)."
    )


class IntegrationGatePolicy(StrictModel):
    """Load the version the way a serving system would, in a clean subprocess and behind a real scoring server."""

    enabled: bool = Field(True, description="Run this gate.")
    blocking: bool = Field(True, description="A failure blocks promotion (otherwise it is a warning).")
    sample_rows: int = Field(200, ge=2, le=100000, description="Eval rows used for the checks.")
    single_rows: int = Field(20, ge=1, le=1000, description="Rows predicted one at a time against the batch.")
    tolerance: float = Field(1e-6, ge=0, description="Largest allowed absolute score difference.")
    probe_timeout_s: float = Field(120, gt=0, le=3600, description="Time limit of the clean-subprocess checks.")
    serve: bool = Field(True, description="Also start MLflow's scoring server and send it real HTTP requests.")
    server_startup_timeout_s: float = Field(90, gt=0, le=3600, description="Time the server has to become healthy.")
    request_timeout_s: float = Field(30, gt=0, le=600, description="Time limit of one HTTP request.")
    port: int | None = Field(None, ge=1024, le=65535, description="Port for the server (default: a free one).")


Meaning = Literal["fail", "warn"]


class OutputCheckGatePolicy(StrictModel):
    """Degenerate outputs: NaN scores, one score for every row, a class never predicted, a far-off positive rate."""

    enabled: bool = Field(True, description="Run this gate.")
    blocking: bool = Field(True, description="A failure blocks promotion (otherwise it is a warning).")
    non_finite_scores: Meaning = Field("fail", description="What NaN or infinite scores mean: fail or warn.")
    constant_scores: Meaning = Field("fail", description="What the same score for every row means: fail or warn.")
    single_class: Meaning = Field(
        "fail",
        description="What a class never predicted at the decision threshold (no positive or no negative row) "
        "means: fail or warn.",
    )
    max_positive_rate_ratio: float | None = Field(
        None,
        gt=1,
        le=1000,
        description="Flag a predicted-positive rate more than this many times the base rate of the eval labels, "
        "or less than the base rate divided by it (not checked when unset).",
    )
    positive_rate: Meaning = Field(
        "warn", description="What a predicted-positive rate outside that band means: fail or warn."
    )


Requirement = Literal["require", "warn", "report", "off"]
REQUIREMENT_HELP = (
    "require: a miss fails the gate; warn: a miss makes the gate warn; report: a miss is listed, the gate is not "
    "changed by it; off: not checked."
)


class ProvenanceGatePolicy(StrictModel):
    """Where the version came from, and whether the files judged are the files registered."""

    enabled: bool = Field(True, description="Run this gate.")
    blocking: bool = Field(True, description="A failure blocks promotion (otherwise it is a warning).")
    source_run: Requirement = Field(
        "require",
        description="The version's source run exists and is FINISHED. A run deleted, missing, FAILED or KILLED is "
        "a miss; a version logged without a run, or whose run is still running, is only reported (it is how "
        f"MLflow 3 logs models outside a run, and how a training script registers before it ends). {REQUIREMENT_HELP}",
    )
    parameters: Requirement = Field("report", description=f"The source run logged parameters. {REQUIREMENT_HELP}")
    training_data: Requirement = Field(
        "report",
        description="The training data is recorded: an mlflow.data input of the source run, or a dataset-hash tag "
        f"(data_tags) on the run or the version. {REQUIREMENT_HELP}",
    )
    signature: Requirement = Field("report", description=f"The version has a signature. {REQUIREMENT_HELP}")
    input_example: Requirement = Field("report", description=f"The version has an input example. {REQUIREMENT_HELP}")
    author: Requirement = Field(
        "report",
        description="Who logged the version is known (the version's user, or its run's mlflow.user; the creation "
        f"time always is). {REQUIREMENT_HELP}",
    )
    files_unchanged: Requirement = Field(
        "require",
        description="The files judged are the files modelgate stamped when it first decided on the version, and "
        f"are still the registry's just before the champion alias moves. {REQUIREMENT_HELP}",
    )
    data_tags: list[str] = Field(
        default_factory=lambda: ["dataset_hash", "dataset_digest", "training_data_hash", "data_hash"],
        description="Run or version tags that record the training data's hash.",
    )


class GatesPolicy(StrictModel):
    """Which gates run and how each is judged."""

    data_validation: DataValidationGatePolicy = Field(
        default_factory=DataValidationGatePolicy, description="Eval data checks before any model is scored."
    )
    provenance: ProvenanceGatePolicy = Field(
        default_factory=ProvenanceGatePolicy,
        description="Source run, parameters, training data, signature, input example, author; unchanged files.",
    )
    output_check: OutputCheckGatePolicy = Field(
        default_factory=OutputCheckGatePolicy, description="Degenerate model outputs, checked before the quality gates."
    )
    evaluation: EvaluationGatePolicy = Field(
        default_factory=EvaluationGatePolicy, description="Quality metrics against thresholds and the champion."
    )
    drift: DriftGatePolicy = Field(default_factory=DriftGatePolicy, description="Eval data drift vs the reference.")
    bias: BiasGatePolicy = Field(default_factory=BiasGatePolicy, description="Fairness audit.")
    robustness: RobustnessGatePolicy = Field(
        default_factory=RobustnessGatePolicy, description="Adversarial and perturbation robustness."
    )
    latency: LatencyGatePolicy = Field(default_factory=LatencyGatePolicy, description="Serving latency.")
    integration: IntegrationGatePolicy = Field(
        default_factory=IntegrationGatePolicy, description="Registry load, determinism and a real scoring server."
    )


DataFormat = Literal["auto", "csv", "parquet", "npz", "npy"]
FORMAT_HELP = (
    "File format; auto uses the extension (Parquet when inputs_column is set). npz/npy hold arrays (images or "
    "any fixed-shape tensor, one per row), as does a Parquet file with inputs_column: the rows are flattened "
    "into columns input_0, input_1, ... in C order, and the model's tensor signature gives them back their shape."
)
INPUTS_COLUMN_HELP = (
    "Parquet: the column holding each row's tensor (a fixed-shape list, nested lists, or Arrow's "
    "fixed_shape_tensor); its rows become input_0, input_1, ... as for npz."
)


def _npz_settings_unused(spec: BaseModel, inputs_column: str | None) -> None:
    """inputs_column reads one Parquet file: the npz/npy settings would be silently ignored beside it."""
    unused = sorted({"inputs_key", "labels_key", "labels_path"} & spec.model_fields_set)
    if inputs_column is not None and unused:
        raise ValueError(
            f"{', '.join(unused)} name npz/npy arrays; with inputs_column the labels are the target column"
        )


def _inputs_column_format(fmt: str, inputs_column: str | None) -> None:
    """A tensor column is read from Parquet: format must be auto or parquet."""
    if inputs_column is not None and fmt not in ("auto", "parquet"):
        raise ValueError(
            f"inputs_column names a column of a Parquet file; format {fmt} cannot have one (use parquet or auto)"
        )


class StreamingSpec(StrictModel):
    """How a large Parquet eval set is read: in row batches, never as one frame."""

    above_rows: int = Field(
        1_000_000,
        ge=1,
        description="Parquet eval data (a file, or a folder of files with one schema) with more rows than this is "
        "streamed: each model is scored batch by batch and only per-row scores, labels and sensitive-feature codes "
        "are kept; evaluation and bias judge every row, the other gates a seeded sample. A folder is always "
        "streamed.",
    )
    sample_rows: int = Field(
        100_000,
        ge=100,
        description="Size of the seeded sample that data validation, drift, robustness, latency and integration read "
        "from streamed data (row count and null counts are exact over every row).",
    )
    batch_rows: int = Field(
        32_768,
        ge=100,
        description="Rows per batch each model's judge reads and scores (its memory grows with it: a model's "
        "working set is several times its batch); the acting side's own pass reads at least 262,144 rows a batch.",
    )
    seed: int = Field(0, ge=0, description="Seed of the sample.")


class EvalDataSpec(StrictModel):
    """The labelled evaluation data the candidate and champion are scored on."""

    path: str = Field(
        ...,
        min_length=1,
        description="CSV, Parquet, npz or npy file, or a folder of Parquet files; relative paths are relative to the "
        "policy file.",
    )
    target: str = Field(
        ..., min_length=1, description="Column holding the true label (npz/npy: the name given to the labels)."
    )
    max_eval_rows: int | None = Field(
        50_000_000,
        ge=1,
        description="Refuse eval data with more rows than this (a guard against pointing a promotion at the wrong "
        "table); null for no limit.",
    )
    streaming: StreamingSpec = Field(
        default_factory=StreamingSpec, description="Reading large Parquet eval data in batches."
    )
    positive_label: int | str = Field(1, description="Value of the target that counts as the positive class.")
    format: DataFormat = Field("auto", description=FORMAT_HELP)
    max_rows: int | None = Field(None, ge=10, description="Use at most this many rows (a seeded sample).")
    inputs_key: str = Field("inputs", min_length=1, description="npz: the array of model inputs (one per row).")
    labels_key: str = Field("labels", min_length=1, description="npz: the array of labels (one per row).")
    inputs_column: str | None = Field(None, min_length=1, description=INPUTS_COLUMN_HELP)
    labels_path: str | None = Field(
        None, min_length=1, description="npy: the .npy file of labels beside the inputs (relative to the policy)."
    )
    value_range: tuple[float, float] | None = Field(
        None,
        description="Array data: the valid range of input values (e.g. [0, 1] for pixels). The data validation "
        "gate checks the eval arrays against it, and attacks and perturbations keep inputs inside it (default: "
        "the reference data's minimum and maximum, else the eval data's).",
    )

    @model_validator(mode="after")
    def _range_ordered(self) -> EvalDataSpec:
        if self.value_range is not None and not self.value_range[0] < self.value_range[1]:
            raise ValueError(f"value_range must be [low, high] with low < high, got {list(self.value_range)}")
        return self

    @model_validator(mode="after")
    def _inputs_column(self) -> EvalDataSpec:
        _inputs_column_format(self.format, self.inputs_column)
        _npz_settings_unused(self, self.inputs_column)
        if self.inputs_column == self.target:
            raise ValueError(f"inputs_column and target must be different columns, both are {self.target!r}")
        return self


class ReferenceDataSpec(StrictModel):
    """The training reference: what the eval data should look like."""

    path: str = Field(
        ..., min_length=1, description="CSV, Parquet, npz or npy file; relative paths are relative to the policy file."
    )
    format: DataFormat = Field("auto", description=FORMAT_HELP)
    max_rows: int | None = Field(None, ge=10, description="Use at most this many rows (a seeded sample).")
    inputs_key: str = Field("inputs", min_length=1, description="npz: the array of model inputs (one per row).")
    inputs_column: str | None = Field(None, min_length=1, description=INPUTS_COLUMN_HELP)

    @model_validator(mode="after")
    def _inputs_column(self) -> ReferenceDataSpec:
        _inputs_column_format(self.format, self.inputs_column)
        _npz_settings_unused(self, self.inputs_column)
        return self


class ModelOutputSpec(StrictModel):
    """How to read a positive-class score out of the model's predict() output."""

    kind: Literal["auto", "probability", "label", "logits"] = Field(
        "auto",
        description="auto: 1-D scores in [0,1] are probabilities, 2-D outputs are class probabilities "
        "(or logits when rows do not sum to 1), 0/1 integers are labels.",
    )
    column: str | None = Field(
        None, description="Column (or named output, e.g. an ONNX graph's) to read when predict() returns several."
    )
    positive_index: int = Field(1, ge=0, description="Class index of the positive class in 2-D outputs.")
    classes: list[int | str] | None = Field(
        None,
        min_length=2,
        description="multiclass: the class label of each column of a 2-D output, in order (default: the "
        "estimator's classes_ when the flavour has them, else the eval target's sorted values).",
    )
    scores_from: Literal["auto", "predict", "predict_proba"] = Field(
        "auto",
        description="Where the gates' scores come from. auto: predict(), except that a model whose predict() "
        "returns class labels and whose flavour's estimator offers predict_proba (scikit-learn, LightGBM, "
        "XGBoost) is scored by predict_proba (labels cannot rank rows for ROC AUC). The integration gate always "
        "checks predict() as served.",
    )


AliasName = Annotated[str, Field(pattern=ALIAS_PATTERN, min_length=1, max_length=255)]


class ApprovalPolicy(StrictModel):
    """When a person must approve in the Prefect UI, who may, and what silence means."""

    mode: Literal["never", "always", "on_warning"] = Field(
        "never",
        description="never: gates decide alone; always: every would-be promotion waits for a person; "
        "on_warning: only promotions with warning gates wait.",
    )
    approvers: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Names whose answer counts (compared case-insensitively)."
    )
    timeout_s: int = Field(86400, ge=1, le=30 * 86400, description="How long the paused run waits for an answer.")
    on_timeout: Literal["reject", "pending"] = Field(
        "reject", description="reject: no answer rejects; pending: the version is left undecided (exit code 4)."
    )
    on_unlisted_approver: Literal["ask_again", "reject"] = Field(
        "ask_again",
        description="An answer from someone not on the allow-list does not count: ask again, or reject.",
    )
    max_requests: int = Field(3, ge=1, le=20, description="Most times the run asks before it rejects.")
    allow_override: bool = Field(
        False,
        description="An approver may promote despite failed blocking gates, with a written reason "
        "(the run then also pauses on rejections).",
    )
    poll_interval_s: int = Field(5, ge=1, le=600, description="How often the paused run checks for an answer.")

    @model_validator(mode="after")
    def _approvers_named(self) -> ApprovalPolicy:
        if self.mode != "never" and not self.approvers:
            raise ValueError(f"approval mode {self.mode!r} needs at least one name in approvers")
        return self


class ConcurrencyPolicy(StrictModel):
    """Serialising the decide-and-act step per model."""

    lock_timeout_s: float = Field(
        600, gt=0, le=86400, description="Longest wait for this model's promotion lock before the run fails."
    )


class PromotionPolicy(StrictModel):
    """Everything the pipeline needs to decide whether a version of one registered model may become champion."""

    model_name: str = Field(..., min_length=1, description="Registered model this policy governs.")
    description: str = Field("", description="Free text for people reading the policy.")
    champion_alias: AliasName = Field("champion", description="Alias that marks the serving version.")
    previous_champion_alias: AliasName = Field(
        "previous-champion", description="Alias kept on the champion that a promotion replaced."
    )
    ledger_experiment: str = Field(
        "model-promotions", min_length=1, description="MLflow experiment holding one run per promotion attempt."
    )
    eval_data: EvalDataSpec = Field(..., description="Labelled evaluation data.")
    reference_data: ReferenceDataSpec | None = Field(
        None, description="Training reference for learned expectations and drift (optional)."
    )
    task: Literal["auto", "binary", "multiclass", "regression"] = Field(
        "auto",
        description="What the model predicts. auto: inferred from the eval target (text or whole numbers with at "
        "most max_classes values: classification, two values binary, more multiclass; other numbers: regression) "
        "and from the model's output (several class columns: multiclass); the report says what was inferred.",
    )
    max_classes: int = Field(
        50, ge=3, le=10000, description="auto: a whole-number target with more distinct values is a regression."
    )
    model_output: ModelOutputSpec = Field(default_factory=ModelOutputSpec, description="How to read model scores.")
    tensor_input_columns: list[str] | None = Field(
        None,
        min_length=1,
        description="For models whose signature is one unnamed tensor (e.g. torch pt2): the eval columns, "
        "in order, that form it (cast to float32).",
    )
    input_columns: list[str] | None = Field(
        None,
        min_length=1,
        description="For model versions logged without a signature: the eval columns predict() takes, in order "
        "(default: every eval column but the target), passed with the types the eval data has.",
    )
    gates: GatesPolicy = Field(default_factory=GatesPolicy, description="Gate settings.")
    on_external_change: Literal["revert", "flag"] = Field(
        "revert",
        description="A champion alias moved by something other than modelgate (MLflow UI, a script): revert "
        "puts it back on the champion of record; flag records it in the ledger and leaves it. Either way the "
        "move is recorded as an external_change entry with a warning. A candidate that moves the alias while "
        "being judged is always put back and rejected.",
    )
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy, description="Human approval in the Prefect UI.")
    concurrency: ConcurrencyPolicy = Field(
        default_factory=ConcurrencyPolicy, description="One promotion per model at a time."
    )
    serving: ServingPolicy = Field(
        default_factory=ServingPolicy,
        description="The KServe InferenceService written as evidence when a version is promoted.",
    )
    placement: PlacementPolicy = Field(
        default_factory=PlacementPolicy,
        description="Gates judged on another Prefect work pool (e.g. latency and robustness on GPU workers).",
    )

    @model_validator(mode="after")
    def _task_metrics(self) -> PromotionPolicy:
        if self.task == "auto":
            return self
        evaluation = self.gates.evaluation
        if "metrics" in evaluation.model_fields_set:
            wrong = sorted(set(evaluation.metrics) - TASK_METRICS[self.task])
            if wrong:
                raise ValueError(
                    f"gates.evaluation.metrics: {', '.join(wrong)} do not apply to task {self.task} "
                    f"(use {', '.join(sorted(TASK_METRICS[self.task]))})"
                )
        bias = self.gates.bias
        if "metrics" in bias.model_fields_set:
            wrong = sorted(set(bias.metrics) - BIAS_TASK_METRICS[self.task])
            if wrong:
                raise ValueError(f"gates.bias.metrics: {', '.join(wrong)} do not apply to task {self.task}")
        return self

    @model_validator(mode="after")
    def _aliases(self) -> PromotionPolicy:
        for alias in (self.champion_alias, self.previous_champion_alias):
            if RESERVED_ALIAS.match(alias):
                raise ValueError(f"alias {alias!r} is reserved by MLflow")
        if self.champion_alias == self.previous_champion_alias:
            raise ValueError("champion_alias and previous_champion_alias must differ")
        return self


def policy_hash(policy: PromotionPolicy) -> str:
    """sha256 of the normalised policy (defaults filled in, keys sorted)."""
    canonical = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "policy"
    message = str(err["msg"]).removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    return f"{where}: {message}" + (f" (and {more} more)" if more else "")


def parse_policy(data: Any, source: str = "policy") -> PromotionPolicy:
    """Validate already-parsed policy data."""
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return PromotionPolicy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{source}: {_first_error(exc)}") from None


def policy_json_schema() -> dict[str, Any]:
    """JSON schema of the policy file."""
    return PromotionPolicy.model_json_schema()
