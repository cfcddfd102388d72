"""GPU inventory and health from NVML (``nvidia-ml-py``, imported as ``pynvml``).

Each read walks every device and records what NVML can tell: name, memory, power draw and
limit, utilisation, uncorrected ECC errors, retired pages (and whether a retirement is
pending), critical XID events since the agent started, and compute processes not started by
netrouter. A field a device does not support is ``None`` ("unknown"), never an error.

A device is *healthy* unless it has uncorrected volatile ECC errors, a page retirement
pending, a critical XID, or NVML cannot query it at all. It is *busy with others* when a
compute process whose name matches none of ``own_process_names`` runs on it.

NVML sees only the node the agent runs on; the ``[[accelerators]]`` counts are the whole
site's. The node's devices, grouped per model, refine the site's counts for their model
(:func:`refine`): the configured totals stand, and the node's devices replace the share of
them the config counted as healthy and free. A model NVML sees that is not configured is
reported as the node has it. When NVML or the driver is missing, the agent falls back to the
config's static inventory and says so, in the log and in the report
(``from_static_config``). Models NVML cannot see (Ascend and other non-NVIDIA accelerators)
always come from the config.

The shape of the free capacity (``node_size``, ``nodes_by_free``) is reported only where
this node is the model's whole inventory: a model the config does not name, or one the
config counts no more devices of than the node holds. It is then one node of that model's
device count, with its healthy devices less those in use by others free. Where the node
refines a configured site of many nodes, the other nodes' shape is unknown and none is
reported (``node_size`` 0).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from site_agents.collectors import Inventory, StaticInventory, node_shape
from site_agents.config import SiteConfig

log = logging.getLogger(__name__)

CRITICAL_XIDS = frozenset({48, 63, 64, 74, 79, 92, 94, 95, 119, 120})
"""XIDs that mean the device should not take new work (double-bit ECC, row remapping
failure, NVLink error, fallen off the bus, uncontained ECC, GSP errors)."""


UNKNOWN_MODEL = "unknown"
"""The model of a device NVML cannot even name (it has fallen off the bus)."""

DEFAULT_POWER_W = 700.0
"""Board power when neither the config nor NVML gives one (H100/H200, topology/pue.csv)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatus:
    """What NVML said about one device (``None``: not supported or not readable)."""

    index: int
    name: str
    model: str
    uuid: str | None = None
    memory_total_mib: float | None = None
    memory_used_mib: float | None = None
    power_draw_w: float | None = None
    power_limit_w: float | None = None
    utilisation_pct: float | None = None
    ecc_uncorrected: int | None = None
    retired_pages: int | None = None
    retirement_pending: bool | None = None
    xids: tuple[int, ...] = ()
    foreign_processes: int | None = None
    problems: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def busy_with_others(self) -> bool:
        return bool(self.foreign_processes)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeShare:
    """One model's devices on this node, as NVML sees them, and what they make of the
    configured site (``configured`` None: the model is not in ``[[accelerators]]``)."""

    model: str
    total: int
    healthy: int
    in_use_by_others: int
    configured: Inventory | None
    site: Inventory

    def describe(self) -> str:
        """One line for ``netrouter-agent check`` and ``once``."""
        node = (
            f"this node has {self.total} {self.model} ({self.healthy} healthy, "
            f"{self.in_use_by_others} in use by others)"
        )
        c, s = self.configured, self.site
        if c is None:
            return f"{node}; not in [[accelerators]]: reported as the node has them"
        if self.total > c.total:
            return (
                f"{node}, more than the {c.total} configured for the whole site: "
                f"reporting {s.total} (update [[accelerators]])"
            )
        return (
            f"{node}, among the site's {c.total} configured; with them the site has "
            f"{s.healthy} healthy (configured {c.healthy}) and {s.in_use_by_others} in use "
            f"by others (configured {c.in_use_by_others})"
        )


def refine(configured: Inventory, node: list[DeviceStatus]) -> Inventory:
    """The site's inventory of one model: ``configured`` (the whole site, as the config
    gives it) refined by the ``node`` devices NVML sees.

    The config is taken to count the node's devices among its healthy devices and not
    among those in use by others, so the rest of the site holds ``total - n`` devices,
    ``healthy - n`` of them healthy and ``in_use_by_others`` of those busy (each clamped
    to fit). The node's devices then count as NVML sees them::

        total            = max(configured total, n)
        healthy          = max(0, configured healthy - n) + node healthy
        in_use_by_others = min(configured in use, rest healthy) + node in use by others

    A healthy, idle node thus reports exactly the configured counts. More devices on the
    node than configured for the whole site means the config is out of date: the site
    has at least what the node holds.
    """
    n = len(node)
    node_healthy = [d for d in node if d.healthy]
    rest_total = max(0, configured.total - n)
    rest_healthy = min(rest_total, max(0, configured.healthy - n))
    rest_busy = min(configured.in_use_by_others, rest_healthy)
    return replace(
        configured,
        total=rest_total + n,
        healthy=rest_healthy + len(node_healthy),
        in_use_by_others=rest_busy + sum(1 for d in node_healthy if d.busy_with_others),
        from_static_config=False,
    )


def model_of(name: str, aliases: dict[str, str]) -> str:
    """Accelerator model from an NVML name: an alias if configured, else the first word
    after the brand up to a space or dash ("NVIDIA H100 80GB HBM3" → "H100",
    "Tesla V100-SXM2-32GB" → "V100")."""
    if name in aliases:
        return aliases[name]
    words = name.replace("-", " ").split()
    while words and words[0] in ("NVIDIA", "Tesla", "GeForce", "Quadro"):
        words = words[1:]
    return words[0] if words else name


def _load_pynvml() -> Any:
    import pynvml  # type: ignore[import-untyped]

    return pynvml


@dataclass
class NvmlInventory:
    """Inventory from NVML, with the config's static inventory as the fallback."""

    config: SiteConfig
    api_loader: Callable[[], Any] = _load_pynvml
    _api: Any = field(default=None, init=False, repr=False)
    _events: Any = field(default=None, init=False, repr=False)
    _xids: dict[int, set[int]] = field(default_factory=dict, init=False, repr=False)
    _failed: str | None = field(default=None, init=False, repr=False)
    _warned: bool = field(default=False, init=False, repr=False)
    node_shares: list[NodeShare] = field(default_factory=list, init=False, repr=False)
    """Per model, the node's devices and what they made of the site at the last read."""

    # --- NVML session -------------------------------------------------------------------

    def _start(self) -> Any:
        if self._api is not None:
            return self._api
        try:
            api = self.api_loader()
            api.nvmlInit()
        except Exception as exc:  # no library, no driver, no permission: fall back
            self._failed = str(exc) or type(exc).__name__
            return None
        self._api = api
        self._failed = None
        self._register_xid_events(api)
        return api

    def _register_xid_events(self, api: Any) -> None:
        try:
            events = api.nvmlEventSetCreate()
            for i in range(api.nvmlDeviceGetCount()):
                handle = api.nvmlDeviceGetHandleByIndex(i)
                try:
                    api.nvmlDeviceRegisterEvents(handle, api.nvmlEventTypeXidCriticalError, events)
                except api.NVMLError:
                    continue  # this device cannot report XIDs: its field stays empty
            self._events = events
        except Exception:  # events are a bonus; inventory works without them
            self._events = None

    def _drain_xids(self, api: Any, uuid_to_index: dict[str, int]) -> None:
        if self._events is None:
            return
        for _ in range(1000):  # bounded: never spin on a broken event set
            try:
                data = api.nvmlEventSetWait_v2(self._events, 0)
            except api.NVMLError:
                return  # timeout: nothing pending
            try:
                uuid = api.nvmlDeviceGetUUID(data.device)
            except api.NVMLError:
                continue
            index = uuid_to_index.get(uuid if isinstance(uuid, str) else uuid.decode())
            if index is not None:
                self._xids.setdefault(index, set()).add(int(data.eventData))

    def close(self) -> None:
        """Release NVML (the agent calls this on shutdown)."""
        if self._api is None:
            return
        try:
            if self._events is not None:
                self._api.nvmlEventSetFree(self._events)
            self._api.nvmlShutdown()
        except Exception:  # shutting down anyway
            log.debug("NVML shutdown failed", exc_info=True)
        self._api = None
        self._events = None

    # --- reading ------------------------------------------------------------------------

    @property
    def unavailable_reason(self) -> str | None:
        """Why NVML could not be used, or ``None`` when it was."""
        return self._failed

    def devices(self) -> list[DeviceStatus] | None:
        """Every device's status, or ``None`` when NVML is unavailable."""
        api = self._start()
        if api is None:
            return None
        try:
            count = int(api.nvmlDeviceGetCount())
        except api.NVMLError as exc:
            self._failed = str(exc)
            self.close()
            return None
        statuses = [self._device(api, i) for i in range(count)]
        self._drain_xids(api, {s.uuid: s.index for s in statuses if s.uuid})
        return [self._with_xids(s) for s in statuses]

    def _with_xids(self, status: DeviceStatus) -> DeviceStatus:
        xids = tuple(sorted(self._xids.get(status.index, ())))
        if not xids:
            return status
        critical = [x for x in xids if x in CRITICAL_XIDS]
        problems = status.problems + ((f"critical XID {critical}",) if critical else ())
        return replace(status, xids=xids, problems=problems)

    def _device(self, api: Any, index: int) -> DeviceStatus:
        aliases = self.config.inventory.model_names
        try:
            handle = api.nvmlDeviceGetHandleByIndex(index)
            raw = api.nvmlDeviceGetName(handle)
        except api.NVMLError as exc:
            return DeviceStatus(
                index=index,
                name=UNKNOWN_MODEL,
                model=UNKNOWN_MODEL,
                problems=(f"unreadable: {exc}",),
            )
        name = raw if isinstance(raw, str) else raw.decode()

        def read(call: Callable[[], Any]) -> Any:
            try:
                return call()
            except api.NVMLError:
                return None  # not supported, or not now: unknown

        uuid = read(lambda: api.nvmlDeviceGetUUID(handle))
        memory = read(lambda: api.nvmlDeviceGetMemoryInfo(handle))
        power = read(lambda: api.nvmlDeviceGetPowerUsage(handle))
        limit = read(lambda: api.nvmlDeviceGetEnforcedPowerLimit(handle))
        util = read(lambda: api.nvmlDeviceGetUtilizationRates(handle))
        ecc = read(
            lambda: api.nvmlDeviceGetTotalEccErrors(
                handle, api.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, api.NVML_VOLATILE_ECC
            )
        )
        retired = read(
            lambda: api.nvmlDeviceGetRetiredPages(
                handle, api.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR
            )
        )
        pending = read(lambda: api.nvmlDeviceGetRetiredPagesPendingStatus(handle))
        procs = read(lambda: api.nvmlDeviceGetComputeRunningProcesses(handle))
        foreign = None if procs is None else sum(1 for p in procs if not self._own(api, p.pid))
        problems: list[str] = []
        if ecc:
            problems.append(f"{ecc} uncorrected ECC errors")
        if pending:
            problems.append("page retirement pending")
        return DeviceStatus(
            index=index,
            name=name,
            model=model_of(name, aliases),
            uuid=uuid if uuid is None or isinstance(uuid, str) else uuid.decode(),
            memory_total_mib=None if memory is None else memory.total / 2**20,
            memory_used_mib=None if memory is None else memory.used / 2**20,
            power_draw_w=None if power is None else power / 1000.0,
            power_limit_w=None if limit is None else limit / 1000.0,
            utilisation_pct=None if util is None else float(util.gpu),
            ecc_uncorrected=None if ecc is None else int(ecc),
            retired_pages=None if retired is None else len(retired),
            retirement_pending=None if pending is None else bool(pending),
            foreign_processes=foreign,
            problems=tuple(problems),
        )

    def _own(self, api: Any, pid: int) -> bool:
        names = self.config.inventory.own_process_names
        if not names:
            return False
        try:
            raw = api.nvmlSystemGetProcessName(pid)
        except api.NVMLError:
            return False  # cannot tell: count it as someone else's
        name = raw if isinstance(raw, str) else raw.decode(errors="replace")
        return any(own in name for own in names)

    # --- the InventorySource protocol --------------------------------------------------

    def inventory(self) -> list[Inventory]:
        """The configured site, each model NVML sees refined by this node's devices, then
        the models NVML sees that are not configured (as the node has them)."""
        static = StaticInventory(self.config).inventory()
        devices = self.devices()
        if devices is None:
            if not self._warned:
                log.warning(
                    "NVML unavailable (%s): reporting the static inventory from the config",
                    self._failed,
                )
                self._warned = True
            self.node_shares = []
            return static
        self._warned = False
        known = {d.model for d in devices if d.model != UNKNOWN_MODEL}
        if len(known) == 1:  # a node of one model: a device it cannot name is one of them
            (only,) = known
            devices = [replace(d, model=only) if d.model == UNKNOWN_MODEL else d for d in devices]
        grouped: dict[str, list[DeviceStatus]] = {}
        for d in devices:
            grouped.setdefault(d.model, []).append(d)
        configured = {s.model: s for s in static}
        shares = []
        for model, group in grouped.items():
            if model in configured:
                site = refine(configured[model], group)
            else:
                site = self._node_only(model, group)
            healthy = [d for d in group if d.healthy]
            if site.total == len(group):  # the node is the model's whole inventory
                shape = node_shape([(site.total, site.healthy - site.in_use_by_others)])
                site = replace(site, node_size=shape.node_size, nodes_by_free=shape.nodes_by_free)
            shares.append(
                NodeShare(
                    model=model,
                    total=len(group),
                    healthy=len(healthy),
                    in_use_by_others=sum(1 for d in healthy if d.busy_with_others),
                    configured=configured.get(model),
                    site=site,
                )
            )
        self._log_changes(shares)
        self.node_shares = shares
        by_model = {share.model: share.site for share in shares}
        refined = [by_model.pop(s.model, s) for s in static]
        return refined + [by_model[model] for model in sorted(by_model)]

    @staticmethod
    def _node_only(model: str, group: list[DeviceStatus]) -> Inventory:
        """A model NVML sees and the config does not name: the node's devices alone."""
        healthy = [d for d in group if d.healthy]
        limits = [d.power_limit_w for d in group if d.power_limit_w]
        power = statistics.median(limits) if limits else 0.0
        return Inventory(
            model=model,
            total=len(group),
            healthy=len(healthy),
            in_use_by_others=sum(1 for d in healthy if d.busy_with_others),
            power_w=power if power > 0 else DEFAULT_POWER_W,
            from_static_config=False,
        )

    def _log_changes(self, shares: list[NodeShare]) -> None:
        """Say what the node adds to the site when it first does and when it changes."""
        before = {(s.model, s.total, s.healthy, s.in_use_by_others) for s in self.node_shares}
        for share in shares:
            if (share.model, share.total, share.healthy, share.in_use_by_others) in before:
                continue
            oversized = share.configured is not None and share.total > share.configured.total
            log.log(logging.WARNING if oversized else logging.INFO, "NVML: %s", share.describe())
