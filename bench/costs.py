"""What a request costs, counted rather than timed: SQL statements, transactions
(and those that write), Redis round trips, new PostgreSQL and Redis connections,
and SSL contexts created. Counts do not move with the machine's load, so they
compare across runs and machines where times do not.

    with CostCounter() as costs:
        client.post(...)
    costs.per(1)  # {"sql statements": 9, "write transactions": 1, ...}

Counts the calling thread's default database connection and every Redis client of
the process (the cache, the mirror, the rate limits). A transaction is an outermost
`transaction.atomic` block, or one statement in autocommit; it writes when any of its
statements is an INSERT, UPDATE, DELETE or SELECT ... FOR UPDATE/SHARE.
"""

from __future__ import annotations

import re
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any

WRITE = re.compile(
    r"\b(INSERT|UPDATE|DELETE)\b|\bFOR (NO KEY )?UPDATE\b|\bFOR (KEY )?SHARE\b",
    re.I,
)

FIGURES = (
    "sql statements",
    "transactions",
    "write transactions",
    "redis round trips",
    "postgresql connections opened",
    "redis connections opened",
    "ssl contexts created",
)


def _command_names(packed: Any) -> str:
    """The command names in one packed send (RESP arrays), for reading."""
    chunks = [packed] if isinstance(packed, bytes | str) else list(packed)
    data = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in chunks)
    names = re.findall(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n", data)
    return " ".join(name.decode().upper() for name in names)


def is_write(sql: str) -> bool:
    return bool(WRITE.search(sql))


class CostCounter:
    """Counts while the block runs; `statements` keeps the SQL in order."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter({name: 0 for name in FIGURES})
        self.statements: list[str] = []
        self.redis_commands: list[str] = []  # a round trip's command names
        self._lock = threading.Lock()
        self._undo: list[Callable[[], object]] = []
        self._block_writes: bool | None = None  # None: not in an outermost block

    # Hooks ----------------------------------------------------------------------------

    def _add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def _execute(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: Any,
    ) -> Any:
        from django.db import connection

        self.statements.append(sql)
        self._add("sql statements")
        writes = is_write(sql)
        if connection.in_atomic_block:
            if writes and self._block_writes is not None:
                self._block_writes = True
        else:
            self._add("transactions")
            if writes:
                self._add("write transactions")
        return execute(sql, params, many, context)

    def __enter__(self) -> CostCounter:
        import redis.connection
        from django.db import connection, transaction
        from django.db.backends.signals import connection_created

        counter = self

        atomic_enter, atomic_exit = (
            transaction.Atomic.__enter__,
            transaction.Atomic.__exit__,
        )

        def enter(atomic: Any) -> None:
            if not connection.in_atomic_block and threading.current_thread() is main:
                counter._block_writes = False
                counter._add("transactions")
            atomic_enter(atomic)

        def exit_(atomic: Any, *exc: Any) -> None:
            atomic_exit(atomic, *exc)
            if (
                not connection.in_atomic_block
                and threading.current_thread() is main
                and counter._block_writes is not None
            ):
                if counter._block_writes and exc[0] is None:
                    counter._add("write transactions")
                counter._block_writes = None

        main = threading.current_thread()
        transaction.Atomic.__enter__ = enter  # type: ignore[method-assign]
        transaction.Atomic.__exit__ = exit_  # type: ignore[method-assign]
        self._undo.append(
            lambda: setattr(transaction.Atomic, "__enter__", atomic_enter)
        )
        self._undo.append(lambda: setattr(transaction.Atomic, "__exit__", atomic_exit))

        wrapper = connection.execute_wrapper(self._execute)
        wrapper.__enter__()
        self._undo.append(lambda: wrapper.__exit__(None, None, None))

        def opened(**kwargs: Any) -> None:
            counter._add("postgresql connections opened")

        connection_created.connect(opened, weak=False)
        self._undo.append(lambda: connection_created.disconnect(opened))

        cls = redis.connection.AbstractConnection
        send, connect = cls.send_packed_command, redis.connection.Connection._connect

        def send_packed_command(
            conn: Any, command: Any, check_health: bool = True
        ) -> Any:
            counter._add("redis round trips")
            counter.redis_commands.append(_command_names(command))
            return send(conn, command, check_health)

        def _connect(conn: Any) -> Any:
            counter._add("redis connections opened")
            return connect(conn)

        cls.send_packed_command = send_packed_command  # type: ignore[method-assign]
        redis.connection.Connection._connect = _connect  # type: ignore[method-assign]
        self._undo.append(lambda: setattr(cls, "send_packed_command", send))
        self._undo.append(
            lambda: setattr(redis.connection.Connection, "_connect", connect)
        )

        new_context = ssl.SSLContext.__new__

        def new(cls: type, *args: Any, **kwargs: Any) -> Any:
            counter._add("ssl contexts created")
            return new_context(cls, *args, **kwargs)

        ssl.SSLContext.__new__ = staticmethod(new)  # type: ignore[method-assign]
        self._undo.append(
            lambda: setattr(ssl.SSLContext, "__new__", staticmethod(new_context))
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        while self._undo:
            self._undo.pop()()

    def per(self, requests: int) -> dict[str, float]:
        """Each figure divided by the number of requests counted."""
        return {name: self.counts[name] / requests for name in FIGURES}
