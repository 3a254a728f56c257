"""Stage 6, per-model results -> what a reader sees (rules compare_models, plot_figures,
write_model_card; the Snakemake report).

The comparison table beside the paper's Table 1 and Hadad et al. (``comparison``), the figures
(``figures``), the model card (``model_card``), both protocols side by side (``protocols``,
``python -m busflow.report.protocols``) and each rule's time and memory (``rule_times``,
``python -m busflow.report.rule_times``).
"""
