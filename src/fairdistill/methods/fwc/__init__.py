"""FWC — Fair Wasserstein Coresets (Xiong et al., NeurIPS 2024) and its special case FairWASP (AAAI 2024).

``encoding`` (Z = (D, X, Y)), ``allocation`` (labels of the coreset points), ``dual`` (the inner LP F(C) and its
cutting-plane dual solver), ``mm`` (majorization–minimization over the coreset features), ``estimator`` (the
``FWC`` and ``FairWASP`` methods).
"""
