"""Solving as a service: the solvers behind a JSON HTTP API on Ray Serve (``hrm serve``, the [serve] extra).

``serving.engine`` (no Ray): the solvers with their ACT loops shared across concurrent requests;
``serving.app``: the Ray Serve deployment; ``serving.server``: start/stop a local instance;
``serving.client`` (no Ray): ``HRMClient`` and ``RemoteSudokuSolver``. Layers point one way: serving imports
``solvers`` and ``hrm_sdk``, never the other way round.
"""
