"""Several hospitals ("sites") as training data, and the leave-one-site-out evaluation.

``data.raw`` is one folder (one site; image ids are the paths inside it, as always) or a list of
``{name, path}`` sites, each a folder laid out like BUSI. With several sites an image's id starts
with its site's name (``busi/benign/benign (1)``) and the manifest records the site.

``evaluation.leave_one_site_out``: fold k trains on every site but the k-th and tests on all of
the k-th site's images; validation images are a hashed share of the training sites' groups. A
duplicate group that spans the held-out site and a training site is kept out of that fold's
training (split ``excluded``), so no picture of the held-out hospital is trained on.
"""

from busflow.config.sites import sites_of


def leave_one_site_out(config: dict) -> bool:
    return bool(config["evaluation"]["leave_one_site_out"])


def fold_count(config: dict) -> int:
    """Folds of the run: one per site under leave_one_site_out, else evaluation.folds."""
    if leave_one_site_out(config):
        return len(sites_of(config["data"]))
    return config["evaluation"]["folds"]


def held_out_sites(config: dict) -> list[str] | None:
    """Fold k's held-out site is the k-th site (None unless leave_one_site_out)."""
    return [site.name for site in sites_of(config["data"])] if leave_one_site_out(config) else None
