"""Demand-region and accelerator-model names: what the router, the agents and the client
library agree on.

**Regions.** A workload's ``origin_region`` and the keys of a site's ``[latency_ms]`` and
``[latency_probe] targets`` name demand regions. They come from one configured set, the same
in the router (``[network] regions``) and in every agent (``[site] regions``), by default the
four eastern demand regions of the national network (:data:`NATIONAL_REGIONS`). Region ids
are lowercase; a name that differs from one only in case is that region (``JJJ`` is
``jjj``), and any other name is refused, with the close ones suggested and the known ones
listed.

**Accelerator models.** Each known model has one spelling (:data:`KNOWN_MODELS`). A name
equal to a known one when case, spaces, ``-``, ``_``, ``.`` and a vendor prefix are ignored
is that model (``h100``, ``NVIDIA H100``, ``ascend-910b``). A name close to a known one but
not it (``H10``, ``H1OO``, ``H100-80GB``) is refused with "did you mean". Any other name is
taken as written, since new hardware appears before this list knows it; so is a new letter
of a lettered series (``Ascend910D`` beside 910B and 910C).

Like :mod:`netrouter.contract.broker` and :mod:`netrouter.contract.limits`, this module imports nothing of ours.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Collection, Iterable

NATIONAL_REGIONS = ("jjj", "csj", "gba", "cy")
"""The demand regions of the national network (东数西算): the four eastern hubs."""

REGION_NAMES = {
    "jjj": "京津冀 Beijing-Tianjin-Hebei",
    "csj": "长三角 Yangtze River Delta",
    "gba": "粤港澳 Greater Bay Area",
    "cy": "成渝 Chengdu-Chongqing",
}
"""What each national region id stands for (shown when a region is refused)."""

REGION_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
"""A region id: lowercase letters, digits and '-', as a site id."""

KNOWN_MODELS = (
    # NVIDIA data-center GPUs, with the export variants sold in China (A800, H800, H20, L20).
    "V100",
    "T4",
    "A10",
    "A30",
    "A40",
    "A100",
    "A800",
    "L4",
    "L20",
    "L40",
    "L40S",
    "H20",
    "H100",
    "H200",
    "H800",
    "B200",
    "GB200",
    # Huawei Ascend NPUs (the 910B is the mainstay of the national clusters).
    "Ascend310P",
    "Ascend910",
    "Ascend910B",
    "Ascend910C",
    # Cambricon MLUs.
    "MLU370",
    "MLU590",
)
"""Accelerator models by their one spelling: NVML's short names (``NVIDIA H100 80GB HBM3`` is
``H100``) and the vendors' product names."""

_VENDOR = re.compile(r"^(nvidia|tesla|huawei|cambricon)[\s_-]*", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s_.-]+")
_CLOSE = 0.8
"""How alike (difflib's ratio) a name must be to a known one to be taken for a typo of it."""
_LONGEST_TYPO = 24
"""Names longer than this are never compared for likeness (none can be close to a known
one, and comparing costs time)."""


class UnknownNameError(ValueError):
    """A region or model name that is refused; the message says why and what is known.

    ``suggestions`` are the known names it resembles (for "did you mean")."""

    def __init__(self, message: str, *, suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.suggestions = suggestions


def check_region_ids(regions: Iterable[str]) -> tuple[str, ...]:
    """A configured region set, checked: at least one, each a lowercase id, none twice."""
    ids = tuple(regions)
    if not ids:
        raise ValueError("name at least one demand region")
    for region in ids:
        if not REGION_ID_PATTERN.match(region):
            raise ValueError(
                f"region {region!r}: use lowercase letters, digits and '-' (at most 63)"
            )
    repeated = sorted({r for r in ids if ids.count(r) > 1})
    if repeated:
        raise ValueError(f"region {repeated[0]!r} is named twice")
    return ids


def describe_regions(regions: Iterable[str]) -> str:
    """The regions as a list for messages: ``jjj (京津冀 Beijing-Tianjin-Hebei), ...``."""
    return ", ".join(f"{r} ({REGION_NAMES[r]})" if r in REGION_NAMES else r for r in regions)


def canonical_region(name: str, regions: Collection[str]) -> str:
    """The region of ``regions`` that ``name`` names (ignoring case); else
    :class:`UnknownNameError` suggesting close ones and listing them all."""
    if name in regions:
        return name
    folded = name.casefold()
    for region in regions:
        if region.casefold() == folded:
            return region
    close = _close(folded, {r.casefold(): r for r in regions})
    hint = f" (did you mean {_either(close)}?)" if close else ""
    raise UnknownNameError(
        f"unknown region {name!r}{hint}; known regions: {describe_regions(regions)}",
        suggestions=close,
    )


def canonical_model(name: str) -> str:
    """The known model that ``name`` spells differently (``h100`` → ``H100``), else
    ``name`` itself. Never refuses: for names read from hardware and from agents."""
    if name in _KNOWN:
        return name
    return _BY_KEY.get(_key(name), name)


def check_model(name: str) -> str:
    """The model ``name`` names, spelt as :data:`KNOWN_MODELS` does; a name unlike every
    known model is returned as written (new hardware). A name close to a known model but
    not it raises :class:`UnknownNameError` with "did you mean"."""
    if name in _KNOWN:
        return name
    key = _key(name)
    if key in _BY_KEY:
        return _BY_KEY[key]
    # "H100 80GB", "A100-SXM4": a known model with a variant written after it. Models are
    # named by their family (as NVML's names are shortened), so suggest the family.
    first = _SEPARATORS.split(_VENDOR.sub("", name.strip()), maxsplit=1)[0]
    family = _BY_KEY.get(_key(first)) if first else None
    close = (family,) if family else _close(key.replace("o", "0"), _BY_LOOKALIKE)
    if not close or (not family and _new_variant(key)):
        return name
    raise UnknownNameError(
        f"unknown accelerator model {name!r}: did you mean {_either(close)}? "
        "(a name unlike every known model is taken as new hardware)",
        suggestions=close,
    )


def _new_variant(key: str) -> bool:
    """Whether ``key`` is a new letter of a lettered series (Ascend910B and 910C make
    ``Ascend910D`` new hardware, not a typo)."""
    return key[-1:].isalpha() and key[:-1] in _LETTERED_SERIES


def _key(name: str) -> str:
    return _SEPARATORS.sub("", _VENDOR.sub("", name.strip())).casefold()


def _close(key: str, known: dict[str, str]) -> tuple[str, ...]:
    if not key or len(key) > _LONGEST_TYPO:
        return ()
    return _close_among(key, tuple(known.items()))


@functools.lru_cache(maxsize=1024)
def _close_among(key: str, known: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The names whose keys resemble ``key`` (cached: a new model's name recurs in every
    batch that asks for it)."""
    keys = dict(known)
    found = difflib.get_close_matches(key, list(keys), n=3, cutoff=_CLOSE)
    return tuple(dict.fromkeys(keys[k] for k in found))


def _either(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


_KNOWN = frozenset(KNOWN_MODELS)
_BY_KEY = {_key(m): m for m in KNOWN_MODELS}
_BY_LOOKALIKE = {_key(m).replace("o", "0"): m for m in KNOWN_MODELS}
"""Known models by their key with the letter o read as zero (``H1OO`` is a typo of H100)."""
_LETTERED_SERIES = frozenset(k[:-1] for k in _BY_KEY if k[-1].isalpha() and k[-2].isdigit())
"""Keys that known models extend by one letter (``ascend910`` of 910B, ``l40`` of L40S)."""
