"""The what-if report: the west share of devices, and a JSON round trip that loses nothing."""

from __future__ import annotations

import pytest

from netrouter.client.whatif_report import SideRow, WhatIfReport, west_share
from tests.helpers.factories import whatif_report, whatif_result


def test_the_west_share_is_the_west_sides_devices_over_all() -> None:
    assert west_share(whatif_result(west_devices=6)) == pytest.approx(0.75)
    assert west_share(whatif_result(west_devices=0)) == 0.0
    nothing = whatif_result().model_copy(update={"sides": {"west": SideRow(devices=0)}})
    assert west_share(nothing) == 0.0
    east_only = whatif_result().model_copy(update={"sides": {"east": SideRow(devices=4)}})
    assert west_share(east_only) == 0.0


def test_a_report_survives_json_unchanged() -> None:
    report = whatif_report(moves=3)
    again = WhatIfReport.model_validate_json(report.model_dump_json())
    assert again == report
    assert again.scenarios[0].diff.moved == 3
