"""sflaudit: train split-federated self-supervised models (MocoSFL, MonAcoSFL) and audit them per cut depth."""

from sflaudit.errors import SflauditError

__version__ = "0.1.0"

__all__ = ["SflauditError", "__version__"]
