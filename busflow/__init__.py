"""busflow: breast-ultrasound benign/malignant classification, as importable, tested building
blocks.

The Snakemake workflow's scripts are thin wrappers around these modules.
"""

__version__ = "0.1.0"
