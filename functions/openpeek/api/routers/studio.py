"""The studio (`/studio/`), and `/docs` and `/redoc` from packaged assets: pages that work without internet access.

Files are read from the package (openpeek.studio.STATIC_ROOT) and answered whole: the same route serves them through
uvicorn and through API Gateway + mangum. The studio calls only the public API, with the key the user signs in with."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Path as PathParameter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import RedirectResponse, Response

from openpeek.domain.errors import NotFound
from openpeek.studio import STATIC_ROOT

router = APIRouter(include_in_schema=False)

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml", ".json": "application/json",
          ".png": "image/png", ".txt": "text/plain; charset=utf-8"}
_VENDOR = "/studio/vendor"
# The app's own files change with each release and are small: always revalidated. Vendored files are pinned.
_REVALIDATE = "no-cache"
_PINNED = "public, max-age=86400"
_PAGE_HEADERS = {"Cache-Control": _REVALIDATE, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                 "X-Frame-Options": "DENY"}
_INLINE_SCRIPT = re.compile(rb"<script[^>]*>(.*?)</script>", re.S)


@lru_cache(maxsize=1)
def _content_security_policy() -> str:
    """The studio's page may run its own files and its one inline script (the import map, allowed by its hash), and
    talk to this server only: a script that got in could not send the signed-in key anywhere else."""
    page = (STATIC_ROOT / "index.html").read_bytes()
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
                      for body in _INLINE_SCRIPT.findall(page) if body.strip())
    return ("default-src 'self'; script-src 'self' " + hashes + "; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
            "form-action 'self'")


def _file(relative: str) -> Response:
    path = (STATIC_ROOT / relative).resolve()
    if not path.is_relative_to(STATIC_ROOT) or not path.is_file():
        raise NotFound("studio file", relative)
    media_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    cache = _PINNED if Path(relative).parts[:1] == ("vendor",) else _REVALIDATE
    return Response(path.read_bytes(), media_type=media_type,
                    headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/studio/", status_code=307)


@router.get("/studio")
def studio_without_slash() -> RedirectResponse:
    # Relative module imports in index.html resolve against /studio/, not /.
    return RedirectResponse("/studio/", status_code=307)


@router.get("/studio/")
def studio_index() -> Response:
    response = _file("index.html")
    response.headers.update(_PAGE_HEADERS)
    response.headers["Content-Security-Policy"] = _content_security_policy()
    return response


# The packaged files' names, their parts at most 128 characters: anything else (a NUL byte or a part longer than the
# filesystem's name limit, which it refuses; control characters, unicode) is refused before any path is built from it.
STUDIO_FILE_NAME = r"^[A-Za-z0-9._-]{1,128}(/[A-Za-z0-9._-]{1,128})*$"


@router.get("/studio/{relative:path}")
def studio_file(relative: str = PathParameter(pattern=STUDIO_FILE_NAME, max_length=512)) -> Response:
    return _file(relative)


@router.get("/docs")
def swagger_ui(request: Request) -> Response:
    return get_swagger_ui_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} — API reference",
                               swagger_js_url=f"{_VENDOR}/swagger-ui/swagger-ui-bundle.js",
                               swagger_css_url=f"{_VENDOR}/swagger-ui/swagger-ui.css",
                               swagger_favicon_url="/studio/favicon.svg",
                               swagger_ui_parameters={"persistAuthorization": False, "displayRequestDuration": True})


@router.get("/redoc")
def redoc(request: Request) -> Response:
    return get_redoc_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} — API reference",
                          redoc_js_url=f"{_VENDOR}/redoc/redoc.standalone.js",
                          redoc_favicon_url="/studio/favicon.svg", with_google_fonts=False)
