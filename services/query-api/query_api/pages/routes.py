"""Serves the pages: `/` -> /logs, `/logs`, `/postbacks`, and their assets under /static.

The pages are open even when API tokens are configured: they are the same static files for
everyone, and the API calls they make carry the user's token.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
PAGES = {"/logs": "logs.html", "/postbacks": "postbacks.html"}

# Server responses, URLs and names in the log are written by strangers: the pages insert them
# as text only, and this policy is the second line: no inline script, nothing from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (ETag makes that a 304): an upgraded service never runs stale JS.
    "Cache-Control": "no-cache",
}


class _Assets(StaticFiles):
    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(_HEADERS)
        return response


router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> RedirectResponse:
    # The log is where people start ("Postbacks > Postbacks Logs"); filters carry over.
    query = request.url.query
    return RedirectResponse("/logs" + (f"?{query}" if query else ""), status_code=307)


def _page(filename: str) -> FileResponse:
    return FileResponse(STATIC_DIR / filename, media_type="text/html", headers=_HEADERS)


@router.get("/logs")
async def logs_page() -> FileResponse:
    return _page(PAGES["/logs"])


@router.get("/postbacks")
async def postbacks_page() -> FileResponse:
    return _page(PAGES["/postbacks"])


def mount_pages(app: FastAPI) -> None:
    """Adds the pages and their assets to the API's app."""
    app.include_router(router)
    app.mount("/static", _Assets(directory=STATIC_DIR), name="static")
