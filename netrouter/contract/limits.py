"""The value ranges of the wire contract, in one place.

The router refuses a site report outside them (:mod:`netrouter.contract.site_report`); scenarios and the
agent's config keep to the same ranges, so what they produce is what a live site could
report. Like :mod:`netrouter.contract.broker`, this module imports nothing of ours.
"""

from __future__ import annotations

MAX_DEVICES = 1_000_000
"""Devices of one accelerator model at one site."""
MAX_NODE_SIZE = 64
"""Devices of one model on one node (a report's node shape)."""
MAX_DOMAIN_NODES = 1_024
"""Nodes in one fast-interconnect domain (a report's domains)."""
MAX_RUNNING = 5_000
"""Running placements one site report lists."""
MAX_ACCELERATOR_TYPES = 64
"""Accelerator models in one site's inventory."""
MAX_REGIONS = 256
"""Demand regions one site reports latency from."""
MAX_POWER_W = 10_000.0
"""Board power of one device."""
MAX_PUE = 3.0
MAX_PRICE_YUAN_PER_KWH = 20.0
MAX_CARBON_KG_PER_KWH = 5.0
MAX_LATENCY_MS = 10_000.0
MAX_YUAN_PER_GB = 1_000.0
"""Transfer price of one backbone link."""
MAX_BANDWIDTH_GBPS = 1e6
MAX_DURATION_H = 1e5
"""The solver's longest expected run of one workload."""

MAX_PUE_CAP_HYSTERESIS = 0.5
"""The widest PUE-cap hysteresis a router or a snapshot may carry."""
MAX_EPOCH_S = 4_102_444_800.0
"""2100-01-01 in seconds since the Unix epoch: the latest start or deadline a workload may
name (a later one is a unit mistake, such as milliseconds)."""
MAX_PRIORITY = 1_000
"""The highest workload priority."""
HOURS_PER_DAY = 24
"""Hourly prices in a day's tariff."""
