"""Stage 4, shards -> trained models (rules extract_vgg16_features, train_<model>).

``registry`` lists the models busflow trains (one entry each: the paper's three and any added,
docs in README "Adding a model"); ``builders`` builds them in backend-agnostic Keras 3;
``weights`` finds the VGG16 ImageNet weights offline; ``features`` names the cached VGG16
features; ``training`` fits a model resumably and deterministically.
"""
