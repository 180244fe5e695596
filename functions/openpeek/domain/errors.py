"""Domain errors. Each carries what the API's ErrorResponse envelope needs; the API layer only maps them."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status: int = 400
    type: str = "BadRequestError"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details


class BadRequest(DomainError):
    status = 400
    type = "BadRequestError"


class Unauthorized(DomainError):
    status = 401
    type = "UnauthorizedError"


class Forbidden(DomainError):
    status = 403
    type = "ForbiddenError"


class NotFound(DomainError):
    status = 404
    type = "NotFoundError"

    def __init__(self, resource: str, identifier: str, *, code: str | None = None) -> None:
        super().__init__(
            f"{resource.capitalize()} '{identifier}' not found",
            code=code or f"{resource}_not_found",
            details={"resource": resource, "id": identifier},
        )


class Missing(DomainError):
    """Something the request needs is not there, in words of its own (NotFound names one resource by its id): a
    document's source object or blob that is gone."""

    status = 404
    type = "NotFoundError"


class NotSupported(DomainError):
    """This deployment has no component for what was asked (a video re-encoder), whatever the request: 501."""

    status = 501
    type = "NotImplementedError"


class Conflict(DomainError):
    status = 409
    type = "ConflictError"


class TooLarge(DomainError):
    """What was asked for is more than one answer may carry (an export past its row limit)."""

    status = 413
    type = "PayloadTooLargeError"


class DependencyFailed(DomainError):
    """A backing service (vector store, table, inference provider) failed; nothing half-written was left."""

    status = 503
    type = "ServiceUnavailableError"


class TooManyRequests(DomainError):
    """A rate limit refused the request; `details.retry_after_seconds` says when the window that refused it ends."""

    status = 429
    type = "TooManyRequestsError"
