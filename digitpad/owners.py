"""Who owns a profile when the page is served to a class: each browser keeps a token, a random
owner id signed with the home folder's secret. The secret never leaves the server, so a token
can be kept by a browser but not made up by one."""
import hashlib
import hmac
import secrets

from . import home

LOCAL = ""  # the owner of every profile when the page is served to this machine only


def new() -> str:
    """A fresh token: an owner id and its signature."""
    owner = secrets.token_hex(16)
    return f"{owner}.{_signature(owner)}"


def owner(token) -> str | None:
    """The owner id a token carries if this home signed it, else None (forged, damaged, absent)."""
    if not isinstance(token, str) or token.count(".") != 1:
        return None
    owner, signature = token.split(".")
    return owner if owner and hmac.compare_digest(signature, _signature(owner)) else None


def _signature(owner: str) -> str:
    return hmac.new(home.secret().encode(), owner.encode(), hashlib.sha256).hexdigest()
