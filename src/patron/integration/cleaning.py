"""Cleaning: turn one cell of someone else's data into a value Patron stores, or say why not.

Every function takes the raw cell (text, a number, a date: whatever the file gave) and returns the
cleaned value, ``None`` for an empty cell, or raises ``CleaningError`` with a reason a person can
act on. Imports use them now and ETL jobs later; nothing here touches the database.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from patron.kit import money

DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y%m%d",
    "%d.%m.%Y",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%Y/%m/%d",
    "%d-%m-%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
)
# ISO 4217 currency codes in use.
CURRENCIES = frozenset(
    {
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BOV",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHE",
        "CHF",
        "CHW",
        "CLF",
        "CLP",
        "CNY",
        "COP",
        "COU",
        "CRC",
        "CUC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MXV",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SLL",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "USN",
        "UYI",
        "UYU",
        "UYW",
        "UZS",
        "VED",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XAG",
        "XAU",
        "XBA",
        "XBB",
        "XBC",
        "XBD",
        "XCD",
        "XCG",
        "XDR",
        "XOF",
        "XPD",
        "XPF",
        "XPT",
        "XSU",
        "XTS",
        "XUA",
        "XXX",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
        "ZWL",
    }
)
_SPACES = re.compile(r"\s+")
_AMOUNT_JUNK = re.compile("[\\s\u00a0'\u2019]")


class CleaningError(ValueError):
    """A cell that cannot be cleaned; ``reason`` says why, in words for the error file."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CleaningOptions:
    """Choices a file's owner makes: the phone region, date order, the default currency."""

    default_region: str = "US"
    date_formats: tuple[str, ...] = DATE_FORMATS
    default_currency: str = "USD"


def text(value: Any, *, max_length: int | None = None) -> str | None:
    """Trimmed text with inner runs of whitespace collapsed; ``None`` when empty."""
    if value is None:
        return None
    cleaned = _SPACES.sub(" ", unicodedata.normalize("NFC", str(value))).strip()
    if not cleaned:
        return None
    if max_length is not None and len(cleaned) > max_length:
        raise CleaningError(f"is {len(cleaned):,} characters long; at most {max_length:,} fit")
    return cleaned


def name(value: Any, *, max_length: int = 200) -> str | None:
    """A person's or company's name: trimmed, whitespace collapsed, and written in title case
    when the source shouted it (ALL CAPS) or whispered it (all lower case)."""
    cleaned = text(value, max_length=max_length)
    if cleaned is None:
        return None
    if cleaned.isupper() or cleaned.islower():
        cleaned = " ".join(_title_word(word) for word in cleaned.split(" "))
    return cleaned


def _title_word(word: str) -> str:
    # "o'neil" -> "O'Neil", "smith-jones" -> "Smith-Jones", "mcdonald" stays "Mcdonald".
    return re.sub(r"[^\W\d_]+", lambda part: part.group(0).capitalize(), word)


def email(value: Any) -> str | None:
    """A syntactically valid address, lower-cased (no DNS look-up)."""
    from email_validator import EmailNotValidError, validate_email

    cleaned = text(value)
    if cleaned is None:
        return None
    try:
        checked = validate_email(cleaned, check_deliverability=False)
    except EmailNotValidError as exc:
        raise CleaningError(f"is not a valid email address ({exc})") from None
    return checked.normalized.lower()


def phone(value: Any, region: str = "US") -> tuple[str, str] | None:
    """(E.164, raw): the number in international form, and the text as the file had it."""
    import phonenumbers

    raw = text(value)
    if raw is None:
        return None
    try:
        parsed = phonenumbers.parse(raw, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise CleaningError(f"is not a phone number ({exc})") from None
    if not phonenumbers.is_possible_number(parsed):
        raise CleaningError(f"is not a possible phone number for region {region.upper()}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), raw


def day(value: Any, formats: tuple[str, ...] = DATE_FORMATS) -> date | None:
    """A calendar date from a date, a datetime or text in one of ``formats``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    cleaned = text(value)
    if cleaned is None:
        return None
    try:
        return date.fromisoformat(cleaned)
    except ValueError:
        pass
    for pattern in formats:
        try:
            return datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
    raise CleaningError(f"{cleaned!r} is not a date in a known format")


def moment(value: Any, formats: tuple[str, ...] = DATE_FORMATS) -> datetime | None:
    """A UTC datetime: ISO 8601 (an offset is honoured, none means UTC) or a date at midnight."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    cleaned = text(value)
    if cleaned is None:
        return None
    try:
        parsed = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError:
        return datetime.combine(day(cleaned, formats) or date.min, time(), tzinfo=UTC)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def currency(value: Any, default: str | None = None) -> str | None:
    """An ISO 4217 code, upper-cased."""
    cleaned = text(value)
    if cleaned is None:
        return default
    code = cleaned.upper()
    if code not in CURRENCIES:
        raise CleaningError(f"{cleaned!r} is not an ISO 4217 currency code")
    return code


def amount(value: Any, currency_code: str) -> int | None:
    """An amount in minor units of ``currency_code``: "1,234.50", "1.234,50", "€ 12", 12.5."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise CleaningError("is a true/false value, not an amount")
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value))
    else:
        cleaned = text(value)
        if cleaned is None:
            return None
        number = _parse_decimal(cleaned)
    if _too_precise(number, currency_code):
        raise CleaningError(f"has more decimals than {currency_code} allows")
    return money.to_minor(number, currency_code)


def _too_precise(number: Decimal, currency_code: str) -> bool:
    exponent = number.normalize().as_tuple().exponent
    return isinstance(exponent, int) and -exponent > money.exponent(currency_code)


def _parse_decimal(cleaned: str) -> Decimal:
    digits = _AMOUNT_JUNK.sub("", cleaned)
    digits = re.sub(r"^[^\d\-+.,]+|[^\d.,]+$", "", digits)  # a currency sign or code around it
    if "," in digits and "." in digits:
        thousands = "," if digits.rfind(",") < digits.rfind(".") else "."
        digits = digits.replace(thousands, "").replace(",", ".")
    elif "," in digits:
        head, _, tail = digits.rpartition(",")
        digits = digits.replace(",", "") if len(tail) == 3 and head else digits.replace(",", ".")
    try:
        return Decimal(digits)
    except InvalidOperation:
        raise CleaningError(f"{cleaned!r} is not an amount") from None


def integer(value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise CleaningError("is a true/false value, not a number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    cleaned = text(value)
    if cleaned is None:
        return None
    try:
        number = int(cleaned)
    except ValueError:
        raise CleaningError(f"{cleaned!r} is not a whole number") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise CleaningError(f"{number} is outside {minimum}..{maximum}")
    return number


def boolean(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    cleaned = (text(value) or "").lower()
    if not cleaned:
        return None
    if cleaned in ("1", "true", "t", "yes", "y", "on", "x"):
        return True
    if cleaned in ("0", "false", "f", "no", "n", "off"):
        return False
    raise CleaningError(f"{cleaned!r} is not yes/no")


def country(value: Any) -> str | None:
    """An ISO 3166 alpha-2 code."""
    cleaned = text(value)
    if cleaned is None:
        return None
    if not re.fullmatch(r"[A-Za-z]{2}", cleaned):
        raise CleaningError(f"{cleaned!r} is not a two-letter country code")
    return cleaned.upper()


def choice(value: Any, allowed: tuple[str, ...]) -> str | None:
    cleaned = text(value)
    if cleaned is None:
        return None
    lowered = cleaned.lower().replace(" ", "_")
    if lowered not in allowed:
        raise CleaningError(f"{cleaned!r} is not one of {', '.join(allowed)}")
    return lowered
