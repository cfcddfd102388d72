"""What the gRPC side of the contract shares beyond the messages."""

from __future__ import annotations

WATCH_POSITION_KEY = "netrouter-watch-after"
"""gRPC initial metadata of WatchPlacements: the event id the stream starts after."""
