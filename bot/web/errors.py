"""JSON errors for the HTTP API, and a middleware so that nothing a client sends gives a 500."""

from __future__ import annotations

import logging

from aiohttp import web

log = logging.getLogger(__name__)


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler):  # noqa: ANN001, ANN201
    """Turn HTTP errors into JSON bodies and log (not leak) unexpected failures."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400 or error.content_type == "application/json":
            raise
        return json_error(error.status, error.reason.lower().replace(" ", "_"), error.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal_error", "Internal error, please try again later.")
