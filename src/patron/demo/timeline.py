"""The demo's calendar: three years of trading up to ``as_of``, with the shape of real retail.

Demand per day is growth x month x weekday x events: a Q4 peak (Black Friday weekend, Cyber
Monday, the run-up to Christmas, a lull on the holidays), a mid-July sale, busier Sundays and
Mondays, quieter Saturdays. Order times are drawn from that curve by inverting its running sum.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from patron.demo.vectors import US_PER_DAY, US_PER_HOUR, US_PER_SECOND, cumulative, to_us

YEARS = 3
GROWTH_PER_YEAR = 1.25
MONTH = (0.85, 0.8, 0.9, 0.9, 0.95, 0.95, 1.0, 0.95, 0.95, 1.05, 1.45, 1.6)
WEEKDAY = (1.1, 1.0, 1.0, 0.97, 0.93, 0.85, 1.15)  # Monday first
HOUR = (
    0.3, 0.2, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 0.9, 1.1, 1.2, 1.2,
    1.3, 1.3, 1.2, 1.2, 1.2, 1.3, 1.5, 1.7, 1.8, 1.6, 1.1, 0.6,
)  # fmt: skip
WORK_HOUR = (
    0.05, 0.05, 0.05, 0.05, 0.05, 0.1, 0.2, 0.6, 1.2, 1.5, 1.5, 1.4,
    1.0, 1.3, 1.5, 1.4, 1.2, 0.8, 0.4, 0.2, 0.1, 0.1, 0.05, 0.05,
)  # fmt: skip


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def black_friday(year: int) -> date:
    november_first = date(year, 11, 1)
    thanksgiving = november_first + timedelta(days=(3 - november_first.weekday()) % 7 + 21)
    return thanksgiving + timedelta(days=1)


class Timeline:
    """Days from ``start`` (inclusive) to the end of ``as_of`` (exclusive), and their demand."""

    def __init__(self, as_of: date) -> None:
        self.as_of = as_of
        end = as_of + timedelta(days=1)
        self.start_date = _years_before(end, YEARS)
        self.start_us = to_us(self.start_date)
        self.end_us = to_us(end)
        self.days = (end - self.start_date).days
        day_numbers = np.arange(self.days)
        dates = np.datetime64(self.start_date.isoformat(), "D") + day_numbers
        months = dates.astype("datetime64[M]").astype(np.int64) % 12
        weekdays = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        weight = GROWTH_PER_YEAR ** (day_numbers / 365.25)
        weight *= np.asarray(MONTH)[months] * np.asarray(WEEKDAY)[weekdays]
        for year in range(self.start_date.year, end.year + 1):
            friday = black_friday(year)
            for offset, factor in ((0, 3.0), (1, 2.0), (2, 2.0), (3, 2.5), (4, 1.5)):
                self._boost(weight, friday + timedelta(days=offset), factor)
            for day in range(1, 19):
                self._boost(weight, date(year, 12, day), 1.3)
            for day in (24, 25, 26):
                self._boost(weight, date(year, 12, day), 0.6)
            for day in (10, 11, 12):
                self._boost(weight, date(year, 7, day), 1.6)
        self.weight = weight
        self.running = np.concatenate([[0.0], np.cumsum(weight)])
        self._hours = cumulative(np.asarray(HOUR))[0]
        self._work_hours = cumulative(np.asarray(WORK_HOUR))[0]

    def _boost(self, weight: np.ndarray, day: date, factor: float) -> None:
        index = (day - self.start_date).days
        if 0 <= index < self.days:
            weight[index] *= factor

    def sample_days(
        self, first_day: np.ndarray, last_day: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """One day per element in ``[first_day, last_day)``, in proportion to demand."""
        low = self.running[np.asarray(first_day, dtype=np.int64)]
        high = self.running[np.asarray(last_day, dtype=np.int64)]
        points = low + (high - low) * rng.random(len(low))
        days = np.searchsorted(self.running, points, side="right") - 1
        return np.clip(days, first_day, np.maximum(first_day, np.asarray(last_day) - 1))

    def time_of_day(
        self, n: int, rng: np.random.Generator, *, office_hours: bool = False
    ) -> np.ndarray:
        """Microseconds after midnight: evenings for shoppers, office hours for staff."""
        cum = self._work_hours if office_hours else self._hours
        hours = np.searchsorted(cum, rng.random(n), side="right").clip(0, 23)
        seconds = rng.integers(0, 3600, size=n)
        return hours * US_PER_HOUR + seconds * US_PER_SECOND + rng.integers(0, 1_000_000, size=n)

    def sample_times(
        self, first_day: np.ndarray, last_day: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        days = self.sample_days(first_day, last_day, rng)
        return self.day_us(days) + self.time_of_day(len(days), rng)

    def day_us(self, days: np.ndarray) -> np.ndarray:
        return self.start_us + np.asarray(days, dtype=np.int64) * US_PER_DAY

    def day_of(self, times_us: np.ndarray) -> np.ndarray:
        return (np.asarray(times_us, dtype=np.int64) - self.start_us) // US_PER_DAY

    @staticmethod
    def month_of_year(times_us: np.ndarray) -> np.ndarray:
        """0 for January ... 11 for December."""
        months = np.asarray(times_us, dtype=np.int64).astype("datetime64[us]")
        return months.astype("datetime64[M]").astype(np.int64) % 12

    @staticmethod
    def month_number(times_us: np.ndarray) -> np.ndarray:
        """Months since January 1970: a key for monthly totals."""
        months = np.asarray(times_us, dtype=np.int64).astype("datetime64[us]")
        return months.astype("datetime64[M]").astype(np.int64)
