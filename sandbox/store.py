"""The live state plus its persistence: debounced saves, a final save on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path

from sandbox.config import SandboxConfig
from sandbox.seed import new_state
from sandbox.state import Runtime, SandboxState, load_state, save_state

logger = logging.getLogger("sandbox")


class Store:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.path: Path | None = config.state_file
        self.state: SandboxState = self._load() or new_state(config)
        self._dirty = False
        self._saver: asyncio.Task[None] | None = None

    def _load(self) -> SandboxState | None:
        if self.path is None:
            return None
        try:
            state = load_state(self.path)
        except (ValueError, KeyError, TypeError) as error:
            # A damaged file must not keep the sandbox from starting; keep it aside.
            aside = self.path.with_name(self.path.name + ".damaged")
            self.path.replace(aside)
            logger.warning("state file unreadable (%s); moved to %s", error, aside)
            return None
        if state is not None:
            # The command line decides the settings of a new run; what the control
            # API changed lasted until the restart.
            state.runtime = Runtime.from_config(self.config)
            logger.info("state loaded from %s", self.path)
        return state

    def changed(self) -> None:
        self._dirty = True

    def reset(self) -> None:
        self.state = new_state(self.config)
        self._dirty = False
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def flush(self) -> None:
        if self._dirty and self.path is not None:
            self._dirty = False
            save_state(self.state, self.path)

    def start(self) -> None:
        if self.path is not None:
            self._saver = asyncio.get_running_loop().create_task(self._save_loop())

    async def stop(self) -> None:
        if self._saver is not None:
            self._saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._saver
        self.flush()

    async def _save_loop(self) -> None:
        # Debounced: many changes within one delay cost one write.
        while True:
            await asyncio.sleep(self.config.save_delay)
            try:
                self.flush()
            except (OSError, TypeError, json.JSONDecodeError) as error:
                logger.error("could not save the state file: %s", error)
