"""Run a command line's `main` in-process with a time-out, capturing what it prints.

`main` runs on a daemon worker thread; a run that is still going after `timeout_s` is reported as a
hang (the thread cannot be killed, but the test fails at once instead of blocking the suite).
"""

from __future__ import annotations

import contextlib
import io
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Main = Callable[[Sequence[str] | None], int]


@dataclass
class Outcome:
    code: int | None
    out: str
    err: str
    hung: bool = False
    escaped: str = ""  # a traceback that escaped main()

    def problem(self) -> str | None:
        """What is wrong with this outcome for a bad or random input, or None."""
        if self.hung:
            return "hung"
        if self.escaped:
            return f"exception escaped main():\n{self.escaped}"
        if self.code not in (0, 1, 2):
            return f"exit code {self.code}: {self.err}"
        if "Traceback" in self.err or 'File "' in self.err:
            return f"traceback on stderr:\n{self.err}"
        if self.code == 2 and len([line for line in self.err.splitlines() if line.strip()]) != 1:
            return f"exit 2 needs one line on stderr, not: {self.err!r}"
        return None


def run_main(main: Main, argv: Sequence[str], timeout_s: float = 20.0) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["code"] = main(list(argv))
        except SystemExit as exit_:
            code = exit_.code
            result["code"] = code if isinstance(code, int) else (0 if code is None else 1)
        except BaseException:
            result["escaped"] = traceback.format_exc()

    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        worker = threading.Thread(target=target, name=f"main {' '.join(argv)[:40]}", daemon=True)
        worker.start()
        worker.join(timeout_s)
    if worker.is_alive():
        return Outcome(None, out.getvalue(), err.getvalue(), hung=True)
    code = result.get("code")
    return Outcome(
        code if isinstance(code, int) else None,
        out.getvalue(),
        err.getvalue(),
        escaped=str(result.get("escaped", "")),
    )
