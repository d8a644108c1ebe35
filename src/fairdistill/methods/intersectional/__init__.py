"""Hierarchical intersectional augmentation (Maheshwari, Bellet, Denis, Keller, arXiv 2405.14521).

``hierarchy`` builds groups and parents, ``generators`` the three generator variants, ``training`` the MMD training
and model selection, ``estimator`` the ``IntersectionalAugmentation`` and ``EqualSampling`` methods.
"""
from .estimator import EqualSampling, IntersectionalAugmentation, equal_sample
from .generators import VARIANTS, make_generator
from .hierarchy import ANY, GroupHierarchy, parent_patterns
from .training import GeneratorConfig, discriminator_score, hierarchical_loss, train_generators

__all__ = ["ANY", "EqualSampling", "GeneratorConfig", "GroupHierarchy", "IntersectionalAugmentation", "VARIANTS",
           "discriminator_score", "equal_sample", "hierarchical_loss", "make_generator", "parent_patterns",
           "train_generators"]
