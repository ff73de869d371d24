"""mtforge: a Kubeflow-native factory for multilingual machine-translation models.

The library holds all logic and never imports KFP. Components (``components/``) are thin
KFP adapters around the stages registered in :mod:`mtforge.stage`; pipelines
(``pipelines/``) only wire components together.
"""

__version__ = "0.1.0"
