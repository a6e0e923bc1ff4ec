"""Array eval data: reading .npz/.npy and Parquet tensor columns, per-row summaries, value ranges, tensor checks
and image perturbations."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from gates.errors import BadInputError, PolicyError
from gates.policy import (
    DataValidationGatePolicy,
    EvalDataSpec,
    ReferenceDataSpec,
    RobustnessGatePolicy,
    parse_policy,
)
from gates.tensor_data import (
    ARRAY_DTYPE,
    ARRAY_SHAPE,
    array_columns,
    array_shape,
    channel_axis,
    image_perturbations,
    summaries,
    tensor_checks,
    value_range,
)
from tasks.data import read_eval_frame

RNG = np.random.default_rng(7)


def spec(path: Path, **kwargs) -> EvalDataSpec:
    return EvalDataSpec(path=str(path), target="label", **kwargs)


def frame_of(arr: np.ndarray, labels: np.ndarray | None = None) -> pd.DataFrame:
    """A frame as read_arrays builds it: flattened inputs, the label column, shape and dtype in attrs."""
    flat = arr.reshape(len(arr), -1)
    frame = pd.DataFrame(flat, columns=array_columns(flat.shape[1]))
    frame["label"] = np.arange(len(arr)) % 2 if labels is None else labels
    frame.attrs[ARRAY_SHAPE] = list(arr.shape[1:])
    frame.attrs[ARRAY_DTYPE] = str(arr.dtype)
    return frame


def images(n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    return RNG.random((n, 1, 4, 4)).astype(np.float32), np.arange(n) % 3


def test_npz_rows_are_flattened_in_c_order_with_labels_and_attrs(tmp_path):
    x, y = images()
    np.savez(tmp_path / "eval.npz", inputs=x, labels=y)
    frame = read_eval_frame(tmp_path / "eval.npz", spec(tmp_path / "eval.npz"))
    assert list(frame.columns) == [f"input_{i}" for i in range(16)] + ["label"]
    np.testing.assert_array_equal(frame[array_columns(16)].to_numpy(), x.reshape(6, -1))
    assert frame["label"].tolist() == y.tolist()
    assert frame.attrs[ARRAY_SHAPE] == [1, 4, 4] and frame.attrs[ARRAY_DTYPE] == "float32"
    assert array_shape(frame) == (1, 4, 4)


def test_npz_custom_keys(tmp_path):
    x, y = images()
    np.savez(tmp_path / "eval.npz", pixels=x, classes=y)
    frame = read_eval_frame(tmp_path / "eval.npz", spec(tmp_path, inputs_key="pixels", labels_key="classes"))
    np.testing.assert_array_equal(frame[array_columns(16)].to_numpy(), x.reshape(6, -1))
    assert frame["label"].tolist() == y.tolist()


def test_npy_with_labels_path(tmp_path):
    x, y = images()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    frame = read_eval_frame(tmp_path / "x.npy", spec(tmp_path), tmp_path / "y.npy")
    np.testing.assert_array_equal(frame[array_columns(16)].to_numpy(), x.reshape(6, -1))
    assert frame["label"].tolist() == y.tolist()
    assert frame.attrs[ARRAY_SHAPE] == [1, 4, 4]


def test_uint8_inputs_keep_their_dtype(tmp_path):
    x = RNG.integers(0, 256, (5, 2, 3), dtype=np.uint8)
    np.savez(tmp_path / "eval.npz", inputs=x, labels=np.zeros(5, int))
    frame = read_eval_frame(tmp_path / "eval.npz", spec(tmp_path))
    assert set(frame[array_columns(6)].dtypes) == {np.dtype(np.uint8)}
    assert frame.attrs[ARRAY_DTYPE] == "uint8" and frame.attrs[ARRAY_SHAPE] == [2, 3]


def _bad(tmp_path: Path, case: str) -> tuple[Path, Path | None]:
    x, y = images(4)
    path, labels_path = tmp_path / "eval.npz", None
    arrays = {
        "no_inputs": {"images": x, "labels": y},
        "no_labels": {"inputs": x, "y": y},
        "short_labels": {"inputs": x, "labels": y[:3]},
        "labels_2d": {"inputs": x, "labels": y.reshape(4, 1)},
        "inputs_1d": {"inputs": np.arange(4.0), "labels": y},
        "str_inputs": {"inputs": np.array([["a", "b"]] * 4), "labels": y},
    }
    if case in arrays:
        np.savez(path, **arrays[case])
    elif case in ("npy_no_labels_path", "labels_path_absent"):
        path = tmp_path / "x.npy"
        np.save(path, x)
        labels_path = tmp_path / "absent.npy" if case == "labels_path_absent" else None
    elif case == "text":
        path.write_text("a,b\n1,2\n")
    return path, labels_path


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", ["eval data not found", "eval.npz"]),
        ("no_inputs", ["has no array 'inputs'", "(arrays: images, labels)"]),
        ("no_labels", ["has no array 'labels'", "(arrays: inputs, y)"]),
        ("short_labels", ["labels must be one per input row", "got shape [3] for 4 inputs"]),
        ("labels_2d", ["labels must be one per input row", "got shape [4, 1] for 4 inputs"]),
        ("inputs_1d", ["inputs must be an array of rows", "got shape [4]"]),
        ("str_inputs", ["inputs must be numbers", "got dtype <U1"]),
        ("npy_no_labels_path", ["one .npy array", "eval_data.labels_path"]),
        ("labels_path_absent", ["labels not found", "absent.npy"]),
        ("text", ["cannot read", "eval.npz", "as npz: not a NumPy file"]),
    ],
)
def test_bad_array_files_raise_one_line(tmp_path, case, expected):
    path, labels_path = _bad(tmp_path, case)
    with pytest.raises(BadInputError) as info:
        read_eval_frame(path, spec(path), labels_path)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message


@pytest.mark.parametrize("case", ["object_inputs", "npy_named_npz", "npz_as_npy"])
def test_unexpected_numpy_content_is_bad_input(tmp_path, case):
    x, y = images(3)
    np.save(tmp_path / "y.npy", y)
    path = tmp_path / "eval.npz"
    if case == "npy_named_npz":
        with path.open("wb") as fh:
            np.save(fh, x)
    else:
        np.savez(path, inputs=x if case == "npz_as_npy" else np.array([[1, "a"]] * 3, dtype=object), labels=y)
    with pytest.raises(BadInputError, match="eval.npz"):
        read_eval_frame(path, spec(path, format="npy" if case == "npz_as_npy" else "auto"), tmp_path / "y.npy")


def test_rewritten_labels_file_is_read_again(tmp_path):
    x, _ = images(3)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.array([0, 1, 0]))
    assert read_eval_frame(tmp_path / "x.npy", spec(tmp_path), tmp_path / "y.npy")["label"].tolist() == [0, 1, 0]
    np.save(tmp_path / "y.npy", np.array([1, 1, 1]))
    assert read_eval_frame(tmp_path / "x.npy", spec(tmp_path), tmp_path / "y.npy")["label"].tolist() == [1, 1, 1]


def test_max_rows_sample_keeps_attrs_and_row_label_pairs(tmp_path):
    x = RNG.random((30, 1, 4, 4)).astype(np.float32)
    np.savez(tmp_path / "eval.npz", inputs=x, labels=np.arange(30))
    frame = read_eval_frame(tmp_path / "eval.npz", spec(tmp_path, max_rows=10))
    assert len(frame) == 10 and list(frame.index) == list(range(10))
    assert frame.attrs[ARRAY_SHAPE] == [1, 4, 4] and frame.attrs[ARRAY_DTYPE] == "float32"
    np.testing.assert_array_equal(frame[array_columns(16)].to_numpy(), x[frame["label"]].reshape(10, -1))


def test_summaries_channel_first_exact():
    row = np.array([[[1, 1], [1, 1]], [[0, 2], [0, 2]], [[1, 2], [3, 4]]], dtype=np.float64)
    out = summaries(frame_of(np.stack([row, 2 * row])), (3, 2, 2))
    assert list(out.columns) == [f"channel_{c}_{s}" for c in range(3) for s in ("mean", "std")]
    np.testing.assert_allclose(out.iloc[0], [1, 0, 1, 1, 2.5, np.sqrt(1.25)])
    np.testing.assert_allclose(out.iloc[1], [2, 0, 2, 2, 5, 2 * np.sqrt(1.25)])


def test_summaries_channel_last_detected():
    arr = np.broadcast_to(np.arange(3.0), (2, 8, 8, 3)).copy()
    assert channel_axis((8, 8, 3)) == 2
    out = summaries(frame_of(arr), (8, 8, 3))
    np.testing.assert_allclose(out.iloc[0], [0, 0, 1, 0, 2, 0])


@pytest.mark.parametrize("shape", [(1, 8, 8), (8, 8)])
def test_summaries_one_channel(shape):
    arr = RNG.random((3, *shape))
    out = summaries(frame_of(arr), shape)
    assert list(out.columns) == ["channel_0_mean", "channel_0_std"]
    np.testing.assert_allclose(out["channel_0_mean"], arr.reshape(3, -1).mean(axis=1))
    np.testing.assert_allclose(out["channel_0_std"], arr.reshape(3, -1).std(axis=1))


def test_value_range_stated_then_reference_then_eval():
    shape = (1, 4, 4)
    eval_frame = frame_of(np.linspace(0.2, 0.6, 32).reshape(2, *shape))
    reference = frame_of(np.linspace(-1.0, 3.0, 48).reshape(3, *shape))
    assert value_range((0, 1), reference, eval_frame, shape) == (0.0, 1.0)
    assert value_range(None, reference, eval_frame, shape) == (-1.0, 3.0)
    assert value_range(None, None, eval_frame, shape) == pytest.approx((0.2, 0.6))


CHECKS = ["rows", "rows_with_nan", "rows_with_inf", "rows_outside_range", "missing_labels"]
POLICY = DataValidationGatePolicy(min_rows=5)


def clean(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    return RNG.random((n, 1, 4, 4)) * 0.9 + 0.05, (np.arange(n) % 2).astype(float)


def test_tensor_checks_pass_on_clean_data():
    x, y = clean()
    result = tensor_checks(frame_of(x, y), "label", (1, 4, 4), (0.0, 1.0), True, POLICY)
    assert result.status.value == "passed"
    assert [m.name for m in result.measurements] == CHECKS and all(m.passed for m in result.measurements)
    assert "8 arrays of shape 1x4x4" in result.summary


NAN, INF = np.nan, np.inf


@pytest.mark.parametrize(
    ("pixels", "rows", "failed", "value"),
    [
        ({(3, 0, 0, 0): NAN}, 8, "rows_with_nan", 1),
        ({(2, 0, 1, 1): INF}, 8, "rows_with_inf", 1),
        ({(0, 0, 0, 0): 1.5, (0, 0, 0, 1): 1.5, (5, 0, 3, 3): 1.01}, 8, "rows_outside_range", 2),  # 3 pixels
        ({}, 4, "rows", 4),
        ({4: NAN}, 8, "missing_labels", 1),  # an int key is a label
    ],
)
def test_tensor_checks_fail_exactly_one_check(pixels, rows, failed, value):
    x, y = clean(rows)
    for where, v in pixels.items():
        (y if isinstance(where, int) else x)[where] = v
    result = tensor_checks(frame_of(x, y), "label", (1, 4, 4), (0.0, 1.0), True, POLICY)
    assert result.status.value == "failed"
    assert [m.name for m in result.measurements if not m.passed] == [failed]
    assert {m.name: m.value for m in result.measurements}[failed] == value


@pytest.mark.parametrize(
    ("stated", "margin", "passes", "bounds"),
    [(False, 0.1, True, [-0.1, 1.1]), (False, 0.0, False, [0.0, 1.0]), (True, 0.1, False, [0.0, 1.0])],
)
def test_learned_range_alone_is_widened_by_range_margin(stated, margin, passes, bounds):
    x, y = clean()
    x[1, 0, 2, 2] = 1.05
    policy = DataValidationGatePolicy(min_rows=5, range_margin=margin)
    result = tensor_checks(frame_of(x, y), "label", (1, 4, 4), (0.0, 1.0), stated, policy)
    assert [m.name for m in result.measurements if not m.passed] == ([] if passes else ["rows_outside_range"])
    assert result.details["value_range"] == pytest.approx(bounds)


@pytest.mark.parametrize(
    ("reference_rows", "outside", "allowed", "passes"),
    [(None, 1, 0, False), (50, 10, 10, True), (50, 11, 10, False), (5000, 2, 2, True), (5000, 3, 2, False)],
)
def test_a_learned_range_allows_the_rows_a_fresh_sample_may_put_outside_it(reference_rows, outside, allowed, passes):
    """A new array falls outside the range of n reference arrays with probability <= 2/(n+1): of 200 eval rows,
    with 50 references the binomial's 99.9% quantile (17) is capped at 5% (10 rows); with 5,000 it is 2 rows;
    a range not learned from a reference (here: stated as False, no reference rows) allows none."""
    x = np.full((200, 1, 2, 2), 0.5, np.float32)
    x[:outside, 0, 0, 0] = 2.0
    policy = DataValidationGatePolicy(min_rows=5, range_margin=0.0, learned_mostly=None)
    result = tensor_checks(
        frame_of(x, np.arange(200) % 2), "label", (1, 2, 2), (0.0, 1.0), False, policy, reference_rows
    )
    row = next(m for m in result.measurements if m.name == "rows_outside_range")
    assert (row.value, row.threshold, row.passed) == (outside, allowed, passes)


PERTURB = RobustnessGatePolicy(
    noise_levels=[0.1, 0.3],
    blur_sigmas=[0.5],
    brightness_shifts=[0.1, -0.2],
    contrast_factors=[0.5],
    occlusion_sizes=[0.25],
)


def perturbed(frame: pd.DataFrame, shape, policy=PERTURB, bounds=(0.0, 1.0)) -> dict:
    return {(name, level): out for name, level, out in image_perturbations(frame, shape, bounds, policy)}


def test_perturbations_in_policy_order_within_bounds_target_untouched():
    frame = frame_of(RNG.random((4, 3, 8, 8)).astype(np.float32), np.array([3, 1, 4, 1]))
    results = image_perturbations(frame, (3, 8, 8), (0.0, 1.0), PERTURB)
    names = "gaussian_noise gaussian_noise blur brightness brightness contrast occlusion"
    assert [n for n, _, _ in results] == names.split()
    assert [lv for _, lv, _ in results] == [0.1, 0.3, 0.5, 0.1, -0.2, 0.5, 0.25]
    for _, _, out in results:
        assert list(out.columns) == list(frame.columns) and out.shape == frame.shape
        inputs = out[array_columns(192)].to_numpy()
        assert inputs.min() >= 0.0 and inputs.max() <= 1.0
        assert out["label"].tolist() == [3, 1, 4, 1]
        assert array_shape(out) == (3, 8, 8)


@pytest.mark.parametrize(("shape", "channels"), [((3, 8, 8), 3), ((8, 8, 3), 3), ((8, 8), 1)])
def test_occlusion_zeroes_one_patch_per_image(shape, channels):
    out = perturbed(frame_of(np.ones((5, *shape), np.float32)), shape)[("occlusion", 0.25)]
    zeros = (out[array_columns(64 * channels)].to_numpy() == 0).sum(axis=1)
    assert zeros.tolist() == [2 * 2 * channels] * 5


def test_blur_of_constant_image_is_unchanged():
    out = perturbed(frame_of(np.full((3, 1, 8, 8), 0.3, np.float32)), (1, 8, 8))[("blur", 0.5)]
    np.testing.assert_allclose(out[array_columns(64)].to_numpy(), 0.3, rtol=1e-6)


def test_brightness_shift_on_mid_grey():
    results = perturbed(frame_of(np.full((2, 1, 4, 4), 0.5, np.float32)), (1, 4, 4))
    np.testing.assert_allclose(results[("brightness", 0.1)][array_columns(16)].to_numpy(), 0.6, rtol=1e-6)
    np.testing.assert_allclose(results[("brightness", -0.2)][array_columns(16)].to_numpy(), 0.3, rtol=1e-6)


def test_contrast_halves_deviation_from_each_images_mean():
    x = (RNG.random((4, 2, 4, 4)) * 0.5 + 0.25).astype(np.float32)
    x[1] += 0.1  # images with different means
    out = perturbed(frame_of(x), (2, 4, 4))[("contrast", 0.5)][array_columns(32)].to_numpy()
    flat = x.reshape(4, -1).astype(np.float64)
    mean = flat.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(out - mean, 0.5 * (flat - mean), atol=1e-6)


def test_same_seed_gives_identical_noise():
    frame = frame_of(RNG.random((3, 1, 8, 8)).astype(np.float32))
    first, second = perturbed(frame, (1, 8, 8)), perturbed(frame, (1, 8, 8))
    noisy = first[("gaussian_noise", 0.1)]
    pd.testing.assert_frame_equal(noisy, second[("gaussian_noise", 0.1)])
    assert not noisy[array_columns(64)].equals(frame[array_columns(64)])


def test_uint8_inputs_come_back_as_uint8():
    frame = frame_of(np.full((2, 1, 4, 4), 100, np.uint8))
    policy = RobustnessGatePolicy(brightness_shifts=[0.2])
    for name, level, out in image_perturbations(frame, (1, 4, 4), (0.0, 255.0), policy):
        assert set(out[array_columns(16)].dtypes) == {np.dtype(np.uint8)}, (name, level)
    out = perturbed(frame, (1, 4, 4), policy, (0.0, 255.0))[("brightness", 0.2)]
    assert (out[array_columns(16)].to_numpy() == 151).all()


def test_epsilon_fractions_are_read():
    assert RobustnessGatePolicy(epsilons=["8/255", 0.1]).epsilons == [8 / 255, 0.1]


def test_malformed_epsilon_fraction_is_a_validation_error():
    with pytest.raises(ValidationError, match="epsilons"):
        RobustnessGatePolicy(epsilons=["8//255"])


# Parquet with a tensor column (eval_data.inputs_column): the same frame as the arrays in an .npz.


def parquet_spec(path: Path, **kwargs) -> EvalDataSpec:
    return EvalDataSpec(path=str(path), target="label", inputs_column="pixels", **kwargs)


def write_parquet(path: Path, form: str, x: np.ndarray, y: np.ndarray) -> Path:
    """x in one of the accepted forms of a tensor column, y as the label column."""
    if form == "tensor":  # Arrow's fixed_shape_tensor extension type
        pq.write_table(pa.table({"pixels": pa.FixedShapeTensorArray.from_numpy_ndarray(x), "label": y}), path)
    elif form == "nested":  # what pandas writes for a column of nested Python lists (float64)
        pd.DataFrame({"pixels": [row.tolist() for row in x], "label": y}).to_parquet(path)
    elif form == "nested_float32":  # nested lists with the arrays' own dtype
        kind = pa.list_(pa.list_(pa.list_(pa.float32())))
        pq.write_table(pa.table({"pixels": pa.array([row.tolist() for row in x], kind), "label": y}), path)
    elif form == "flat":  # what pandas writes for a column of 1-D numpy arrays
        pd.DataFrame({"pixels": list(x.reshape(len(x), -1)), "label": y}).to_parquet(path)
    return path


@pytest.mark.parametrize(
    ("form", "shape", "dtype"),
    [("tensor", [1, 4, 4], "float32"), ("nested", [1, 4, 4], "float64"), ("flat", [16], "float32")],
)
def test_parquet_tensor_column_forms_become_input_columns(tmp_path, form, shape, dtype):
    x, y = images()
    path = write_parquet(tmp_path / "eval.parquet", form, x, y)
    frame = read_eval_frame(path, parquet_spec(path))
    assert list(frame.columns) == [f"input_{i}" for i in range(16)] + ["label"]
    np.testing.assert_array_equal(frame[array_columns(16)].to_numpy(), x.reshape(6, -1).astype(dtype))
    assert set(frame[array_columns(16)].dtypes) == {np.dtype(dtype)}
    assert frame["label"].tolist() == y.tolist()
    assert frame.attrs == {ARRAY_SHAPE: shape, ARRAY_DTYPE: dtype}


@pytest.mark.parametrize("form", ["tensor", "nested_float32", "flat"])
def test_parquet_and_npz_of_the_same_arrays_give_equal_frames(tmp_path, form):
    x, y = images()
    x = x.reshape(6, 16) if form == "flat" else x
    np.savez(tmp_path / "eval.npz", inputs=x, labels=y)
    from_npz = read_eval_frame(tmp_path / "eval.npz", spec(tmp_path / "eval.npz"))
    path = write_parquet(tmp_path / "eval.parquet", form, x, y)
    from_parquet = read_eval_frame(path, parquet_spec(path))
    pd.testing.assert_frame_equal(from_parquet, from_npz)
    assert from_parquet.attrs == from_npz.attrs


def test_parquet_tensor_column_is_read_whatever_the_extension(tmp_path):
    x, y = images()
    path = write_parquet(tmp_path / "eval.bin", "tensor", x, y)
    frame = read_eval_frame(path, parquet_spec(path, format="parquet"))
    np.testing.assert_array_equal(frame[array_columns(16)].to_numpy(), x.reshape(6, -1))


def test_parquet_reference_needs_no_target(tmp_path):
    x, _ = images()
    pq.write_table(pa.table({"pixels": pa.FixedShapeTensorArray.from_numpy_ndarray(x)}), tmp_path / "ref.parquet")
    frame = read_eval_frame(tmp_path / "ref.parquet", ReferenceDataSpec(path="ref.parquet", inputs_column="pixels"))
    assert list(frame.columns) == array_columns(16)
    assert frame.attrs == {ARRAY_SHAPE: [1, 4, 4], ARRAY_DTYPE: "float32"}


def test_parquet_float_nulls_are_nan_for_the_tensor_checks(tmp_path):
    # pandas writes NaN inside a list as null; it is read back as NaN, which the data validation gate counts
    rows = [[0.5, 0.5]] * 4 + [[0.5, np.nan]]
    pd.DataFrame({"pixels": rows, "label": [0, 1, 0, 1, 0]}).to_parquet(tmp_path / "eval.parquet")
    frame = read_eval_frame(tmp_path / "eval.parquet", parquet_spec(tmp_path / "eval.parquet"))
    assert np.isnan(frame[array_columns(2)].to_numpy()).sum(axis=1).tolist() == [0, 0, 0, 0, 1]


def test_parquet_cache_is_keyed_by_the_inputs_column(tmp_path):
    table = pa.table({"pixels": [[1.0, 2.0]] * 3, "other": [[7.0, 8.0]] * 3, "label": [0, 1, 0]})
    pq.write_table(table, tmp_path / "eval.parquet")
    first = read_eval_frame(tmp_path / "eval.parquet", parquet_spec(tmp_path / "eval.parquet"))
    second = read_eval_frame(
        tmp_path / "eval.parquet", EvalDataSpec(path="eval.parquet", target="label", inputs_column="other")
    )
    assert first["input_0"].tolist() == [1.0] * 3 and second["input_0"].tolist() == [7.0] * 3


def _bad_parquet(path: Path, case: str) -> None:
    y = np.arange(6) % 2
    frames = {
        "no_column": pd.DataFrame({"images": [[1.0, 2.0]] * 6, "label": y}),
        "not_a_list": pd.DataFrame({"pixels": np.arange(6.0), "label": y}),
        "other_length": pd.DataFrame({"pixels": [[1.0] * 4] * 3 + [[1.0] * 3] + [[1.0] * 4] * 2, "label": y}),
        "other_shape": pd.DataFrame(
            {"pixels": [np.ones((1, 4, 4)).tolist()] * 5 + [np.ones((1, 2, 2)).tolist()], "label": y}
        ),
        "ragged_row": pd.DataFrame({"pixels": [[[1.0, 2.0], [3.0, 4.0]]] * 2 + [[[1.0, 2.0], [3.0]]] * 4, "label": y}),
        "null_row": pd.DataFrame({"pixels": [[1.0, 2.0]] * 2 + [None] + [[1.0, 2.0]] * 3, "label": y}),
        "null_int": pd.DataFrame({"pixels": [[1, 2]] * 4 + [[1, None]] + [[1, 2]], "label": y}),
        "strings": pd.DataFrame({"pixels": [["a", "b"]] * 6, "label": y}),
        "no_target": pd.DataFrame({"pixels": [[1.0, 2.0]] * 6, "y": y}),
        "no_rows": pd.DataFrame({"pixels": [[1.0, 2.0]] * 6, "label": y}).iloc[:0],
    }
    frames[case].to_parquet(path)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no_column", "{p} has no column 'pixels' (columns: images, label)"),
        ("not_a_list", "{p}: column 'pixels' is double, not a list or tensor per row"),
        (
            "other_length",
            "{p}: column 'pixels' row 3 has shape [3], row 0 has shape [4]; every row must have the same shape",
        ),
        (
            "other_shape",
            "{p}: column 'pixels' row 5 has shape [1, 2, 2], row 0 has shape [1, 4, 4]; every row must have the "
            "same shape",
        ),
        (
            "ragged_row",
            "{p}: column 'pixels' row 2 is ragged (its nested lists differ in length), row 0 has shape [2, 2]; "
            "every row must have the same shape",
        ),
        ("null_row", "{p}: column 'pixels' row 2 is null"),
        ("null_int", "{p}: column 'pixels' row 4 holds a null"),
        ("strings", "{p}: column 'pixels' must hold numbers, got string"),
        ("no_target", "{p} has no target column 'label' (columns: pixels, y)"),
        ("no_rows", "{p}: column 'pixels' has no rows"),
    ],
)
def test_bad_parquet_tensor_columns_raise_one_exact_line(tmp_path, case, expected):
    path = tmp_path / "eval.parquet"
    _bad_parquet(path, case)
    message = "eval data " + expected.format(p=path)
    with pytest.raises(BadInputError, match=f"^{re.escape(message)}$"):
        read_eval_frame(path, parquet_spec(path))


def test_a_file_that_is_not_parquet_is_bad_input(tmp_path):
    (tmp_path / "eval.parquet").write_text("a,b\n1,2\n")
    prefix = f"cannot read eval data {tmp_path / 'eval.parquet'} as parquet: ArrowInvalid: "
    with pytest.raises(BadInputError, match=f"^{re.escape(prefix)}"):
        read_eval_frame(tmp_path / "eval.parquet", parquet_spec(tmp_path / "eval.parquet"))


@pytest.mark.parametrize("fmt", ["csv", "npz", "npy"])
def test_inputs_column_with_a_non_parquet_format_is_a_validation_error(fmt):
    message = f"inputs_column names a column of a Parquet file; format {fmt} cannot have one (use parquet or auto)"
    with pytest.raises(ValidationError, match=re.escape(message)):
        EvalDataSpec(path="eval.npz", target="label", format=fmt, inputs_column="pixels")


PARQUET_EVAL = {"path": "e.parquet", "target": "y", "inputs_column": "x"}
UNUSABLE_FORMAT = "inputs_column names a column of a Parquet file; format {} cannot have one (use parquet or auto)"


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"eval_data": {"path": "e.npz", "target": "y", "format": "npz", "inputs_column": "x"}},
            "eval_data: " + UNUSABLE_FORMAT.format("npz"),
        ),
        (
            {"eval_data": PARQUET_EVAL, "reference_data": {"path": "r.csv", "format": "csv", "inputs_column": "x"}},
            "reference_data: " + UNUSABLE_FORMAT.format("csv"),
        ),
        (
            {"eval_data": {"path": "e.parquet", "target": "y", "inputs_column": "y"}},
            "eval_data: inputs_column and target must be different columns, both are 'y'",
        ),
    ],
    ids=["eval-npz", "reference-csv", "inputs-is-target"],
)
def test_inputs_column_policy_errors(sections, message):
    with pytest.raises(PolicyError, match=f"^{re.escape('policy: ' + message)}$"):
        parse_policy({"model_name": "m", **sections})


def test_parquet_bool_tensor_and_float_tensor_nulls(tmp_path):
    """A bool tensor is read (onnx/numpy masks), and a null float inside a tensor is NaN, as in a float list."""
    masks = np.arange(24).reshape(6, 2, 2) % 3 == 0
    tensor = pa.FixedShapeTensorArray.from_numpy_ndarray(masks)
    pq.write_table(pa.table({"pixels": tensor, "label": np.arange(6) % 2}), tmp_path / "bool.parquet")
    frame = read_eval_frame(tmp_path / "bool.parquet", parquet_spec(tmp_path / "bool.parquet"))
    np.testing.assert_array_equal(frame[array_columns(4)].to_numpy(), masks.reshape(6, 4))
    assert frame.attrs == {ARRAY_SHAPE: [2, 2], ARRAY_DTYPE: "bool"}

    storage = pa.FixedSizeListArray.from_arrays(pa.array([0.5, None, 0.25, 1.0], pa.float32()), 2)
    nulls = pa.ExtensionArray.from_storage(pa.fixed_shape_tensor(pa.float32(), [2]), storage)
    pq.write_table(pa.table({"pixels": nulls, "label": [0, 1]}), tmp_path / "nan.parquet")
    frame = read_eval_frame(tmp_path / "nan.parquet", parquet_spec(tmp_path / "nan.parquet"))
    assert np.isnan(frame[array_columns(2)].to_numpy()).tolist() == [[False, True], [False, False]]


def test_parquet_tensor_with_permuted_dimensions_is_bad_input(tmp_path):
    storage = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(12.0)), 6)
    kind = pa.fixed_shape_tensor(pa.float64(), [2, 3], permutation=[1, 0])
    pq.write_table(
        pa.table({"pixels": pa.ExtensionArray.from_storage(kind, storage), "label": [0, 1]}), tmp_path / "p.pq"
    )
    message = (
        f"eval data {tmp_path / 'p.pq'}: column 'pixels' is a tensor with permuted dimensions [1, 0]; "
        "store it in C order"
    )
    with pytest.raises(BadInputError, match=f"^{re.escape(message)}$"):
        read_eval_frame(tmp_path / "p.pq", parquet_spec(tmp_path / "p.pq", format="parquet"))


def test_a_target_named_like_an_input_column_is_bad_input(tmp_path):
    pq.write_table(pa.table({"pixels": [[1.0, 2.0]] * 3, "input_0": [0, 1, 0]}), tmp_path / "eval.parquet")
    spec_ = EvalDataSpec(path="eval.parquet", target="input_0", inputs_column="pixels")
    message = f"eval data {tmp_path / 'eval.parquet'}: the target 'input_0' has the name of an input column; rename it"
    with pytest.raises(BadInputError, match=f"^{re.escape(message)}$"):
        read_eval_frame(tmp_path / "eval.parquet", spec_)


@pytest.mark.parametrize("setting", [{"labels_path": "y.npy"}, {"labels_key": "y"}, {"inputs_key": "x"}])
def test_npz_settings_beside_inputs_column_are_a_policy_error(setting):
    data = {"model_name": "m", "eval_data": {"path": "e.parquet", "target": "y", "inputs_column": "x", **setting}}
    name = next(iter(setting))
    message = f"policy: eval_data: {name} name npz/npy arrays; with inputs_column the labels are the target column"
    with pytest.raises(PolicyError, match=f"^{re.escape(message)}$"):
        parse_policy(data)


def test_an_arrow_read_error_is_one_line_of_bad_input(tmp_path):
    columns = [pa.array([[1.0, 2.0]] * 3), pa.array([[1.0, 2.0]] * 3), pa.array([0, 1, 0])]
    pq.write_table(pa.Table.from_arrays(columns, names=["pixels", "pixels", "label"]), tmp_path / "dup.parquet")
    message = (
        f"cannot read eval data {tmp_path / 'dup.parquet'}: column 'pixels': ArrowInvalid: Multiple matches for "
        "FieldRef.Name(pixels) in pixels: list<element: double>"
    )
    with pytest.raises(BadInputError, match=f"^{re.escape(message)}"):
        read_eval_frame(tmp_path / "dup.parquet", parquet_spec(tmp_path / "dup.parquet"))
