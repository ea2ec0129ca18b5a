"""talkface.onnx_runtime: the execution provider for --device (CUDA only with onnxruntime-gpu: one line otherwise),
and the stage loaders' device check on the ONNX backend (no torch asked)."""

import onnxruntime
import pytest

from talkface.errors import TalkfaceError
from talkface.onnx_runtime import providers
from talkface.stages import check_backend, require_device


def test_cpu_runs_on_the_cpu_provider():
    assert providers("cpu") == ["CPUExecutionProvider"]
    require_device("cpu", "onnx")


def test_cuda_uses_the_cuda_provider_on_the_asked_gpu_when_onnxruntime_gpu_is_there(monkeypatch):
    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert providers("cuda") == [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]
    assert providers("cuda:1")[0] == ("CUDAExecutionProvider", {"device_id": 1})
    require_device("cuda:1", "onnx")


def test_cuda_without_onnxruntime_gpu_is_one_line_naming_what_to_install(monkeypatch):
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    for ask in (lambda: providers("cuda"), lambda: require_device("cuda", "onnx")):
        with pytest.raises(TalkfaceError, match=r"--device cuda: this onnxruntime has no CUDA provider; "
                                                r"`pip install onnxruntime-gpu`") as err:
            ask()
        assert "\n" not in str(err.value)


def test_mps_is_for_the_torch_backend_and_backends_are_checked():
    with pytest.raises(TalkfaceError, match="--device mps: the ONNX backend runs on cpu or cuda; use --backend torch"):
        require_device("mps", "onnx")
    assert check_backend("torch") == "torch"
    with pytest.raises(TalkfaceError, match="--backend tensorrt: use onnx"):
        check_backend("tensorrt")
