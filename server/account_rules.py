"""What registration accepts: usernames, emails and passwords. Pure checks, no I/O beyond the bundled list.

Each check returns the problem as a message for the client, or None. The password rules follow NIST SP 800-63B:
a minimum length, no composition rules, refusal of common, repetitive or sequential passwords and of the
username itself.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

# RFC 5322's dot-atom local part (no quoted strings, no comments) and an LDH domain with a TLD of letters:
# nothing that could carry markup, control characters or whitespace into a page or a mail header.
EMAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                   r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
RESERVED_PREFIXES = ("admin", "gm_", "mod_")
SEQUENCES = ("0123456789", "1234567890", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm", "1qaz2wsx3edc4rfv")
COMMON_PASSWORDS = Path(__file__).parent / "data" / "common_passwords.txt"
MAX_PASSWORD = 256


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text().splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def reserved(reserved_names: str) -> frozenset[str]:
    return frozenset(name.strip().lower() for name in reserved_names.split(",") if name.strip())


def username_problem(name: str, reserved_names: frozenset[str]) -> str | None:
    """Names nobody may take; their form (`protocol.bodies.USERNAME_PATTERN`) is the body schema's to check."""
    if name in reserved_names or name.startswith(RESERVED_PREFIXES):
        return "this username is reserved"
    return None


def normalize_email(raw: str) -> str | None:
    """The email as stored (trimmed, the domain lower-cased and in its ASCII form), or None when invalid."""
    email = raw.strip(" ")
    local, at, domain = email.rpartition("@")
    if not at or not local or len(local) > 64:
        return None
    try:
        domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    email = f"{local}@{domain}"
    if len(email) > 254 or not EMAIL.fullmatch(email):
        return None
    return email.lower()


def password_problem(password: str, username: str, min_length: int) -> str | None:
    if not min_length <= len(password) <= MAX_PASSWORD:
        return f"password must be {min_length} to {MAX_PASSWORD} characters"
    folded = password.lower()
    if folded.strip() == "" or len(set(folded)) < 4:
        return "password is too repetitive"
    if username and username.lower() in folded:
        return "password must not contain the username"
    if folded in common_passwords():
        return "password is too common"
    if any(folded in sequence or folded in sequence[::-1] for sequence in SEQUENCES):
        return "password is a keyboard or alphabet sequence"
    return None
