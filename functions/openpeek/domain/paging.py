"""Offset paging, written once for the list endpoints: the SDK's page / page_size / limit / offset / cursor folded into
one window over a result list, and the pagination object its list responses carry. A cursor is an offset this service
issued, opaque to the caller (urlsafe base64 of the number): the one cursor format of the list endpoints."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Sequence, TypeVar

from openpeek.domain.errors import BadRequest

T = TypeVar("T")


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> int:
    try:
        value = int(base64.urlsafe_b64decode(token.encode() + b"==").decode())
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("cursor is not one this service issued", code="invalid_cursor") from None
    if value < 0:
        raise BadRequest("cursor is not one this service issued", code="invalid_cursor")
    return value


@dataclass(frozen=True)
class Window:
    start: int
    size: int

    @classmethod
    def of(cls, size: int, *, offset: int | None = None, page: int | None = None,
           cursor: str | None = None) -> "Window":
        """An explicit offset wins, then a page number (1-based), then a cursor; the first page otherwise."""
        if offset is not None:
            return cls(offset, size)
        if page is not None:
            return cls((page - 1) * size, size)
        return cls(decode_cursor(cursor) if cursor else 0, size)

    def of_list(self, items: Sequence[T]) -> list[T]:
        return list(items[self.start:self.start + self.size])

    @property
    def page(self) -> int:
        return self.start // self.size + 1

    def pagination(self, total: int) -> dict[str, Any]:
        """The pagination of a list that is paged by offset or page number only (no links to follow)."""
        return {"total": total, "page": self.page, "page_size": self.size,
                "total_pages": max(1, -(-total // self.size)), "next_page": None, "previous_page": None,
                "next_cursor": None}

    def cursor_pagination(self, total: int, *, include_total: bool) -> dict[str, Any]:
        """The pagination of a list that also takes a cursor: links to the neighbouring pages and the next cursor;
        the totals only when asked for (counting may cost the caller nothing, but the SDK makes it optional)."""
        has_next = self.start + self.size < total
        return {
            "total": total if include_total else None,
            "page": self.page,
            "page_size": self.size,
            "total_pages": (total + self.size - 1) // self.size if include_total else None,
            "next_page": str(self.page + 1) if has_next else None,
            "previous_page": str(self.page - 1) if self.page > 1 else None,
            "next_cursor": encode_cursor(self.start + self.size) if has_next else None,
        }
