"""Where an mlflow.onnx version runs: the providers of its onnxruntime session, and the device they mean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasks.model_views import onnx_device, onnx_providers


@pytest.fixture(scope="module")
def onnx_and_sklearn(tmp_path_factory: pytest.TempPathFactory):
    """A logistic regression saved twice: as an ONNX graph (mlflow.onnx) and as scikit-learn; both loaded."""
    import mlflow.onnx
    import mlflow.pyfunc
    import mlflow.sklearn
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    root: Path = tmp_path_factory.mktemp("onnx")
    mlflow.onnx.save_model(to_onnx(model, x[:1], options={"zipmap": False}), root / "onnx")
    mlflow.sklearn.save_model(model, root / "sklearn")
    return mlflow.pyfunc.load_model(str(root / "onnx")), mlflow.pyfunc.load_model(str(root / "sklearn"))


@pytest.mark.slow  # skl2onnx and onnxruntime imports: 15 s of the fast tier's 3 minutes
def test_the_session_providers_of_an_onnx_version(onnx_and_sklearn) -> None:
    onnx_model, sklearn_model = onnx_and_sklearn
    # MLflow asks for CUDA first; the pinned onnxruntime is the CPU build, so its session keeps CPU alone.
    assert onnx_providers(onnx_model) == ["CPUExecutionProvider"]
    assert onnx_providers(sklearn_model) == []


@pytest.mark.parametrize(
    ("providers", "device"),
    [
        (["CUDAExecutionProvider", "CPUExecutionProvider"], "cuda"),
        (["CPUExecutionProvider"], "cpu"),
        (["CPUExecutionProvider", "CUDAExecutionProvider"], "cpu"),
        (["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], "cuda"),
        (["ROCMExecutionProvider", "CPUExecutionProvider"], "cuda"),
        ([], "cpu"),
    ],
)
def test_the_device_is_the_first_provider(providers: list[str], device: str) -> None:
    assert onnx_device(providers) == device
