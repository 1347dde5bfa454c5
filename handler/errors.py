"""What can go wrong with a request, each mapped to one HTTP status in one place.

Adapters turn any `RequestError` into `{"error": {"code": ..., "message": ...}}` with its
`status`; anything else that escapes the core becomes a 500 `internal_error`.
"""

from __future__ import annotations


class RequestError(Exception):
    """When a request cannot be answered with a prediction"""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def headers(self) -> dict[str, str]:
        return {}


def internal_error() -> RequestError:
    """What the caller sees of an unexpected exception: never its text or stack trace."""
    return RequestError("internal error; see the function's logs")


class InvalidInput(RequestError):
    """When the request body cannot be turned into feature rows"""

    status = 400

    def __init__(self, message: str, *, code: str) -> None:
        # Always a specific code (invalid_json, ragged_batch, ...): callers branch on it.
        super().__init__(message, code=code)


class PayloadTooLarge(RequestError):
    """When the body is larger than the configured limit"""

    status = 413
    code = "payload_too_large"


class UnreadableBody(RequestError):
    """When the body cannot be read to its end: the client left, or its encoding is broken"""

    status = 400
    code = "unreadable_body"


class BodyTimeout(RequestError):
    """When the client sends nothing more of its body for too long"""

    status = 408
    code = "body_timeout"


class RouteNotFound(RequestError):
    """When no route matches the request path"""

    status = 404
    code = "not_found"


class MethodNotAllowed(RequestError):
    """When the path exists but not for this HTTP method"""

    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, *, allow: str) -> None:
        super().__init__(message)
        self.allow = allow

    @property
    def headers(self) -> dict[str, str]:
        return {"Allow": self.allow}


class UnprocessableValues(RequestError):
    """When valid, in-range values overflow the model's arithmetic: it has no answer for them"""

    status = 422
    code = "non_finite_prediction"


class ModelUnavailable(RequestError):
    """When the model failed to load at init: every request fails closed"""

    status = 503
    code = "model_unavailable"

    def __init__(self) -> None:
        # Artifact names and hashes say too much to a caller; the init log line has them.
        super().__init__("the model is unavailable on this instance; see the function's logs")


class PredictionFailed(RequestError):
    """When a validated request makes the model itself fail"""

    status = 500
    code = "prediction_failed"
