"""Patients: the unit that must never sit on both sides of a split.

A CSV site (or external set) may carry a ``patient`` column (busflow.data.label_csv); BUS-BRA
has two views of most lesions, one patient's. The manifest's ``group`` (the unit every split,
fold and leave-one-site-out fold keeps together) is then the union of duplicate groups and
patients: images of one patient, and every duplicate of them, share a group. Such a group's key
starts with ``p`` (a duplicate group's with ``g``), so later steps know the unit is the patient:
confidence intervals resample groups, and say which (busflow.evaluate.metrics).

Label conflicts are still judged on duplicate groups alone: one patient may have a benign and a
malignant lesion, one picture may not have two labels.
"""

import pandas as pd

from busflow.data.duplicates import UnionFind
from busflow.errors import ConfigError

PATIENT_KEY = "p"


def has_patients(images: pd.DataFrame) -> bool:
    return "patient" in images and images["patient"].astype(str).str.len().gt(0).any()


def check_patients_within_sites(images: pd.DataFrame) -> None:
    """One patient id at two sites is two hospitals' numbering colliding (or a real patient seen
    twice, which busflow cannot tell): refuse it by name rather than merge strangers."""
    if not has_patients(images):
        return
    named = images[images["patient"].astype(str) != ""]
    sites = named.groupby("patient")["site"].unique()
    shared = sites[sites.map(len) > 1]
    if len(shared):
        patient = shared.index[0]
        raise ConfigError(
            f"patient id '{patient}' is used at sites {', '.join(map(str, shared.iloc[0]))}"
            + (f" ({len(shared) - 1} more ids are shared)" if len(shared) > 1 else "")
            + ". Patient ids must be unique across sites: prefix each site's ids (e.g. "
            "busbra-0002), or give one patient the same id only where it is the same person and "
            "list the images at one site."
        )


def patient_groups(images: pd.DataFrame) -> pd.Series:
    """Each row's group key with patients merged in (rows without a patient keep theirs)."""
    if not has_patients(images):
        return images["group"]
    union = UnionFind(len(images))
    first_of: dict[tuple, int] = {}
    for i, (group, patient) in enumerate(zip(images["group"], images["patient"].astype(str))):
        for key in [("g", group)] + ([("p", patient)] if patient else []):
            union.union(first_of.setdefault(key, i), i)
    roots = [union.find(i) for i in range(len(images))]
    smallest, with_patient = {}, set()
    for root, pixel_hash, patient in zip(roots, images["pixel_sha256"], images["patient"]):
        smallest[root] = min(smallest.get(root, pixel_hash), pixel_hash)
        if str(patient):
            with_patient.add(root)
    return pd.Series(
        [(PATIENT_KEY if root in with_patient else "g") + smallest[root][:16] for root in roots],
        index=images.index,
        name="group",
    )
