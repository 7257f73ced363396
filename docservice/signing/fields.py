"""Empty signature fields in a PDF, where the document layer placed them."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Protocol

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, append_signature_field


class FieldPlacement(Protocol):
    """Where one field goes: its name, page (0-based) and rectangle in PDF coordinates."""

    @property
    def name(self) -> str: ...
    @property
    def page(self) -> int: ...
    @property
    def rect(self) -> tuple[float, float, float, float]: ...


def add_signature_fields(pdf: bytes, fields: Iterable[FieldPlacement]) -> bytes:
    """`pdf` with one empty signature field per entry of `fields`, as an incremental update."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    for field in fields:
        append_signature_field(
            writer,
            SigFieldSpec(
                sig_field_name=field.name,
                on_page=field.page,
                box=tuple(round(v, 2) for v in field.rect),  # type: ignore[arg-type]
            ),
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
