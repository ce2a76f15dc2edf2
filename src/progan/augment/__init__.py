"""Augmenting every image the discriminator sees, for small data sets.

ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data"): an
ordered pipeline of operations, each applied with probability ``p``, the geometric ones composed
into one matrix and resampled once; ``p`` adapted from the overfitting heuristic
``r_t = E[sign(D(reals))]``. DiffAugment (Zhao et al. 2020): the fixed differentiable policies
``color``, ``translation``, ``cutout``.

Modules: ``geometry`` (transform
matrices and the resampling), ``color`` (colour matrices and the image-space filter bank),
``ada`` (the ADA pipeline), ``diffaugment``, ``controller`` (the p update), ``runtime`` (what the
training loop holds). The operation, group and policy names live in :mod:`progan.augment_names`
(no torch), which ``progan.config`` validates with; nothing is imported here.
"""
