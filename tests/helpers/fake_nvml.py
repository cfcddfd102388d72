"""A stand-in for the ``pynvml`` module, for tests on machines without an NVIDIA GPU.

It mimics the calls netrouter's NVML collector makes, their return shapes and their errors
(``NVMLError`` with an error code, ``NOT_SUPPORTED`` for fields a device lacks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_TIMEOUT = 10
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0
NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR = 1
nvmlEventTypeXidCriticalError = 8


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class FakeDevice:
    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-0"
    memory_total: int = 80 * 2**30
    memory_used: int = 2**30
    power_mw: int | None = 350_000
    limit_mw: int | None = 700_000
    util: int | None = 40
    ecc: int | None = 0
    retired: list[int] | None = field(default_factory=list)
    pending: int | None = 0
    processes: list[tuple[int, str]] | None = field(default_factory=list)
    lost: bool = False


class FakeNvml:
    """The module-like object: build it with devices, pass ``lambda: fake`` as the loader."""

    NVMLError = NVMLError
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = NVML_MEMORY_ERROR_TYPE_UNCORRECTED
    NVML_VOLATILE_ECC = NVML_VOLATILE_ECC
    NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR = (
        NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR
    )
    nvmlEventTypeXidCriticalError = nvmlEventTypeXidCriticalError

    def __init__(self, devices: list[FakeDevice], *, no_driver: bool = False) -> None:
        self.devices = devices
        self.no_driver = no_driver
        self.pending_xids: list[tuple[int, int]] = []  # (device index, xid)
        self.initialised = False
        self.names = {pid: name for d in devices for pid, name in (d.processes or [])}

    def _dev(self, handle: Any) -> FakeDevice:
        device = self.devices[handle]
        if device.lost:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)
        return device

    @staticmethod
    def _field(value: Any) -> Any:
        if value is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return value

    def nvmlInit(self) -> None:
        if self.no_driver:
            raise NVMLError(NVML_ERROR_LIBRARY_NOT_FOUND)
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.initialised = False

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if self.devices[index].lost:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return self._dev(handle).name

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self._dev(handle).uuid

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        d = self._dev(handle)
        return SimpleNamespace(total=d.memory_total, used=d.memory_used)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return int(self._field(self._dev(handle).power_mw))

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        return int(self._field(self._dev(handle).limit_mw))

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=self._field(self._dev(handle).util), memory=0)

    def nvmlDeviceGetTotalEccErrors(self, handle: int, kind: int, counter: int) -> int:
        return int(self._field(self._dev(handle).ecc))

    def nvmlDeviceGetRetiredPages(self, handle: int, cause: int) -> list[int]:
        return list(self._field(self._dev(handle).retired))

    def nvmlDeviceGetRetiredPagesPendingStatus(self, handle: int) -> int:
        return int(self._field(self._dev(handle).pending))

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[Any]:
        procs = self._field(self._dev(handle).processes)
        return [SimpleNamespace(pid=pid, usedGpuMemory=0) for pid, _ in procs]

    def nvmlSystemGetProcessName(self, pid: int) -> str:
        return self.names[pid]

    def nvmlEventSetCreate(self) -> str:
        return "events"

    def nvmlDeviceRegisterEvents(self, handle: int, kinds: int, events: str) -> None:
        return None

    def nvmlEventSetWait_v2(self, events: str, timeout_ms: int) -> Any:
        if not self.pending_xids:
            raise NVMLError(NVML_ERROR_TIMEOUT)
        index, xid = self.pending_xids.pop(0)
        return SimpleNamespace(device=index, eventData=xid)

    def nvmlEventSetFree(self, events: str) -> None:
        return None
