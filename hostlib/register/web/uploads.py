"""Reading an uploaded document: at most 5 MB, a PDF, JPEG or PNG by its first bytes.

    filename, data = read_upload(request.files["file"])   # UploadError: a readable reason

The browser's word for a file's type (and its name's extension) is whatever the sender says;
the first bytes are what the file is (service.sniff, which the register checks again). A file
is read only up to one byte past the limit, so a huge one costs no memory before it is
refused.
"""

from __future__ import annotations

import os

from hostlib.register import service

LIMIT = service.MAX_DOCUMENT


class UploadError(ValueError):
    """An upload refused; the message says why, for the form to show by the file."""


def read_upload(upload) -> tuple[str, bytes]:
    """(file name without folders, bytes) of a werkzeug FileStorage; UploadError when it is
    empty, larger than 5 MB, or not a PDF, JPEG or PNG."""
    filename = os.path.basename((upload.filename or "").replace("\\", "/"))[:200] or "upload"
    data = upload.stream.read(LIMIT + 1)
    if not data:
        raise UploadError("%s is empty" % filename)
    if len(data) > LIMIT:
        raise UploadError(
            "%s is larger than 5 MB: scan it at a lower resolution, or as JPEG" % filename
        )
    if service.sniff(data) is None:
        raise UploadError(
            "%s is not a PDF, JPEG or PNG file (whatever its name says): scan or photograph "
            "the document as one of those" % filename
        )
    return filename, data
