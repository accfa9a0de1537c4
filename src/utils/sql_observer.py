"""Sacred's SQL observer (`sql_url=sqlite:///results/sacred.db`), completed for this framework.

Sacred's own `SqlObserver` stores runs, configs, hosts and sources but drops every metric, and
its `result` column is a float where our runs return a dict. This subclass adds a `metric` table
(one row per logged value), keeps dict results in the run's `info`, and names each run by its
FileStorage directory (`<alg>/<env label>/<id>`), so one database can hold every algorithm's runs
without two of them sharing an id."""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import sqlalchemy as sa

with warnings.catch_warnings():  # sacred declares its tables with the pre-2.0 `declarative_base`
    warnings.simplefilter("ignore")
    from sacred.dependencies import get_digest
    from sacred.observers.sql import SqlObserver
    from sacred.observers import sql_bases  # noqa: F401  (imported here, under the filter)

SQL_PRIORITY = 15  # below FileStorage's 20: the run directory's number stays the sacred id

METRICS = sa.MetaData()
METRIC_TABLE = sa.Table(
    "metric",
    METRICS,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(255), nullable=False, index=True),  # sacred's run.run_id
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("step", sa.Integer),
    sa.Column("value", sa.Float),
    sa.Column("timestamp", sa.DateTime),
)


def check_sql_url(url: str) -> None:
    """Raises ValueError for a URL SQLAlchemy cannot parse or whose driver is missing (the engine
    is lazy: nothing is opened)."""
    try:
        sa.create_engine(url).dispose()
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as err:
        raise ValueError(f"sql_url '{url}': {err}") from None


def ensure_sqlite_directory(url: str) -> None:
    """SQLite creates the database file but not its directory."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def with_source_digests(ex_info: dict[str, Any]) -> dict[str, Any]:
    """`ex_info` with each source's md5 again: the FileStorageObserver, which starts first, replaces
    them in place with the paths of its copies, and sacred's SQL tables key sources by md5."""
    base = Path(ex_info["base_dir"])
    sources = [[name, get_digest(str(base / name))] for name, _ in ex_info["sources"]]
    return {**ex_info, "sources": sources}


def scalar_result(result: Any) -> float | None:
    """What fits sacred's float `result` column: a number, else nothing (the dict goes to info)."""
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        return float(result)
    return None


class RunDatabaseObserver(SqlObserver):
    """Sacred's SqlObserver plus metrics, dict results and directory-named run ids."""

    def __init__(self, url: str, run_prefix: str, priority: int = SQL_PRIORITY) -> None:
        ensure_sqlite_directory(url)
        super().__init__(url, priority=priority)
        self.run_prefix = run_prefix

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):  # noqa: ANN001
        METRICS.create_all(self.engine)
        key = f"{self.run_prefix}/{_id}" if _id is not None else None
        with self.session.no_autoflush:  # sacred links the new experiment before adding it: no half flush
            own_id = super().started_event(with_source_digests(ex_info), command, host_info, start_time, config,
                                           meta_info, key)
        return _id if _id is not None else own_id

    def heartbeat_event(self, info, captured_out, beat_time, result):  # noqa: ANN001
        if result is not None and scalar_result(result) is None:
            info = {**info, "result": result}
        super().heartbeat_event(info, captured_out, beat_time, scalar_result(result))

    def completed_event(self, stop_time, result):  # noqa: ANN001
        super().completed_event(stop_time, scalar_result(result))

    def log_metrics(self, metrics_by_name: dict[str, dict[str, list]], info: dict) -> None:
        """Appends the values logged since the last heartbeat (sacred hands over each one once)."""
        rows = [
            {"run_id": self.run.run_id, "name": name, "step": int(step), "value": finite_or_none(value),
             "timestamp": stamp}
            for name, series in metrics_by_name.items()
            for step, value, stamp in zip(series["steps"], series["values"], series["timestamps"])
        ]
        if rows:
            with self.lock, self.engine.begin() as connection:
                connection.execute(METRIC_TABLE.insert(), rows)


def finite_or_none(value: Any) -> float | None:
    """SQL has no NaN; a diverged metric is stored as NULL (infinities are kept)."""
    value = float(value)
    return None if math.isnan(value) else value
