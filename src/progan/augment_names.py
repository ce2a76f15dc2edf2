"""Names of the augmentation operations, ADA's groups and DiffAugment's policies (no torch: the
configuration validates against these).

Groups and operation order are those of the ADA paper (Karras et al. 2020, Appendix B; the
``--augpipe`` choices of stylegan2-ada-pytorch); DiffAugment's policies are those of Zhao et al. 2020.
"""

from __future__ import annotations

import difflib

# Execution order of the ADA pipeline (paper, Appendix B.1): pixel blitting, general geometric
# transforms, colour transforms, image-space filtering, image-space corruptions.
BLIT_OPS = ("xflip", "rotate90", "xint")
GEOM_OPS = ("scale", "rotate", "aniso", "xfrac")
COLOR_OPS = ("brightness", "contrast", "lumaflip", "hue", "saturation")
ADA_OPS: tuple[str, ...] = BLIT_OPS + GEOM_OPS + COLOR_OPS + ("imgfilter", "noise", "cutout")

ADA_GROUPS: dict[str, tuple[str, ...]] = {
    "blit": BLIT_OPS,
    "geom": GEOM_OPS,
    "color": COLOR_OPS,
    "filter": ("imgfilter",),
    "noise": ("noise",),
    "cutout": ("cutout",),
    "bg": BLIT_OPS + GEOM_OPS,
    "bgc": BLIT_OPS + GEOM_OPS + COLOR_OPS,
    "bgcf": BLIT_OPS + GEOM_OPS + COLOR_OPS + ("imgfilter",),
    "bgcfn": BLIT_OPS + GEOM_OPS + COLOR_OPS + ("imgfilter", "noise"),
    "bgcfnc": ADA_OPS,
}

DIFFAUG_POLICIES: tuple[str, ...] = ("color", "translation", "cutout")


def _unknown(entry: str, choices: list[str], what: str) -> ValueError:
    close = difflib.get_close_matches(entry, choices, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ValueError(f"unknown {what} {entry!r}{hint}; choose from {', '.join(choices)}")


def _entries(spec: str) -> list[str]:
    return [e.strip() for e in spec.split(",") if e.strip()]


def parse_pipeline(spec: str) -> tuple[str, ...]:
    """ADA operations named by ``spec``: groups and/or operations, comma-separated (e.g. ``bgc`` or
    ``xflip,rotate90,brightness``), returned in the pipeline's execution order. ValueError if unknown."""
    entries = _entries(spec)
    if not entries:
        raise ValueError("the ADA pipeline is empty; name a group (e.g. bgc) or operations")
    chosen: set[str] = set()
    for e in entries:
        if e in ADA_GROUPS:
            chosen.update(ADA_GROUPS[e])
        elif e in ADA_OPS:
            chosen.add(e)
        else:
            raise _unknown(e, list(dict.fromkeys([*ADA_GROUPS, *ADA_OPS])), "ADA pipeline entry")
    return tuple(op for op in ADA_OPS if op in chosen)


def parse_policy(spec: str) -> tuple[str, ...]:
    """DiffAugment policies named by ``spec`` (comma-separated), in the order given. ValueError if unknown."""
    entries = _entries(spec)
    if not entries:
        raise ValueError("the DiffAugment policy is empty; use e.g. color,translation,cutout")
    for e in entries:
        if e not in DIFFAUG_POLICIES:
            raise _unknown(e, list(DIFFAUG_POLICIES), "DiffAugment policy")
    return tuple(dict.fromkeys(entries))
