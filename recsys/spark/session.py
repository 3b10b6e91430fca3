"""The one place a SparkSession is made: master URL, memory, quiet logs, no web UI, and a clear error when
Spark cannot run here.

The master comes from the caller (`--spark-master`), else RECSYS_SPARK_MASTER, else `local[2]`, so the same
code runs on a laptop and on a cluster (`spark://host:7077`, `yarn`, `k8s://...`, or Spark Connect `sc://...`).
Memory: RECSYS_SPARK_DRIVER_MEMORY (default 4g) and RECSYS_SPARK_EXECUTOR_MEMORY (default 4g, cluster only);
RECSYS_SPARK_JAVA_OPTIONS replaces the driver JVM's extra options (default `DRIVER_JAVA_OPTIONS`). All only take
effect when the JVM starts, i.e. for the first session of a process.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
import uuid
from pathlib import Path

from recsys._logs import verbose

DEFAULT_MASTER = "local[2]"
INSTALL_HINT = "install with: make spark"
LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")
# The JIT compiles a method with C2 only after 3x the usual calls: a local ALS fit spends most of its first run
# compiling lukewarm code. Measured on 2 cores (bench notes in README "Speed"): the JVM's CPU for the built-in
# comparison's fit 20.8 -> 18.1 s (C2 7.0 -> 4.9 s), and a 2.3M-rating fit no slower (36.2 vs 36.1 s).
DRIVER_JAVA_OPTIONS = "-XX:CompileThresholdScaling=3"


class SparkUnavailableError(RuntimeError, ValueError):
    """Spark cannot run on this machine (no pyspark or no Java); the message says how to fix it.

    A ValueError too, so the CLI reports it as one line like any other bad setting."""


def master_url(master: str | None = None) -> str:
    """The Spark master to use: the explicit value, else RECSYS_SPARK_MASTER, else local[2]."""
    return (master or os.environ.get("RECSYS_SPARK_MASTER") or DEFAULT_MASTER).strip()


def unavailable_reason(master: str | None = None) -> str | None:
    """Why Spark cannot run here, or None when it can. Cheap: imports nothing and starts no JVM."""
    if importlib.util.find_spec("pyspark") is None:
        return f"unavailable: pyspark is not installed; {INSTALL_HINT}"
    if master_url(master).startswith("sc://"):
        return None  # Spark Connect: the JVM runs on the server
    java_home = os.environ.get("JAVA_HOME")
    if not (shutil.which("java") or (java_home and (Path(java_home) / "bin" / "java").exists())):
        return f"unavailable: Java is missing (Spark needs a Java 17+ runtime, e.g. openjdk-17-jre-headless); {INSTALL_HINT}"
    return None


def java_options() -> str:
    """Extra options of the driver JVM: RECSYS_SPARK_JAVA_OPTIONS, else DRIVER_JAVA_OPTIONS."""
    return os.environ.get("RECSYS_SPARK_JAVA_OPTIONS", DRIVER_JAVA_OPTIONS).strip()


def get_spark(master: str | None = None, app_name: str = "recsys"):
    """The process-wide SparkSession (created on first use). Raises SparkUnavailableError with the fix."""
    url = master_url(master)
    reason = unavailable_reason(url)
    if reason:
        raise SparkUnavailableError(f"Spark {reason}")
    from pyspark.sql import SparkSession

    if url.startswith("sc://"):
        return SparkSession.builder.remote(url).appName(app_name).getOrCreate()
    local = url.startswith("local")
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no "hostname resolves to loopback" warning
    builder = (
        SparkSession.builder.master(url)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", os.environ.get("RECSYS_SPARK_DRIVER_MEMORY", "4g"))
        .config(
            "spark.sql.shuffle.partitions", os.environ.get("RECSYS_SPARK_SHUFFLE_PARTITIONS", "4" if local else "200")
        )
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.extraJavaOptions", f"{_log_option()}{java_options()}")
    )
    if local:
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
    else:
        builder = builder.config("spark.executor.memory", os.environ.get("RECSYS_SPARK_EXECUTOR_MEMORY", "4g"))
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start (wrong Java, no memory): one clear line, not a Py4J dump
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SparkUnavailableError(f"Spark could not start with master '{url}': {first}") from exc
    spark.sparkContext.setLogLevel(os.environ.get("RECSYS_SPARK_LOG_LEVEL", "WARN" if verbose() else "ERROR"))
    return spark


def _log_option() -> str:
    """The JVM option pointing log4j2 at our errors-only console config; Spark's own defaults when verbose."""
    return "" if verbose() else f"-Dlog4j2.configurationFile=file:{LOG_CONFIG} "


_warming: dict[str, threading.Thread] = {}
_warming_lock = threading.Lock()


def start_in_background(master: str | None = None) -> threading.Thread | None:
    """Start the process-wide session on a daemon thread (a JVM takes ~3 s to start, mostly in its own process)
    so a fit that follows finds it ready. Does nothing when Spark cannot run here: the fit then raises the
    clear error. A later `get_spark` waits for this start (pyspark creates one session under a lock)."""
    url = master_url(master)
    if unavailable_reason(url):
        return None
    with _warming_lock:
        thread = _warming.get(url)
        if thread is None:

            def start() -> None:
                try:
                    get_spark(url)
                except Exception:  # reported by the fit's own get_spark call, on the caller's thread
                    pass

            thread = _warming[url] = threading.Thread(target=start, name="recsys-spark-start", daemon=True)
            thread.start()
        return thread


def als_blocks(spark) -> int:
    """ALS user/item blocks: RECSYS_SPARK_ALS_BLOCKS, else the session's default parallelism (2 on local[2]).

    Spark seeds each block's initial factors separately, so the factors depend on this number too: pin it
    to reproduce a cluster fit elsewhere. Spark's default (10) makes tiny local fits ~7x slower.
    """
    value = os.environ.get("RECSYS_SPARK_ALS_BLOCKS")
    if value:
        return max(1, int(value))
    try:
        return max(1, int(spark.sparkContext.defaultParallelism))
    except Exception:  # Spark Connect: no SparkContext on the client
        return 10


def run_with_progress(
    spark, action, progress=None, start: float = 0.0, width: float = 1.0, label: str = "Spark", interval: float = 0.5
):
    """`action()` with Spark's own stage progress reported to `progress(fraction, message)`.

    The action runs in a worker thread whose jobs carry a job group; this (the caller's) thread polls the
    status tracker, so progress callbacks stay on the caller's thread (Streamlit needs that).
    fraction = finished tasks / tasks of the stages Spark has planned so far.
    """
    if progress is None or not hasattr(spark, "sparkContext"):  # Spark Connect has no status tracker
        return action()
    sc = spark.sparkContext
    group = f"recsys-{uuid.uuid4().hex}"
    outcome: dict = {}

    def work():
        sc.setJobGroup(group, label)
        try:
            outcome["value"] = action()
        except BaseException as exc:  # re-raised on the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    tracker, best = sc.statusTracker(), 0.0
    while thread.is_alive():
        thread.join(interval)
        done = total = 0
        for job in tracker.getJobIdsForGroup(group):
            info = tracker.getJobInfo(job)
            for stage in info.stageIds if info else ():
                s = tracker.getStageInfo(stage)
                if s is not None:
                    done, total = done + s.numCompletedTasks, total + s.numTasks
        if total and done / total > best:
            best = done / total
            progress(start + width * min(best, 0.99), f"{label}: {done:,}/{total:,} tasks")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
