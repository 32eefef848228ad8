"""``PATRON_BACKUP_SCHEDULE``: an interval (``30m``, ``24h``, ``7d``) or a daily UTC time
(``02:30``).

An interval is due when the last scheduled backup started that long ago or more; a daily time is
due once the time has passed today and no scheduled backup started since. With no backup yet,
either is due at once, so a new installation is backed up on the worker's first round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

INTERVAL = re.compile(r"^(\d+)\s*([mhd])$")
DAILY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Schedule:
    every: timedelta | None = None
    daily_at: time | None = None

    def is_due(self, last: datetime | None, now: datetime) -> bool:
        if last is None:
            return True
        if self.every is not None:
            return now - last >= self.every
        assert self.daily_at is not None
        slot = datetime.combine(now.date(), self.daily_at, tzinfo=now.tzinfo)
        if slot > now:
            slot -= timedelta(days=1)
        return last < slot


def parse_schedule(value: str) -> Schedule:
    """Raises ``ValueError`` with the accepted forms when ``value`` is neither."""
    text = value.strip().lower()
    if match := INTERVAL.match(text):
        amount = int(match.group(1))
        if amount < 1:
            raise ValueError("the backup interval must be at least 1")
        return Schedule(every=timedelta(**{UNITS[match.group(2)]: amount}))
    if match := DAILY.match(text):
        return Schedule(daily_at=time(int(match.group(1)), int(match.group(2))))
    raise ValueError(
        f"{value!r} is not a schedule: use an interval such as 30m, 24h or 7d, "
        "or a daily UTC time such as 02:30"
    )
