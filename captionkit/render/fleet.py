"""Render a dataset of captions on a Ray cluster: Ray Data, one warm pipeline per GPU (the ``ray`` extra).

:func:`render_dataset` reads the same sources as ``captionkit render`` and
plans the run with the same code as a local batch (:func:`~captionkit.render.batch.plan_batch`):
the outputs already present are checked against this run's recipe and
skipped, and a conflicting one stops the run before anything renders. The
outputs still to render go to ``Dataset.map_batches`` with a fixed pool of
actors; each actor holds one :class:`~captionkit.render.Renderer`, loaded once
and kept warm across its batches, and writes each PNG atomically as soon as
it is rendered, with the recipe in its metadata. The driver collects the
per-item results and writes ``manifest.json`` exactly as a local batch does.

Each Ray task carries one item (one caption and its seeds), so a worker that
dies loses only the item in flight: Ray Data restarts the actor and retries
the task (its actor pools default to unlimited restarts and task retries).
An item that kills its worker ``max_attempts`` times is recorded as failed,
so one poisonous caption cannot stall a fleet.

The actors write into ``out`` directly: on a cluster of several machines it
must be storage that every node sees at the same path (NFS, a shared volume).

Typical use::

    from captionkit.render import render_dataset
    result = render_dataset("captions.jsonl", "renders/", model="/models/ideogram-4",
                            address="ray://head:10001", runtime_env={"pip": ["captionkit[render]"]})
    print(result.rendered, result.skipped, result.failed)
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captionkit._io import OutputError, check_writable
from captionkit.render.batch import (
    BatchItem,
    BatchResult,
    ItemPlan,
    batch_settings,
    iter_items,
    output_name,
    plan_batch,
    render_planned,
    report_skips,
    settled_entries,
    unique_names,
    write_manifest,
)
from captionkit.render.errors import Cancelled, RenderError
from captionkit.render.hub import DEFAULT_MODEL
from captionkit.render.pipeline import Renderer
from captionkit.render.presets import Preset
from captionkit.render.progress import CancelToken, ProgressCallback, ProgressEvent

__all__ = ["CRASH_HOOK", "DatasetPlan", "RenderWorker", "dispatch_plan", "plan_dataset", "read_sources", "render_dataset"]

#: Test hook: ``N:PATH`` makes the first actor that reaches the first denoising
#: step of its N-th item exit at once, unless the file PATH exists (it is
#: created first, so it happens once per run). Read from the driver's
#: environment, else from the actor's (a runtime environment's ``env_vars``).
CRASH_HOOK = "CAPTIONKIT_RAY_TEST_CRASH"
_POLL_S = 0.2
_CANCEL_CHECK_S = 0.5


def _require_ray() -> None:
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.data") is None:
        raise RenderError("the ray engine needs the ray extra: pip install 'captionkit[ray]'")


def read_sources(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str] | BatchItem]) -> list[BatchItem]:
    """The items of one source or several, read as ``captionkit render`` reads them.

    Paths (caption files, JSONL, PNGs, folders) are read with
    :func:`~captionkit.render.batch.iter_items` and repeated names get a
    suffix across all of them; a list of :class:`BatchItem` is used as given.

    >>> [it.name for it in read_sources([BatchItem("a", "x", "{}")])]
    ['a']

    Raises:
        RenderError: a path does not exist, or a folder holds no captions.
    """
    if isinstance(source, (str, os.PathLike)):
        return iter_items(source)
    given = list(source)
    if all(isinstance(s, BatchItem) for s in given):
        return given  # type: ignore[return-value]
    items: list[BatchItem] = []
    for s in given:
        items.extend([s] if isinstance(s, BatchItem) else iter_items(s))
    return unique_names(items)


def dispatch_plan(plans: Sequence[ItemPlan]) -> list[ItemPlan]:
    """The plans that need a render: readable items with outputs still missing (one Ray task each).

    >>> dispatch_plan([ItemPlan(0, BatchItem("a", "x", "{}"), (0,), todo=(0,)),
    ...                ItemPlan(1, BatchItem("b", "y", "{}"), (0,))])[0].item.name
    'a'
    """
    return [p for p in plans if p.item.error is None and p.todo]


class _Hub:
    """The driver's mailbox (a Ray actor): progress events, item starts, and the cancel flag."""

    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []
        self.starts: dict[int, int] = {}
        self.cancelled = False

    def put(self, events: list[ProgressEvent]) -> None:
        self.events.extend(events)

    def drain(self) -> list[ProgressEvent]:
        out, self.events = self.events, []
        return out

    def begin(self, index: int) -> int:
        """Count a start of item ``index``; returns how many starts it has had."""
        self.starts[index] = self.starts.get(index, 0) + 1
        return self.starts[index]

    def cancel(self) -> None:
        self.cancelled = True

    def is_cancelled(self) -> bool:
        return self.cancelled


class RenderWorker:
    """The Ray Data callable class: one renderer per actor, loaded once, kept warm across batches.

    Each row of a batch is one item (``index`` and its pickled
    :class:`~captionkit.render.batch.ItemPlan`); each result row is the
    item's manifest entries as JSON, or a ``fatal`` line that stops the run
    (the pipeline cannot load, an output cannot be written).

    Args:
        options: :class:`~captionkit.render.Renderer` keyword arguments (``model`` included).
        out: Output folder, as the actor sees it.
        items: Number of items in the run (for progress).
        batch_size: Images per pipeline call.
        hub: The driver's mailbox actor.
        max_attempts: Starts after which an item that keeps killing its worker is failed.
        pipeline_factory: Builds the pipeline in the actor instead of loading ``options["model"]``.
        crash: The :data:`CRASH_HOOK` value, for tests.
    """

    def __init__(self, options: Mapping[str, Any], out: str, items: int, batch_size: int, hub: Any,
                 max_attempts: int, pipeline_factory: Callable[[], Any] | None = None, crash: str | None = None) -> None:
        self.out = Path(out)
        self.items = items
        self.batch_size = batch_size
        self.hub = hub
        self.max_attempts = max_attempts
        self.crash = crash or os.environ.get(CRASH_HOOK)
        self.started = 0
        self.crash_armed = False
        self.checked_at = 0.0
        self.fatal: str | None = None
        options = dict(options)
        try:
            pipeline = pipeline_factory() if pipeline_factory is not None else None
            self.renderer = Renderer(options.pop("model", None), pipeline=pipeline, **options)
            # load now: the pool starts warm, and the actors load in parallel
            self.renderer.load(self._progress)
        except (RenderError, OutputError) as exc:
            self.fatal = str(exc)
        except Cancelled:
            pass  # the run was cancelled while this actor loaded; every item it is given returns at once

    def _progress(self, event: ProgressEvent) -> None:
        if self.crash_armed and event.phase == "step":
            self.crash_armed = False
            _, _, marker = (self.crash or "").partition(":")
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                os._exit(1)
        self.hub.put.remote([event])
        now = time.monotonic()
        if now - self.checked_at >= _CANCEL_CHECK_S:
            import ray

            self.checked_at = now
            if ray.get(self.hub.is_cancelled.remote()):
                raise Cancelled("render cancelled")

    def _one(self, index: int, task: bytes) -> dict[str, Any]:
        import ray

        if self.fatal is not None:
            return {"fatal": self.fatal}
        if ray.get(self.hub.is_cancelled.remote()):
            return {"cancelled": True}
        plan: ItemPlan = pickle.loads(task)
        attempts = ray.get(self.hub.begin.remote(index))
        if attempts > self.max_attempts:
            it = plan.item
            why = (f"{it.source}: the worker rendering it died ({attempts - 1} of {self.max_attempts} tries); "
                   "not tried again")
            return {"entries": [{"name": it.name, "source": it.source, "rank": 0, "file": output_name(it.name, s),
                                 "seed": s, "status": "failed", "error": why} for s in plan.todo]}
        self.started += 1
        if self.crash and self.started == int(self.crash.split(":", 1)[0]):
            self.crash_armed = True
        try:
            entries = render_planned(self.renderer, plan, self.out, items=self.items, batch_size=self.batch_size,
                                     on_progress=self._progress)
        except Cancelled:
            return {"cancelled": True}
        except (RenderError, OutputError) as exc:
            return {"fatal": str(exc)}
        finally:
            self.crash_armed = False
        return {"entries": entries}

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        results = [json.dumps(self._one(int(i), bytes(t)), ensure_ascii=False)
                   for i, t in zip(batch["index"], batch["task"], strict=True)]
        return {"index": np.asarray(batch["index"]), "result": np.array(results, dtype=object)}


@dataclass
class _Cluster:
    """The Ray connection of one run, and what the actors ask of it."""

    started_here: bool
    runtime_env: dict[str, Any] | None
    gpus: float
    cpus: float | None
    workers: int


class _ConsoleFilter:
    """Keeps Ray Data's console to warnings and errors; its own progress notices are captionkit's job."""

    def filter(self, record: Any) -> bool:
        return record.levelno >= 30 and not str(record.msg).startswith("Progress bars")


def _quiet_ray_data() -> None:
    import logging

    for handler in logging.getLogger("ray.data").handlers:
        if isinstance(handler, logging.FileHandler) or "File" in type(handler).__name__:
            continue  # Ray Data's session log keeps everything
        if not any(isinstance(f, _ConsoleFilter) for f in handler.filters):
            handler.addFilter(_ConsoleFilter())


def _one_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and cause is not exc:
        exc = cause
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _check_reachable(address: str | None, timeout: float = 10.0) -> None:
    """Refuse, in one line, a cluster address nothing answers at (Ray itself retries for minutes).

    >>> _check_reachable(None), _check_reachable("auto")
    (None, None)
    """
    import socket

    if not address or address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[1] if "://" in address else address
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return  # not host:port; Ray words its own error
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RenderError(f"ray: cannot reach the cluster at {address} ({exc.strerror or exc}); "
                          "check --ray-address or RAY_ADDRESS") from None


def _connect(address: str | None, runtime_env: Mapping[str, Any] | None, *, workers: int | None, todo: int,
             gpus_per_worker: float | None, cpus_per_worker: float | None, device: str) -> _Cluster:
    import logging

    import ray

    started_here = False
    env = dict(runtime_env) if runtime_env else None
    if not ray.is_initialized():
        where = address or os.environ.get("RAY_ADDRESS") or "a local cluster"
        _check_reachable(address or os.environ.get("RAY_ADDRESS"))
        try:
            # the workers' logs stay in Ray's session logs: printed here they would land on stdout,
            # which carries the results (--format json)
            ray.init(address=address, runtime_env=env, logging_level=logging.WARNING, log_to_driver=False)
        except Exception as exc:  # ConnectionError, ValueError, RuntimeError: one line, the address
            raise RenderError(f"ray: cannot start or join {where} ({_one_line(exc)})") from None
        started_here = True
        env = None  # the job's runtime environment already covers the actors
    resources = ray.cluster_resources()
    total_gpus = float(resources.get("GPU", 0))
    gpus = gpus_per_worker if gpus_per_worker is not None else (1.0 if total_gpus and device != "cpu" else 0.0)
    cpus = cpus_per_worker if cpus_per_worker is not None else (None if gpus else 1.0)
    if workers is None:
        workers = max(1, int(total_gpus // gpus)) if gpus else 1
    workers = min(workers, todo)
    if started_here and address is None and not os.environ.get("RAY_ADDRESS"):
        # a local cluster has no autoscaler: a pool it cannot hold would wait forever
        need_gpus, need_cpus = workers * gpus, workers * (cpus or 0)
        if need_gpus > total_gpus or need_cpus > float(resources.get("CPU", 0)):
            ray.shutdown()
            raise RenderError(
                f"ray: {workers} workers need {need_gpus:g} GPUs and {need_cpus:g} CPUs, the local cluster has "
                f"{total_gpus:g} and {float(resources.get('CPU', 0)):g}; use fewer --workers"
            )
    return _Cluster(started_here, env, gpus, cpus, workers)


def render_dataset(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str] | BatchItem],
    out: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    preset: str | Preset | None = None,
    size: str | tuple[int, int] | None = None,
    seeds: Sequence[int] | None = None,
    batch_size: int = 4,
    resume: bool = True,
    workers: int | None = None,
    address: str | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    gpus_per_worker: float | None = None,
    cpus_per_worker: float | None = None,
    max_attempts: int = 3,
    pipeline_factory: Callable[[], Any] | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    **renderer_options: Any,
) -> BatchResult:
    """Render a dataset of captions on a Ray cluster, with the outputs, manifest and resume of a local batch.

    Args:
        source: A caption file, JSONL file, PNG or folder, several of them, or
            :class:`~captionkit.render.BatchItem` values.
        out: Output folder (shared storage on a cluster of several machines).
        model: Hub repo id or local folder (``DEFAULT_MODEL`` when None and no ``pipeline_factory``).
        preset: As :func:`~captionkit.render.render_batch`.
        size: As :func:`~captionkit.render.render_batch`.
        seeds: As :func:`~captionkit.render.render_batch`.
        batch_size: Images per pipeline call.
        resume: Keep outputs that already exist with the same recipe.
        workers: Actors, each with its own pipeline (default: one per GPU of
            the cluster, or one on a cluster without GPUs; never more than
            the items to render).
        address: Ray cluster to join (``ray://host:10001``, ``host:6379`` or
            ``auto``); when None, ``RAY_ADDRESS``, else a local cluster is
            started for this run. When Ray is already initialised in this
            process, that connection is used.
        runtime_env: Ray runtime environment for the run (for example
            ``{"pip": ["captionkit[render]"], "env_vars": {"HF_HOME": "/shared/hf"}}``).
        gpus_per_worker: GPUs per actor (default 1 when the cluster has GPUs, else 0).
        cpus_per_worker: CPUs per actor (default 1 on CPU; Ray Data's default with GPUs).
        max_attempts: Starts of one item before it is recorded as failed
            because its worker kept dying.
        pipeline_factory: A picklable callable that builds the pipeline in
            each actor (called once per actor, on its GPU), instead of loading ``model``.
        on_progress: Progress callback, called in this thread with the
            actors' events (``item`` is the item's place in the whole run)
            and a ``skip`` event per output already present.
        cancel: Cancel token: the actors stop at their next step; finished
            outputs and the manifest are kept.
        **renderer_options: :class:`~captionkit.render.Renderer` options for
            every actor (``quantization``, ``dtype``, ``compile``, ``offload``...).

    Returns:
        The manifest entries of the run, in item order (as :func:`render_batch`).

    Raises:
        RenderError: the ray extra is missing, an option or source is bad, an
            output conflicts with this run's settings, the cluster cannot be
            reached, or a worker cannot load the pipeline.
        Cancelled: cancelled; finished outputs and the manifest are kept.
    """

    _require_ray()
    if batch_size < 1:
        raise RenderError(f"batch size must be at least 1, got {batch_size}")
    if workers is not None and workers < 1:
        raise RenderError(f"workers must be at least 1, got {workers}")
    if max_attempts < 1:
        raise RenderError(f"max_attempts must be at least 1, got {max_attempts}")
    for name, value in (("gpus_per_worker", gpus_per_worker), ("cpus_per_worker", cpus_per_worker)):
        if value is not None and value < 0:
            raise RenderError(f"{name} must be 0 or more, got {value}")
    items = read_sources(source)
    chosen = os.fspath(model) if model is not None else (None if pipeline_factory is not None else DEFAULT_MODEL)
    # The driver's renderer never loads: it checks the options and stands for the actors' settings.
    probe = Renderer(chosen if chosen is not None else DEFAULT_MODEL, **renderer_options)
    probe.model = chosen
    out_dir = check_writable(out, folder=True)
    run = plan_dataset(probe, items, out_dir, preset=preset, size=size, seeds=seeds, resume=resume,
                       on_progress=on_progress)
    if not run.todo:
        if run.done:
            run.save(out_dir)
        return BatchResult(run.entries())
    options = {"model": chosen, **renderer_options}
    cluster = _connect(address, runtime_env, workers=workers, todo=len(run.todo), gpus_per_worker=gpus_per_worker,
                       cpus_per_worker=cpus_per_worker, device=str(renderer_options.get("device", "auto")))
    try:
        _run(run, cluster, options, out_dir, len(items), batch_size, max_attempts, pipeline_factory,
             on_progress, cancel)
    finally:
        run.save(out_dir)
        if cluster.started_here:
            import ray

            ray.shutdown()
    return BatchResult(run.entries())


@dataclass
class DatasetPlan:
    """The driver's side of a run: the entries known so far, per item, and the items to dispatch.

    Attributes:
        done: Manifest entries per item index (those of a local batch, as they become known).
        todo: The plans to render, one Ray task each.
        settings: The manifest's ``settings`` block.
    """

    done: dict[int, list[dict[str, Any]]]
    todo: list[ItemPlan]
    settings: dict[str, Any]

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, in item order (as :func:`~captionkit.render.render_batch` returns them)."""
        return [e for i in sorted(self.done) for e in self.done[i]]

    def save(self, out: Path) -> None:
        """Write the manifest as a local batch does."""
        write_manifest(out, self.entries(), self.settings)


def plan_dataset(
    renderer: Any,
    items: Sequence[BatchItem],
    out: Path,
    *,
    preset: str | Preset | None = None,
    size: str | tuple[int, int] | None = None,
    seeds: Sequence[int] | None = None,
    resume: bool = True,
    on_progress: ProgressCallback | None = None,
) -> DatasetPlan:
    """Plan a run as a local batch does: entries for what needs no render, ``skip`` events, and the work left.

    ``renderer`` only lends its settings (model, dtype...); it never loads.

    Raises:
        RenderError: an existing output was made with other settings (resume).
    """
    plans = plan_batch(renderer, items, out, preset=preset, size=size, seeds=seeds, resume=resume)
    out.mkdir(parents=True, exist_ok=True)
    for plan in plans:
        report_skips(plan, len(items), on_progress)
    return DatasetPlan({p.index: settled_entries(p) for p in plans}, dispatch_plan(plans),
                       batch_settings(renderer, preset, size))


def _run(run: DatasetPlan, cluster: _Cluster, options: dict[str, Any], out_dir: Path, items: int, batch_size: int,
         max_attempts: int, pipeline_factory: Callable[[], Any] | None, on_progress: ProgressCallback | None,
         cancel: CancelToken | None) -> None:
    """Run the Ray Data pipeline; results land in ``run.done`` (and the manifest) as they arrive."""
    import ray
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # captionkit reports progress itself
    _quiet_ray_data()
    context.print_on_execution_start = False
    hub = ray.remote(num_cpus=0)(_Hub).remote()
    rows = [{"index": p.index, "task": pickle.dumps(p)} for p in run.todo]
    # one row per block and per batch: a Ray task is one item, so a dying worker loses only that item
    ds = ray.data.from_items(rows, override_num_blocks=len(rows))
    resources: dict[str, Any] = {}
    if cluster.gpus:
        resources["num_gpus"] = cluster.gpus
    if cluster.cpus is not None:
        resources["num_cpus"] = cluster.cpus
    if cluster.runtime_env:
        resources["runtime_env"] = cluster.runtime_env
    ds = ds.map_batches(
        RenderWorker,
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=cluster.workers, max_tasks_in_flight_per_actor=1),
        fn_constructor_kwargs={
            "options": options, "out": str(out_dir), "items": items, "batch_size": batch_size, "hub": hub,
            "max_attempts": max_attempts, "pipeline_factory": pipeline_factory, "crash": os.environ.get(CRASH_HOOK),
        },
        **resources,
    )
    results: queue.Queue[tuple[str, Any]] = queue.Queue()

    def consume() -> None:
        try:
            for row in ds.iter_rows():
                results.put(("row", row))
        except BaseException as exc:  # handed to the driver's thread, which words it
            results.put(("error", exc))
        finally:
            results.put(("end", None))

    thread = threading.Thread(target=consume, name="captionkit-ray", daemon=True)
    thread.start()
    fatal: str | None = None
    failure: BaseException | None = None
    stopping = False

    def forward() -> None:
        for event in ray.get(hub.drain.remote()):
            if on_progress is not None:
                on_progress(event)

    try:
        while True:
            if cancel is not None and cancel.cancelled and not stopping:
                stopping = True
                hub.cancel.remote()
            forward()
            try:
                kind, value = results.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if kind == "end":
                break
            if kind == "error":
                failure = value
                continue
            result = json.loads(value["result"])
            if "fatal" in result and fatal is None:
                fatal = result["fatal"]
                stopping = True
                hub.cancel.remote()
            elif "entries" in result:
                run.done[int(value["index"])].extend(result["entries"])
                run.save(out_dir)
        forward()
    except BaseException:
        # Ctrl-C, or the progress callback raised: the workers stop at their next step
        hub.cancel.remote()
        thread.join(timeout=30)
        raise
    if fatal is not None:
        raise RenderError(fatal)
    if failure is not None:
        raise RenderError(f"ray: the run failed ({_one_line(failure)}); finished outputs are kept, "
                          "run again to resume") from None
    if cancel is not None and cancel.cancelled:
        raise Cancelled("render cancelled")
