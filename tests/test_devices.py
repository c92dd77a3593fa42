"""wsal.devices: the one --device resolver (train, localize, extract, run)."""

from __future__ import annotations

import pytest
import torch

from wsal.cli import main
from wsal.devices import resolve_device
from wsal.errors import WsalError


def test_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cpu", {"LOCAL_RANK": "3"}) == torch.device("cpu")
    expected = torch.device("cuda", 1) if torch.cuda.is_available() else torch.device("cpu")
    assert resolve_device("auto", {"LOCAL_RANK": "1"}) == expected


@pytest.mark.parametrize(
    "name, message",
    [("gpu", "not a torch device"), ("meta", "only cpu and cuda"), ("cuda:x", "not a torch device")],
)
def test_bad_names_are_one_line_errors(name, message):
    with pytest.raises(WsalError, match=message) as err:
        resolve_device(name)
    assert "\n" not in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_cuda_without_a_gpu_is_refused():
    for name in ("cuda", "cuda:0"):
        with pytest.raises(WsalError, match="CUDA is not available"):
            resolve_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bare_cuda_takes_local_rank():
    assert resolve_device("cuda", {"LOCAL_RANK": "0"}) == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:0", {"LOCAL_RANK": "5"}) == torch.device("cuda", 0)  # an explicit index wins


def test_train_refuses_a_bad_device_in_one_line_before_reading_data(tmp_path, capsys):
    argv = ["train", "--features", "f.h5", "--annotations", "g.json", "--out", str(tmp_path / "r"), "--device", "gpu"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["wsal train: error: --device 'gpu': not a torch device (use auto, cpu, cuda or cuda:N)"]
