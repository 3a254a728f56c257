"""Stage 7, trained models -> artefacts that leave the run, and predictions on new patients'
images (rules export_models, index_exports, predict_images; ``python -m busflow.predict``).

``export`` writes each model as stock Keras 3 with its model.json; ``new_images`` lists and decodes
unlabelled images as training did; ``export_index`` keeps results/export to the run's exports and
lists them; ``predictions`` loads exports and makes the per-image table (the rule and the command
line share it); ``cli`` is the command line.
"""
