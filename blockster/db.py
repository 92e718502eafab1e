"""Database writes that follow a long wait on an outside service (X, the minter)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


def retry_if_connection_dropped(
    func: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """Run a database write, reconnecting once or twice if the connection died while
    we waited on X or the minter (a failover, a pooler's idle timeout, a terminated
    session). Only for writes that are safe to repeat, such as conditional updates,
    and never inside a transaction, where a reconnect would lose its work."""
    for attempt in range(3):
        try:
            return func(*args, **kwargs)
        except (OperationalError, InterfaceError) as error:
            if connection.in_atomic_block or attempt == 2:
                raise
            logger.warning(
                "database connection lost (%s); reconnecting", type(error).__name__
            )
            connection.close()
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")
