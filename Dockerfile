FROM condaforge/miniforge3:latest
LABEL io.github.snakemake.containerized="true"
LABEL io.github.snakemake.conda_env_hash="16d92afe0c12d23bb9adffa70343fc5c1b6be08cd65746bd9bb5bc00f965dc77"
# Conda environment:
#   source: envs/data.yaml
#   prefix: /conda-envs/f24e29be67356b6a21256fc2d005b31f
#   # Data preparation, comparison and figures (no deep-learning framework).
#   # Pins must agree with pyproject.toml: tests/test_envs.py checks it. busflow itself is not installed:
#   # the jobs import it from the workflow's own folder (rules/common.smk puts it on PYTHONPATH).
#   channels:
#     - conda-forge
#     - nodefaults
#   dependencies:
#     - python=3.11
#     - pip
#     - pip:
#         - numpy==2.4.6
#         - pillow==13.0.0
#         - scipy==1.17.1
#         - scikit-learn==1.9.1
#         - pandas==3.1.1
#         - matplotlib==3.11.2
#         - h5py==3.14.0
#         - pyyaml==6.0.4
RUN mkdir -p /conda-envs/f24e29be67356b6a21256fc2d005b31f
COPY envs/data.yaml /conda-envs/f24e29be67356b6a21256fc2d005b31f/environment.yaml
# Conda environment:
#   source: envs/train.yaml
#   prefix: /conda-envs/b19df8ebc25d3c9bb9620b4e338d2c27
#   # The Keras rules on the CPU (training.environment: cpu), backend tensorflow or jax (the jax extra).
#   # Pins must agree with pyproject.toml: tests/test_envs.py checks it. busflow itself is not installed:
#   # the jobs import it from the workflow's own folder (rules/common.smk puts it on PYTHONPATH).
#   channels:
#     - conda-forge
#     - nodefaults
#   dependencies:
#     - python=3.11
#     - pip
#     - pip:
#         - tensorflow==2.21.0
#         - keras==3.15.1
#         - jax==0.10.2
#         - numpy==2.4.6
#         - pillow==13.0.0
#         - scipy==1.17.1
#         - scikit-learn==1.9.1
#         - pandas==3.1.1
#         - matplotlib==3.11.2
#         - h5py==3.14.0
#         - pyyaml==6.0.4
RUN mkdir -p /conda-envs/b19df8ebc25d3c9bb9620b4e338d2c27
COPY envs/train.yaml /conda-envs/b19df8ebc25d3c9bb9620b4e338d2c27/environment.yaml

RUN conda env create --prefix /conda-envs/f24e29be67356b6a21256fc2d005b31f --file /conda-envs/f24e29be67356b6a21256fc2d005b31f/environment.yaml && \
    conda env create --prefix /conda-envs/b19df8ebc25d3c9bb9620b4e338d2c27 --file /conda-envs/b19df8ebc25d3c9bb9620b4e338d2c27/environment.yaml && \
    conda clean --all -y
