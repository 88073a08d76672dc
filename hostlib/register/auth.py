"""Users' passwords and what each role may do.

    stored = hash_password("correct horse")           # 'scrypt$16384$8$1$<salt>$<hash>'
    verify_password("correct horse", stored)          # True
    allowed("reviewer", "review.record")              # True

Passwords are hashed with scrypt (n=2**14, r=8, p=1: about 16 MB and tens of milliseconds a
try, so a stolen register does not give its passwords up to a fast guesser), a random 16-byte
salt each, compared in constant time. The parameters are stored with the hash, so a later
register can raise them without locking out its users.
"""

import hashlib
import hmac
import os

from hostlib.register.terms import ROLES

__all__ = ["PERMISSIONS", "ROLES", "allowed", "hash_password", "verify_password"]

_N, _R, _P = 2**14, 8, 1
_LENGTH = 32

# What each role may do; "admin" may do everything. The service also narrows by ownership:
# a salesperson's merchants are their own, an installer's work orders are theirs.
PERMISSIONS = {
    "merchant.create": {"salesperson"},
    "merchant.update": {"salesperson", "reviewer"},
    "merchant.read": {"salesperson", "reviewer", "installer"},
    "merchant.read_all": {"reviewer"},
    "document.add": {"salesperson", "reviewer"},
    "review.record": {"reviewer"},
    "merchant.set_mid": {"reviewer"},
    "work_order.create": {"reviewer"},
    "work_order.update": {"reviewer", "installer"},
    "work_order.read_all": {"reviewer"},
    "terminal.add": {"reviewer", "installer"},
    "terminal.release": {"reviewer"},
    "install.record": {"installer"},
    "training.record": {"installer"},
    "visit.record": {"installer"},
    "profile.add": set(),
    "profile.read": {"reviewer", "installer"},
    "user.add": set(),
    "user.read": {"reviewer"},
    "audit.read": {"reviewer"},
    "export": {"reviewer"},
}


def allowed(role: str, action: str) -> bool:
    """Whether `role` may do `action` (a key of PERMISSIONS)."""
    return role == "admin" or role in PERMISSIONS[action]


def hash_password(password: str) -> str:
    """The stored form of `password`: scrypt$n$r$p$salt_hex$hash_hex."""
    salt = os.urandom(16)
    digest = _scrypt(password, salt, _N, _R, _P)
    return "scrypt$%d$%d$%d$%s$%s" % (_N, _R, _P, salt.hex(), digest.hex())


def verify_password(password: str, stored: str) -> bool:
    """True if `password` is the one `stored` was made from; False for anything else,
    including a stored value that is not a hash this module makes."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = bytes.fromhex(digest)
        got = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except (ValueError, AttributeError):
        return False
    return hmac.compare_digest(got, want)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=_LENGTH
    )
