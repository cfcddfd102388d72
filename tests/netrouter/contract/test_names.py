"""Region and model names: one spelling each; typos refused with "did you mean"."""

from __future__ import annotations

import pytest

from netrouter.contract.names import (
    NATIONAL_REGIONS,
    UnknownNameError,
    canonical_model,
    canonical_region,
    check_model,
    check_region_ids,
)


def test_a_region_is_matched_ignoring_case() -> None:
    """JJJ is jjj: the id as the configured set spells it."""
    assert canonical_region("JJJ", NATIONAL_REGIONS) == "jjj"
    assert canonical_region("csj", NATIONAL_REGIONS) == "csj"


def test_an_unknown_region_lists_the_known_ones() -> None:
    """bj is no region: the error lists every known id with what it stands for."""
    with pytest.raises(UnknownNameError) as info:
        canonical_region("bj", NATIONAL_REGIONS)
    message = str(info.value)
    assert "'bj'" in message and "did you mean" not in message
    assert "jjj (京津冀 Beijing-Tianjin-Hebei)" in message
    assert all(region in message for region in NATIONAL_REGIONS)


def test_a_near_miss_region_suggests_the_close_one() -> None:
    """jj is a typo of jjj."""
    with pytest.raises(UnknownNameError, match=r"did you mean jjj\?") as info:
        canonical_region("jj", NATIONAL_REGIONS)
    assert info.value.suggestions == ("jjj",)


@pytest.mark.parametrize("regions", [(), ("JJJ",), ("jjj", "jjj"), ("a b",), ("",)], ids=repr)
def test_a_configured_region_set_is_checked(regions: tuple[str, ...]) -> None:
    """A region set needs at least one lowercase id, none twice."""
    with pytest.raises(ValueError):
        check_region_ids(regions)


@pytest.mark.parametrize(
    ("written", "model"),
    [
        ("H100", "H100"),
        ("h100", "H100"),
        ("NVIDIA H100", "H100"),
        ("ascend-910b", "Ascend910B"),
        ("Ascend 910B", "Ascend910B"),
        ("l40s", "L40S"),
    ],
)
def test_a_model_has_one_spelling(written: str, model: str) -> None:
    """Case, separators and the vendor's name do not make another model."""
    assert check_model(written) == model
    assert canonical_model(written) == model


@pytest.mark.parametrize(
    ("written", "suggested"),
    [("H10", "H100"), ("H1OO", "H100"), ("H100-80GB", "H100"), ("a100x", "A100")],
)
def test_a_near_miss_model_is_refused_with_did_you_mean(written: str, suggested: str) -> None:
    """A name close to a known model but not it would never match: refused, with a hint."""
    with pytest.raises(UnknownNameError, match=f"did you mean {suggested}"):
        check_model(written)
    assert canonical_model(written) == written  # what hardware reports is never refused


@pytest.mark.parametrize("written", ["MI300X", "B300", "Ascend910D", "x" * 1000])
def test_a_model_unlike_every_known_one_is_new_hardware(written: str) -> None:
    """New hardware (and a new letter of a lettered series) is taken as written."""
    assert check_model(written) == written
