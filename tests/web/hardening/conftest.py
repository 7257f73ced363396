"""Hardening tests: hostile input, web security, operations, concurrency.

They run on SQLite only (their subject is the web face, not the engine), except
test_concurrency.py, which needs PostgreSQL's row locks and builds its app on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

#: Modest example counts: the whole folder stays around a minute and a half on two cores.
FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out this folder's PostgreSQL twins of the database-parametrised tests."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        here = Path(str(item.fspath)).parent == HERE
        if here and callspec and callspec.params.get("database_url") == "postgresql":
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
