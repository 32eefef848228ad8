"""The SSRF guard: webhooks go only to public addresses unless an allow-list says otherwise.

The host is resolved and every address it resolves to must be allowed: not private, loopback,
link-local, multicast, reserved or unspecified, unless ``PATRON_WEBHOOK_ALLOW_HOSTS`` names the
host or a range holding the address. It is checked when a subscription is saved and again before
every send, and the send connects to the address that was checked (so a DNS answer that changes in
between cannot redirect it).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from patron.errors import PatronError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class WebhookTargetRefused(PatronError):
    code = "webhook_target_refused"
    title = "Webhook target refused"
    status = 422

    def __init__(self, detail: str) -> None:
        super().__init__(
            detail, extra={"errors": [{"field": "url", "message": detail, "code": self.code}]}
        )


@dataclass(frozen=True)
class AllowList:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, setting: str) -> AllowList:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for item in (part.strip() for part in setting.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        return any(address in network for network in self.networks)


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to."""

    url: str
    host: str
    address: IPAddress


def _forbidden(address: IPAddress) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for label, flag in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if flag:
            return label
    if not address.is_global:
        return "not public"
    return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise WebhookTargetRefused(f"The host {host!r} does not resolve.") from exc
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise WebhookTargetRefused(f"The host {host!r} does not resolve.")
    return found


def check(url: str, allow: AllowList) -> Target:
    """Resolve ``url``'s host; raise ``WebhookTargetRefused`` unless every address is allowed."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookTargetRefused("The URL is not valid.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookTargetRefused("The URL must be http:// or https:// with a host.")
    if parts.username or parts.password:
        raise WebhookTargetRefused("The URL must not carry a user name or password.")
    host = parts.hostname
    addresses = _resolve(host, port)
    for address in addresses:
        reason = _forbidden(address)
        if reason and not allow.allows(host, address):
            raise WebhookTargetRefused(
                f"The host {host!r} resolves to {address}, a {reason} address; webhooks go "
                "only to public addresses unless PATRON_WEBHOOK_ALLOW_HOSTS allows it."
            )
    return Target(url=url, host=host, address=addresses[0])


def pinned_url(target: Target) -> str:
    """``target.url`` with its host replaced by the checked address."""
    parts = urlsplit(target.url)
    literal = f"[{target.address}]" if target.address.version == 6 else str(target.address)
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()
