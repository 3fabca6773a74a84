"""Starting and stopping a local Ray Serve instance with the HRM application (``hrm serve``, the tests, the
load test). Ray is started small and of its own (``address="local"``: not a cluster that ``ray start`` or
RAY_ADDRESS names; a cluster takes ``serving/config.yaml`` through ``serve deploy``): ``num_cpus`` as asked,
no dashboard."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import urllib.error
import urllib.request

from hrm_sdk.errors import HRMError, require

from .engine import ServeOptions

log = logging.getLogger(__name__)


def start(options: ServeOptions, host: str = "127.0.0.1", port: int = 8000, replicas: int = 1,
          num_cpus: float = 1.0, timeout_s: float = 300.0) -> str:
    """Start Ray (if not running), Serve on host:port and the app; wait until /healthz answers; -> base URL."""
    require("ray", "serve", "hrm serve")
    import ray
    from ray import serve

    from .app import build

    if not ray.is_initialized():
        main = threading.current_thread() is threading.main_thread()
        handler = signal.getsignal(signal.SIGTERM) if main else None
        # "local": a new Ray of our own, even where `ray start` left a cluster address in /tmp/ray
        ray.init(address="local", num_cpus=max(1, int(round(replicas * num_cpus))), include_dashboard=False,
                 logging_level=logging.WARNING, log_to_driver=False)
        if main and handler is not None:  # ray.init's own SIGTERM handler kills the process: keep the caller's
            signal.signal(signal.SIGTERM, handler)
    serve.start(http_options={"host": host, "port": port})
    serve.run(build(options, replicas, num_cpus), name="hrm", route_prefix="/", blocking=False)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    wait_healthy(url, timeout_s)
    return url


def wait_healthy(url: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise HRMError(f"the server at {url} did not become healthy within {timeout_s:.0f} s ({last})")


def stop() -> None:
    """Shut Serve and Ray down (what Ctrl-C does in ``hrm serve``)."""
    import contextlib
    import sys

    import ray
    from ray import serve

    with contextlib.redirect_stdout(sys.stderr):  # Ray's own shutdown notes are messages, not results
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
