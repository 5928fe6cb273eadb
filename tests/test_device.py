import pytest

from dpostudio.core.training.device import DeviceError, HardwareInfo, choose_device, cpu_supports_fast_bf16, probe_hardware

CPU_PLAIN = HardwareInfo(cpu_flags=frozenset({"avx2", "fma"}))
CPU_BF16 = HardwareInfo(cpu_flags=frozenset({"avx512f", "avx512_bf16"}))
CUDA_AMPERE = HardwareInfo(cuda_available=True, cuda_bf16=True)
CUDA_TURING = HardwareInfo(cuda_available=True, cuda_bf16=False)
MAC = HardwareInfo(mps_available=True, mps_autocast_fp16=True)
OLD_MAC_TORCH = HardwareInfo(mps_available=True, mps_autocast_fp16=False)


@pytest.mark.parametrize(
    ("hw", "device", "precision"),
    [
        (CPU_PLAIN, "cpu", "fp32"),
        (CPU_BF16, "cpu", "bf16"),
        (CUDA_AMPERE, "cuda", "bf16"),
        (CUDA_TURING, "cuda", "fp16"),
        (MAC, "mps", "fp16"),
        (OLD_MAC_TORCH, "mps", "fp32"),
    ],
)
def test_auto_choice(hw, device, precision):
    choice = choose_device(hw)
    assert (choice.device, choice.precision) == (device, precision)
    assert choice.reason


def test_overrides_and_refusals():
    assert choose_device(CUDA_AMPERE, "cpu").device == "cpu"
    assert choose_device(CUDA_AMPERE, "auto", "fp32").precision == "fp32"
    with pytest.raises(DeviceError, match="CUDA was requested"):
        choose_device(CPU_PLAIN, "cuda")
    with pytest.raises(DeviceError, match="MPS"):
        choose_device(CPU_PLAIN, "mps")
    with pytest.raises(DeviceError, match="bf16 is not supported on MPS"):
        choose_device(MAC, "mps", "bf16")
    with pytest.raises(DeviceError, match="fp16 is not supported on CPU"):
        choose_device(CPU_PLAIN, "cpu", "fp16")
    with pytest.raises(DeviceError, match="bf16 is not supported on CUDA"):
        choose_device(CUDA_TURING, "cuda", "bf16")


def test_cpu_bf16_flags():
    assert cpu_supports_fast_bf16(frozenset({"amx_bf16"}))
    assert not cpu_supports_fast_bf16(frozenset({"avx2"}))


def test_probe_on_this_machine_is_consistent():
    hw = probe_hardware()
    choice = choose_device(hw)
    assert choice.device in ("cpu", "cuda", "mps")
    if not hw.cuda_available and not hw.mps_available:
        assert choice.device == "cpu"
        assert choice.precision == ("bf16" if cpu_supports_fast_bf16(hw.cpu_flags) else "fp32")
