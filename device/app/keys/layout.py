"""Field 62 of the sign-on answer: where the working keys and their check values lie (spec
§3.3), for the four fixed layouts and for one an acquirer describes in its parameters.

    parse("004")                                  # a 60.3 code's layout
    parse("PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4")   # spec §7.3's 61 bytes, described
    -> (length, ((usage, key offset, key length, CV offset, CV length), ...))

A description lists the field's items in their order, separated by spaces: PIK, MAK or TDK
and the key's length in bytes (an encrypted key); CV and a length (the check value of the key
before it; fillers may come between); PAD and a length (bytes not read). Every key comes once,
each with its check value, a PIK and a MAK at least. Real acquirers differ exactly here (the
spec marks 003's MAK length, the SM4 layout and the 56/61/84-byte forms UNCONFIRMED), so an
acquirer's layout is a parameter (signon_layout), never code.

Imported by app.keys.slots at sign-on and by app.store.schema when a layout is set, and let go
once `parse` returns (it takes the module out of sys.modules): the 0.9 KB a loaded module
keeps (64-bit port) is not on the heap through the transactions that follow.
"""

import sys

from app import message

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

# One line per 60.3 code: the code, then its description. Keys are ECB-encrypted under the
# TMK; CV = first bytes of E_key(zero block), clear key.
_FIXED = (
    # 24 bytes: PIK(8) CV(4) MAK(8) CV(4)
    "001 PIK8 CV4 MAK8 CV4\n"
    # 40 bytes: PIK(16) CV(4) MAK(16) CV(4); spec: UNCONFIRMED that the MAK is really 16 here.
    "003 PIK16 CV4 MAK16 CV4\n"
    # 60 bytes: PIK(16) CV(4) MAK(8)+00x8 CV(4) TDK(16) CV(4): the MAK is single length. The 8
    # filler bytes are not checked (S2 sends zeros, S1 reads the MAK as K||K and ignores them).
    "004 PIK16 CV4 MAK8 PAD8 CV4 TDK16 CV4\n"
    # SM4 (60.3 = 006 in S2 only): UNCONFIRMED, a parameterised assumption. Taken as the 004
    # layout with whole 16-byte SM4 keys, CV = first 4 bytes of SM4_key(0^16).
    "006 PIK16 CV4 MAK16 CV4 TDK16 CV4"
)

# Messages, numbered from 0 by _M_* (app.message: one literal). The host's parameter checks
# (hostlib.packets) word them the same.
_M_CODE = const(0)
_M_ITEM = const(1)
_M_SIZE = const(2)
_M_CV = const(3)
_M_SM4 = const(4)
_M_NO_CV = const(5)
_M_TWICE = const(6)
_M_KEYS = const(7)
_MESSAGES = (
    "|%s is not a sign-on layout: 001, 003, 004, 006 or a description"  # _M_CODE
    "|%s is not PIK, MAK, TDK, CV or PAD and a length in bytes"  # _M_ITEM
    "|%s: keys are 8, 16 or 24 bytes, check values 2 to 8, fillers 1 to 64"  # _M_SIZE
    "|%s is not after a key"  # _M_CV
    "|%s: SM4 keys are 16 bytes"  # _M_SM4
    "|%s has no check value after it"  # _M_NO_CV
    "|%s appears twice"  # _M_TWICE
    "|a layout needs a PIK and a MAK"  # _M_KEYS
    "|"
)


def _refuse(number, args=()):
    return ValueError(message(_MESSAGES, number, args))


def parse(spec, sm4=False):
    """The layout `spec` names: a 60.3 code ("001", "003", "004", "006"; "SM4" is 006) or
    a description (see the module). `sm4`: the keys are SM4 keys (16 bytes). Returns (field
    length, ((usage, key offset, key length, CV offset, CV length), ...)), keys in field
    order; ValueError naming the item at fault."""
    try:
        return _parse(spec, sm4)
    finally:
        # Let the module go: the next import loads it again. The package holds it too.
        if sys.modules.pop(__name__, None) is not None:
            package = sys.modules.get("app.keys")
            if package is not None and hasattr(package, "layout"):
                delattr(package, "layout")


def _parse(spec, sm4):
    if spec == "SM4":
        spec = "006"
    if spec.isdigit():
        for line in _FIXED.split("\n"):
            if line[:4] == spec + " ":
                spec = line[4:]
                break
        else:
            raise _refuse(_M_CODE, (spec,))
    items = []
    offset = 0
    waiting = None  # the key whose check value has not come yet
    for item in spec.split():
        name = item.rstrip("0123456789")
        digits = item[len(name) :]
        if not digits or digits[0] == "0" or "|%s|" % name not in "|PIK|MAK|TDK|CV|PAD|":
            raise _refuse(_M_ITEM, (item,))
        size = int(digits)
        if name == "PAD":
            if size > 64:
                raise _refuse(_M_SIZE, (item,))
        elif name == "CV":
            if not 2 <= size <= 8:
                raise _refuse(_M_SIZE, (item,))
            if waiting is None:
                raise _refuse(_M_CV, (item,))
            waiting[3] = offset
            waiting[4] = size
            waiting = None
        else:
            if size % 8 or size > 24:
                raise _refuse(_M_SIZE, (item,))
            if sm4 and size != 16:
                raise _refuse(_M_SM4, (item,))
            if waiting is not None:
                raise _refuse(_M_NO_CV, (waiting[0],))
            for other in items:
                if other[0] == name:
                    raise _refuse(_M_TWICE, (name,))
            waiting = [name, offset, size, 0, 0]
            items.append(waiting)
        offset += size
    if waiting is not None:
        raise _refuse(_M_NO_CV, (waiting[0],))
    usages = " ".join([item[0] for item in items])
    if "PIK" not in usages or "MAK" not in usages:
        raise _refuse(_M_KEYS)
    return offset, tuple([tuple(item) for item in items])
