"""Dataset distillation: DM, DC and FairDD on each (METHODS.md §2-§4)."""
from .base import Distiller, preview_uint8
from .dc import DC, FairDDDC
from .dm import DM, FairDDDM

__all__ = ["DM", "DC", "FairDDDM", "FairDDDC", "Distiller", "preview_uint8"]
