"""The installer's parameter edits on site: stored as a menu change, marked until the next
packet (docs/packets.md §3, "Edits on site").

    terminal = ParamStore(store).load(0)      # store: app.store.records.RecordStore
    terminal.set("dialup.prefix", "9")
    terminal.set("dialup.line", "extension")
    edits.save(store, 0, terminal, ("dialup.prefix", "dialup.line"))
    edits.edited(store, 0)                    # ["dialup.prefix", "dialup.line"]

An edit keeps the packet version the parameters carry: the next packet of the job (one
version up) is still accepted and replaces the edit with what the job says, and a packet of
that version or older is still refused (no rollback). Each name changed is marked (record
"editsN": the packet version, then the tags) until a newer packet has set the parameters:
the version screen and the parameter slip show what differs from the job.

Kept apart from app.store.params, which every screen has on the heap: only PosManage needs
this.
"""

import struct

from app.store import schema
from app.store.params import ParamStore


def _name(app_index):
    return "edits%d" % app_index


def _tags(store, app_index, version):
    record = store.load(_name(app_index))
    if record is None or len(record[1]) < 4:
        return b""
    if struct.unpack_from(">I", record[1], 0)[0] != version:
        return b""  # a newer packet has set the parameters since
    return bytes(record[1][4:])


def save(store, app_index, params, names):
    """Store `params` (app.store.params.Params of `app_index`, validated again) in `store`
    (app.store.records.RecordStore) after the
    installer changed `names`, keeping the packet version; mark the names.

    The marks are written first, so a power cut between the two writes can leave a mark on
    a value that did not change, never an edit unmarked. ParamError (nothing written) if
    the set does not validate or a name is not a parameter of `app_index`.
    """
    params.validate()  # before the marks: a refused set leaves no mark either
    param_store = ParamStore(store)
    version = param_store.version(app_index)
    tags = bytearray(_tags(store, app_index, version))
    scope = schema.scope_of(app_index)
    for name in names:
        tag = schema.tag_of(name, scope)
        if not tag:
            raise schema.ParamError(
                "%s: no such %s parameter" % (name, schema.scope_name(app_index))
            )
        if tags.find(bytes((tag,))) < 0:
            tags.append(tag)
    mark = bytearray(4 + len(tags))
    struct.pack_into(">I", mark, 0, version)
    mark[4:] = tags
    store.save(_name(app_index), mark)
    param_store.save(app_index, params)  # packet_version None: the stored one stays


def edited(store, app_index):
    """The names of the values changed on site since the packet that set the stored
    parameters of `app_index`, in the order they were first changed."""
    names = []
    for tag in _tags(store, app_index, ParamStore(store).version(app_index)):
        names.append(schema.name_of(tag))
    return names
