"""Stage 5, trained models -> per-model results (rules choose_operating_point, evaluate_model,
evaluate_external, summarise_folds, scorecam_examples).

Test metrics with bootstrap confidence intervals (``metrics``), the decision threshold chosen on
validation data (``operating_point``), probability calibration (``calibration``), test-time
augmentation (``tta``), k-fold means (``crossval``) and the Score-CAM heat maps (``scorecam``).
"""
