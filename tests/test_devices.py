"""Device and precision choice: what autocast a recipe's `precision` gives, and the warning when
bf16 would be emulated on a CPU."""
import torch

from genlab.training import devices
from genlab.training.devices import autocast_dtype, precision_warning

CPU = torch.device("cpu")


def test_auto_is_full_fp32_on_a_cpu_and_named_precisions_map_to_their_dtypes():
    assert autocast_dtype("auto", CPU) is None
    assert autocast_dtype("fp32", CPU) is None
    assert autocast_dtype("bf16", CPU) is torch.bfloat16
    assert autocast_dtype("fp16", CPU) is torch.float16


def test_bf16_on_a_cpu_without_native_bf16_gets_a_warning_naming_the_fix(monkeypatch):
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    message = precision_warning(torch.bfloat16, CPU)
    assert message is not None and "emulated" in message and 'precision = "fp32"' in message
    assert precision_warning(None, CPU) is None  # fp32 is never slower than itself


def test_bf16_on_a_cpu_with_native_bf16_runs_without_a_warning(monkeypatch):
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert precision_warning(torch.bfloat16, CPU) is None
