"""Fair4Free (Sikder, de Leng, Heintz 2024): fair VAE teacher, data-free student, teacher decoder.

``Fair4Free`` is the estimator; ``penalty`` holds the V^2 and distance-correlation independence penalties, ``teacher``
the mixed-type tabular VAE and ``student`` the noise -> latent network with its distillation losses.
"""
from .estimator import Fair4Free
from .penalty import dcor2, v2_analytic
from .student import Student, sliced_wasserstein
from .teacher import TabularVAE

__all__ = ["Fair4Free", "Student", "TabularVAE", "dcor2", "sliced_wasserstein", "v2_analytic"]
