"""`hrm serve`: the solvers as an HTTP service on Ray Serve (the [serve] extra).

    hrm serve                                     # Sudoku on http://127.0.0.1:8000, one replica
    hrm serve --task all --replicas 2 --host 0.0.0.0
    curl -s localhost:8000/v1/sudoku/solve -d '{"puzzle": "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"}'

Messages go to stderr; Ctrl-C shuts Serve and Ray down and exits 130.
"""

from __future__ import annotations

import signal
import time
from typing import Annotated

import typer

from . import output
from .options import Backend, BackendOpt, DeviceOpt, ModelOpt, Precision, PrecisionOpt, precision_arg

EXAMPLES = """Examples:
  hrm serve
  hrm serve --task all --replicas 2 --port 8080
  curl -s localhost:8000/v1/sudoku/solve -d '{"puzzles": ["..41...5.7.64.......3.7.2....5...3.68.17.........3........2.47.9.......1.1.3....."]}'"""


def _interrupt_on_signals() -> None:
    """Ctrl-C (SIGINT, even where the shell started us ignoring it) and SIGTERM (``docker stop``, ``kill``)
    both raise KeyboardInterrupt, so both shut Serve and Ray down."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


@output.handle_errors
def serve(
    task: Annotated[str, typer.Option(help="sudoku | maze | arc | all.")] = "sudoku",
    model: ModelOpt = "",
    backend: BackendOpt = Backend.auto,
    device: DeviceOpt = "",
    precision: PrecisionOpt = Precision.auto,
    replicas: Annotated[int, typer.Option(min=1, help="Replicas of the server (each holds the models).")] = 1,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    max_puzzles: Annotated[int, typer.Option(min=1, help="Most puzzles in one request (more: HTTP 413).")] = 256,
    batch_size: Annotated[int, typer.Option(min=1, help="Slots of each replica's shared ACT batch.")] = 64,
    num_cpus: Annotated[float, typer.Option(help="CPUs Ray reserves per replica.")] = 1.0,
) -> None:
    """Serve the solvers over HTTP: POST /v1/{task}/solve, GET /healthz, GET /v1/stats (Ray Serve)."""
    output.setup_logging()
    from hrm_sdk.errors import HRMError

    from hrm_sdk.serving.engine import ServeOptions, task_names
    from hrm_sdk.serving import server

    known = task_names()
    tasks = known if task == "all" else tuple(t.strip() for t in task.split(","))
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise HRMError(f"unknown task {unknown[0]!r}; expected {', '.join(known)} or all")
    if model and len(tasks) > 1:
        raise HRMError("--model names one model: serve one --task with it")
    if replicas < 1 or max_puzzles < 1 or batch_size < 1:
        raise HRMError("--replicas, --max-puzzles and --batch-size must be at least 1")
    options = ServeOptions(tasks=tasks, model=model or None, backend=backend.value, device=device or None,
                           precision=precision_arg(precision), batch_size=batch_size, max_puzzles=max_puzzles)
    _interrupt_on_signals()
    output.message(f"starting Ray Serve ({replicas} replica(s), {', '.join(tasks)}) ...")
    try:
        url = server.start(options, host=host, port=port, replicas=replicas, num_cpus=num_cpus)
        output.message(f"serving on {url}: POST {url}/v1/{{{'|'.join(tasks)}}}/solve, GET {url}/healthz "
                       f"(Ctrl-C to stop)")
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        output.message("shutting down ...")
        server.stop()
        raise typer.Exit(output.EXIT_INTERRUPTED) from None
    except BaseException:
        server.stop()
        raise
