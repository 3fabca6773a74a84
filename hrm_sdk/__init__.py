"""hrm-sdk: train, export and run recursive reasoning models (HRM, TRM) as embeddable puzzle solvers.

Layout: ``hrm_sdk.model`` (the HRM/TRM family), ``hrm_sdk.data`` (codecs, augmentations, generators,
datasets), ``hrm_sdk.training`` (the trainer), ``hrm_sdk.runtime`` (backends and the host-side ACT loop),
``hrm_sdk.checkpoint`` (model files). Importing this package is cheap: torch loads only when a module
that needs it is imported.
"""

__version__ = "0.1.0"
