"""Datasets on disk (``dataset``): splits of token arrays with their metadata, written atomically, and the
training samplers. What a puzzle type is (codec, parsers, augmentations, build) lives in ``hrm_sdk.tasks``."""
