"""data.raw read as sites: one folder (one site) or a list of ``{name, path}`` sites
(busflow.data.sites holds what the split and evaluation make of them)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Site:
    name: str
    path: str
    masks: str | None = None  # a folder of lesion masks (busflow.data.regions)


def sites_of(data_cfg: dict) -> list[Site]:
    """The sites of ``data.raw``; a single folder is one site named after the folder."""
    raw = data_cfg["raw"]
    if not is_multi_site(data_cfg):
        return [Site(name="", path=str(raw), masks=data_cfg.get("masks"))]
    return [Site(entry["name"], entry["path"], entry.get("masks")) for entry in raw]


def is_multi_site(data_cfg: dict) -> bool:
    return isinstance(data_cfg["raw"], (list, tuple))
