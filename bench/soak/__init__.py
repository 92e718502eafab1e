"""Soak test: the whole stack under concurrent readers and injected faults, then
the invariants that must hold whatever broke.

    make soak                                   # 60 s, embedded PostgreSQL
    make soak SOAK_ARGS="--seconds 600"
    make soak SOAK_ARGS="--idempotent-minter"   # a minter honouring Idempotency-Key
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python -m bench.soak --seconds 30

Starts, on free loopback ports: a fresh database on the server of DATABASE_URL
(created, migrated, dropped at the end), its own Redis (restartable empty), the
sandbox (X and the minter: by default one that ignores Idempotency-Key, with
BUX_MINTER_IDEMPOTENT=0, as in production), the app under gunicorn and two prefork
Celery workers.
The sweeper (`sweep_rewards_task`) and the mirror repair (`repair_mirror_task`) run
from this process on a fast schedule in place of beat. Readers log in, connect X
through the real OAuth flow and press Retweet & Like as the htmx box does, for each
tweet of a campaign (every other campaign holds two or three tweets), while
faults strike X, the minter, Redis, a worker and PostgreSQL. Afterwards the run
waits (bounded) for the sweeper and retries to converge, repairs and re-checks the
mirror, prints its figures and an invariant table, and exits 1 on any violation.
Described in docs/soak.md.

The package: `stack` (the processes and their settings), `readers` (the load),
`faults`, `sweeper` (beat's jobs on a fast schedule), `figures` (counting and the
report), `checks` (the invariants) and `run` (the phases, and `main`).
"""
