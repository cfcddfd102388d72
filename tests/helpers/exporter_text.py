"""Exposition text for many nodes, made from the real exporters' lines in
tests/data/exporters.

Each fixture sample is reused as the template of the same device on every generated node:
its labels and value are kept except the node, the device's pod, and its health, which the
test sets per device (:class:`Device`). dcgm-exporter serves many nodes from one endpoint
(each sample names its ``Hostname``); npu-exporter serves one node per endpoint and names no
node; kube-state-metrics serves the cluster's pods and nodes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

EXPORTERS = Path(__file__).resolve().parents[1] / "data" / "exporters"

_SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][\w:]*)\{(?P<labels>.*)\}\s+(?P<value>\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')

DCGM_HEALTH = (
    "DCGM_FI_DEV_XID_ERRORS",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
)
"""The dcgm-exporter families the default queries read health from: 0 on a healthy GPU."""


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    container: str
    placement_id: str = ""
    """netrouter's placement id label (kube_pod_labels): set, the pod is netrouter's."""


@dataclass(frozen=True, slots=True)
class Device:
    healthy: bool = True
    pod: Pod | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: str

    def line(self) -> str:
        if not self.labels:
            return f"{self.name} {self.value}"
        labels = ",".join(f'{k}="{v}"' for k, v in self.labels.items())
        return f"{self.name}{{{labels}}} {self.value}"


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    header: tuple[str, ...]
    samples: tuple[Sample, ...]


def families(file: str) -> list[Family]:
    """The fixture's metric families in order, each with its HELP/TYPE lines and samples
    (timestamps dropped: a fresh TSDB refuses the fixture's old ones)."""
    out: list[Family] = []
    header: list[str] = []
    samples: list[Sample] = []

    def flush() -> None:
        if header or samples:
            name = samples[0].name if samples else header[0].split()[2]
            out.append(Family(name, tuple(header), tuple(samples)))
        header.clear()
        samples.clear()

    for line in (EXPORTERS / file).read_text().splitlines():
        if line.startswith("# HELP"):
            flush()
            header.append(line)
        elif line.startswith("#"):
            header.append(line)
        elif line.strip():
            match = _SAMPLE.match(line)
            if match is None:  # a sample without labels
                name, value = line.split()[:2]
                samples.append(Sample(name, {}, value))
            else:
                labels = dict(_LABEL.findall(match["labels"]))
                samples.append(Sample(match["name"], labels, match["value"]))
    flush()
    return out


def _per_device(family: Family, index_label: str) -> dict[int, Sample]:
    by_index = {int(s.labels[index_label]): s for s in family.samples if index_label in s.labels}
    return by_index


def _render(family_list: list[Family], samples: Callable[[Family], Iterable[Sample]]) -> str:
    lines: list[str] = []
    for family in family_list:
        body = [s.line() for s in samples(family)]
        if body:
            lines += [*family.header, *body]
    return "\n".join(lines) + "\n"


def dcgm_text(nodes: Mapping[str, list[Device]]) -> str:
    """One dcgm-exporter endpoint serving ``nodes`` (hostname: its GPUs), each GPU from the
    fixture's GPU of the same index: a pod's labels when it has one, an XID 79 when it is
    unhealthy."""
    fams = families("dcgm.prom")

    def samples(family: Family) -> Iterable[Sample]:
        templates = _per_device(family, "gpu")
        for n, (host, devices) in enumerate(nodes.items()):
            for i, device in enumerate(devices):
                template = templates[i % len(templates)]
                labels = {
                    k: v
                    for k, v in template.labels.items()
                    if k not in ("container", "namespace", "pod")
                }
                labels.update(
                    gpu=str(i),
                    device=f"nvidia{i}",
                    Hostname=host,
                    UUID=f"{template.labels['UUID'][:-6]}{n:03d}{i:03d}",
                )
                if device.pod is not None:
                    labels.update(
                        container=device.pod.container,
                        namespace=device.pod.namespace,
                        pod=device.pod.name,
                    )
                value = template.value
                if family.name in DCGM_HEALTH:
                    value = (
                        "79" if family.name.endswith("XID_ERRORS") and not device.healthy else "0"
                    )
                yield Sample(family.name, labels, value)

    return _render(fams, samples)


def npu_text(devices: list[Device]) -> str:
    """One node's npu-exporter (no node label: Prometheus knows the node as the scrape
    target), each chip from the fixture's chip of the same id: health status 0 (and an
    error code) when unhealthy, the pod's labels and its container info when it has one."""
    fams = families("ascend_npu_exporter.prom")

    def samples(family: Family) -> Iterable[Sample]:
        templates = _per_device(family, "id") or _per_device(family, "npuID")
        if not templates:  # machine_npu_nums
            yield Sample(family.name, {}, str(len(devices)))
            return
        for i, device in enumerate(devices):
            if family.name == "npu_chip_info_error_code" and device.healthy:
                continue
            if family.name == "npu_container_info" and device.pod is None:
                continue
            template = templates.get(i, next(iter(templates.values())))
            labels = dict(template.labels)
            labels["npuID" if "npuID" in labels else "id"] = str(i)
            pod = device.pod
            labels.update(
                container_name=pod.container if pod else "",
                namespace=pod.namespace if pod else "",
                pod_name=pod.name if pod else "",
            )
            if "containerName" in labels and pod is not None:
                labels["containerName"] = f"{pod.namespace}_{pod.name}_{pod.container}"
            value = template.value
            if family.name in ("npu_chip_info_health_status", "npu_chip_info_network_status"):
                value = "1" if device.healthy else "0"
            yield Sample(family.name, labels, value)

    return _render(fams, samples)


def kube_state_metrics_text(
    nodes: Mapping[str, list[Device]],
    resource: Mapping[str, str],
    cliques: Mapping[str, str] | None = None,
) -> str:
    """kube-state-metrics for ``nodes``: each node's info and labels (its NVLink clique
    from ``cliques``, where given), and each pod's device requests, labels (netrouter's
    carry the placement id) and phase (Running). ``resource`` maps a node to its device
    resource name (``nvidia_com_gpu``, ``huawei_com_Ascend910``)."""
    cliques = cliques or {}
    fams = {f.name: f for f in families("kube_state_metrics.prom")}
    requests: dict[tuple[str, Pod], int] = {}
    for node, devices in nodes.items():
        for device in devices:
            if device.pod is not None:
                key = (node, device.pod)
                requests[key] = requests.get(key, 0) + 1
    pods = list(dict.fromkeys(pod for _, pod in requests))
    info = fams["kube_node_info"].samples[0]
    request = next(
        s
        for s in fams["kube_pod_container_resource_requests"].samples
        if s.labels["resource"] == "nvidia_com_gpu"
    )
    labels_ours, labels_other = fams["kube_pod_labels"].samples[:2]
    running = next(
        s for s in fams["kube_pod_status_phase"].samples if s.labels["phase"] == "Running"
    )

    def pod_labels(template: Sample, pod: Pod) -> dict[str, str]:
        uid = f"00000000-0000-4000-8000-{pods.index(pod):012d}"  # one per pod
        return {**template.labels, "namespace": pod.namespace, "pod": pod.name, "uid": uid}

    def samples(family: Family) -> Iterable[Sample]:
        if family.name == "kube_node_info":
            for node in nodes:
                yield Sample(family.name, {**info.labels, "node": node}, info.value)
        elif family.name == "kube_node_labels":
            for node in nodes:
                labels = {"node": node}
                if node in cliques:
                    labels["label_nvidia_com_gpu_clique"] = cliques[node]
                yield Sample(family.name, labels, "1")
        elif family.name == "kube_pod_container_resource_requests":
            for (node, pod), count in requests.items():
                labels = {
                    **pod_labels(request, pod),
                    "container": pod.container,
                    "node": node,
                    "resource": resource[node],
                }
                yield Sample(family.name, labels, str(count))
        elif family.name == "kube_pod_labels":
            for pod in pods:
                if pod.placement_id:
                    labels = pod_labels(labels_ours, pod)
                    labels["label_netrouter_io_placement_id"] = pod.placement_id
                else:
                    labels = pod_labels(labels_other, pod)
                yield Sample(family.name, labels, "1")
        elif family.name == "kube_pod_status_phase":
            for pod in pods:
                yield Sample(family.name, pod_labels(running, pod), "1")

    return _render(list(fams.values()), samples)
