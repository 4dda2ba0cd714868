"""API errors in OpenAI's shape ({"error": {"message", "type", "code"}}), so any OpenAI client
shows the message; the console's own errors mapped to their HTTP status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    ConsoleError,
    DatabaseUnavailable,
    EmbeddingModelMismatch,
    LimitReached,
    ModelError,
    QuestionRejected,
)


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, type_: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, type_="invalid_request_error", code="invalid_api_key")


def error_response(status: int, message: str, *, type_: str, code: str | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = {"error": {"message": message, "type": type_, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def from_console_error(exc: ConsoleError) -> ApiError:
    if isinstance(exc, QuestionRejected):
        return ApiError(400, str(exc), type_="invalid_request_error", code="invalid_message")
    if isinstance(exc, LimitReached):
        return ApiError(429, str(exc), type_="requests", code="rate_limit_exceeded")
    if isinstance(exc, ModelError):
        return ApiError(502, f"The model failed: {exc}", type_="server_error", code=exc.code)
    if isinstance(exc, DatabaseUnavailable | EmbeddingModelMismatch):
        return ApiError(503, str(exc), type_="server_error", code="unavailable")
    return ApiError(400, str(exc), type_="invalid_request_error")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, type_=exc.type, code=exc.code)

    @app.exception_handler(ConsoleError)
    async def console_error(request: Request, exc: ConsoleError) -> JSONResponse:
        error = from_console_error(exc)
        return error_response(error.status, error.message, type_=error.type, code=error.code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _validation_message(exc), type_="invalid_request_error")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {405: "Method not allowed: use POST.", 404: "Not found."}.get(
            exc.status_code, str(exc.detail)
        )
        response = error_response(exc.status_code, message, type_="invalid_request_error")
        if exc.headers:
            response.headers.update(exc.headers)  # 405 keeps its Allow header
        return response


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    if first.get("type") == "json_invalid" or not where:
        return 'The request body must be JSON: {"message": "your question"}.'
    return f"{where}: {first.get('msg', 'invalid')}."
