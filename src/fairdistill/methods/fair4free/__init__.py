"""Fair4Free (Sikder, de Leng, Heintz 2024): fair VAE teacher, data-free student, teacher decoder.

``Fair4Free`` is the estimator; ``penalty`` holds the V^2, distance-correlation and kernel independence penalties,
``teacher`` the mixed-type tabular VAE, ``student`` the noise -> latent network with its distillation losses and
``parity`` the per-group label repair of generated rows.
"""
from .estimator import Fair4Free
from .parity import parity_offsets
from .penalty import dcor2, kernel_v2, v2_analytic
from .student import Student, sliced_wasserstein
from .teacher import TabularVAE

__all__ = ["Fair4Free", "Student", "TabularVAE", "dcor2", "kernel_v2", "parity_offsets", "sliced_wasserstein",
           "v2_analytic"]
