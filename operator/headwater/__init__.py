"""headwater: dataflows of Python functions over datasets, on Kubernetes or a laptop."""

__version__ = "0.1.0"
