"""Stop a training run cleanly on SIGTERM or SIGINT (Ctrl+C).

SIGTERM is what `kill`, `timeout`, cluster schedulers, systemd and docker send; without a handler
Python dies at once and the run loses everything since its last checkpoint. Inside
`StopOnSignals`, the first signal only sets the trainer's stop event: the trainer finishes the
step it is in, writes its checkpoint (atomically, as always) and returns; under torchrun every
rank agrees on the step to stop at (the trainer all-reduces the flag). A second signal stops at
once with the default action; the last checkpoint on disk is untouched by that (writes go
through a temporary file).
"""
from __future__ import annotations

import os
import signal
import sys
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnSignals:
    """Context manager: the first SIGTERM/SIGINT sets `event`; `received` names it afterwards."""

    def __init__(self, event: threading.Event):
        self.event = event
        self.received: signal.Signals | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopOnSignals":
        if threading.current_thread() is threading.main_thread():  # Python delivers signals there only
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame) -> None:
        sig = signal.Signals(signum)
        if self.received is not None:  # the second signal: stop now, with the default action
            print(f"genlab: second {sig.name}: stopping at once; the last checkpoint written stays as it was",
                  file=sys.stderr, flush=True)
            self._restore()
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.received = sig
        self.event.set()
        print(f"genlab: {sig.name} received: finishing the current step, then saving a checkpoint "
              f"(send it again to stop at once)", file=sys.stderr, flush=True)

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + int(self.received) if self.received is not None else 0
