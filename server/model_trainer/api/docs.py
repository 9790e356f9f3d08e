"""`/docs` (Swagger UI) and `/redoc`: the API's own documentation pages, with every script,
style sheet and icon they load served by the API itself from the `fastapi-offline` package,
so that they work on a machine without internet (FastAPI's own pages load them from a CDN).

The pages, their assets and the schema they render hold no data and need no API key; the
schema declares the key, so the pages' "Authorize" button sends it with requests tried there.
Each page carries a security policy that runs only its own scripts, the inline one that
starts Swagger UI by its hash, and forbids framing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs-assets"
"""Where the pages' scripts, styles and icon are served (a static mount)."""
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"
ASSET_FILES = (SWAGGER_JS, SWAGGER_CSS, REDOC_JS, FAVICON)
POLICY = (
    "default-src 'none'",
    "script-src 'self'{hashes}",
    # Both libraries style their markup as they render it (ReDoc with <style> elements).
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    # ReDoc runs its search index in a worker it makes from a blob.
    "worker-src blob:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
)
"""The pages' `Content-Security-Policy`; `{hashes}` becomes those of their inline scripts."""

_INLINE_SCRIPT = re.compile(r"(?<=<script>).*?(?=</script>)", re.DOTALL)
"""The text of a script written into the page (FastAPI writes those as a bare `<script>`)."""


def assets_dir() -> Path:
    """The folder of `fastapi-offline` that holds the pages' assets."""
    folder = files("fastapi_offline") / "static"
    if not isinstance(folder, Path) or not folder.is_dir():
        raise RuntimeError(f"fastapi-offline's assets are not a folder on disk: {folder}")
    missing = [name for name in ASSET_FILES if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline's assets lack {', '.join(missing)} in {folder}")
    return folder


def content_security_policy(html: str) -> str:
    """The policy for a page of this HTML: the assets' origin, and its inline scripts by hash
    (so that no other inline script, such as one injected into the page, runs)."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in (match.group() for match in _INLINE_SCRIPT.finditer(html))
    )
    return "; ".join(POLICY).replace("{hashes}", hashes)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = content_security_policy(bytes(page.body).decode())
    return page


def _root_path(request: Request) -> str:
    """The prefix the app is mounted under (ASGI `root_path`), without a trailing slash."""
    return request.base_url.path.rstrip("/")


def install_docs(app: FastAPI) -> None:
    """Serve the documentation pages and their assets on `app`, which must have been created
    with `docs_url=None, redoc_url=None` (FastAPI's CDN-loading pages)."""
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("create the app with docs_url=None and redoc_url=None")
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("the documentation pages need the app's OpenAPI schema")
    app.mount(ASSETS_PATH, StaticFiles(directory=assets_dir()), name="docs-assets")
    title = app.title

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root_path(request)
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{ASSETS_PATH}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/{FAVICON}",
            oauth2_redirect_url=None,
        )
        return _with_policy(page)

    async def redoc(request: Request) -> HTMLResponse:
        root = _root_path(request)
        page = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/{REDOC_JS}",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/{FAVICON}",
            with_google_fonts=False,
        )
        return _with_policy(page)

    app.add_api_route(DOCS_PATH, swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(REDOC_PATH, redoc, methods=["GET"], include_in_schema=False)
