"""One line per refused request in the served Bento's log: copied into the Bento as ``nbprod_service_log.py`` (it
imports nothing of nbprod). BentoML logs every request it refuses (a field that failed validation) as an ERROR with
a traceback; :func:`one_line_bad_requests` makes that one WARNING line with the status and the field.
"""

from __future__ import annotations

import logging
from typing import Optional

__all__ = ["BENTOML_HTTP_LOGGER", "OneLineBadRequests", "bad_request_line", "one_line_bad_requests"]


#: where BentoML's HTTP app logs "Exception on /predict [POST]" with the traceback, for every refused request too
BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"


def bad_request_line(exc: Optional[BaseException]) -> Optional[str]:
    """``status=400 field=records.0.plan (literal_error: ...)`` for a request the service refuses: pydantic's
    validation error (duck-typed: ``errors()``, ``error_count()``) or a BentoML client error (4xx); None otherwise."""
    if exc is None:
        return None
    if callable(getattr(exc, "errors", None)) and callable(getattr(exc, "error_count", None)):
        try:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)  # type: ignore[attr-defined]
        except TypeError:
            errors = exc.errors()  # type: ignore[attr-defined]
        first = errors[0] if errors else {}
        field = ".".join(str(p) for p in first.get("loc", ())) or "(body)"
        count = int(exc.error_count())  # type: ignore[attr-defined]
        more = f"; {count - 1} more" if count > 1 else ""
        return f"status=400 field={field} ({first.get('type', 'invalid')}: {first.get('msg', '')}{more})"
    code = getattr(getattr(exc, "error_code", None), "value", None)
    if isinstance(code, int) and 400 <= code < 500:
        text = (str(exc).splitlines() or [""])[0][:200]
        return f"status={code} field=- ({type(exc).__name__}: {text})"
    return None


class OneLineBadRequests(logging.Filter):
    """Rewrites BentoML's record of a refused request as one WARNING line (method, path, status, field); a server
    error (5xx, anything else) keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        line = bad_request_line(record.exc_info[1] if record.exc_info else None)
        if line is None:
            return True
        args = record.args if isinstance(record.args, tuple) and len(record.args) == 2 else ("?", "?")
        record.msg, record.args = "bad request %s %s: %s", (args[1], args[0], line)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def one_line_bad_requests() -> None:
    """Install :class:`OneLineBadRequests` on BentoML's HTTP logger (once per process)."""
    logger = logging.getLogger(BENTOML_HTTP_LOGGER)
    if not any(isinstance(f, OneLineBadRequests) for f in logger.filters):
        logger.addFilter(OneLineBadRequests())
