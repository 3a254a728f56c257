"""Progress lines for long jobs: samples done, rate and estimated time left, in the job's log.

A line at most every ``every`` seconds (default 30) and one at the end, so a job that runs a
minute or more shows it is alive and when it will end; a short job prints only its last line.
"""

import time


class Progress:
    """``Progress("features train", total, "samples")``, then ``update(done)`` as work ends."""

    def __init__(self, label: str, total: int, unit="samples", log=None, every=30.0, final=True):
        """``final=False``: no last line unless an earlier one was printed (a caller that
        reports the end itself, like an epoch's line)."""
        self.label, self.total, self.unit, self.final = label, int(total), unit, final
        self.log = log or (lambda line: print(line, flush=True))
        self.every = float(every)
        self.started = self.last = time.perf_counter()
        self.finished = False

    def update(self, done: int) -> None:
        now = time.perf_counter()
        final = done >= self.total
        if final and (self.finished or not (self.final or self.last > self.started)):
            return
        if final or now - self.last >= self.every:
            self.last, self.finished = now, final
            self.log(self.line(done, now - self.started))

    def line(self, done: int, seconds: float) -> str:
        rate = done / seconds if seconds > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 else float("nan")
        tail = "done" if done >= self.total else f"about {format_seconds(left)} left"
        return (
            f"{self.label}: {done}/{self.total} {self.unit} ({rate:.1f}/s, "
            f"{format_seconds(seconds)} so far, {tail})"
        )


def format_seconds(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "unknown time"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
