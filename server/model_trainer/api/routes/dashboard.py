"""`/ui/`: the dashboard's own files, when it is built; `/` leads there."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from model_trainer.api.deps import DashboardDep


def ui_file(dashboard: DashboardDep, path: str = "") -> FileResponse:
    """A file of the dashboard build: `index.html` for `/ui/`, then the assets it names."""
    return FileResponse(dashboard.file(path), headers=dashboard.headers(path))


async def to_ui() -> RedirectResponse:
    """To the dashboard. Relative, so it holds behind a proxy that adds a path prefix: from
    `/` and from `/ui` alike it leads to `/ui/`, under which the build's relative asset
    URLs resolve."""
    return RedirectResponse("ui/")


# Not part of the API's schema: no client calls these, browsers do.
router = APIRouter(include_in_schema=False)
router.add_api_route("/", to_ui, methods=["GET"])
router.add_api_route("/ui", to_ui, methods=["GET"])
router.add_api_route("/ui/{path:path}", ui_file, methods=["GET"])
