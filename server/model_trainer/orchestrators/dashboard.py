"""The built dashboard's files, as the API serves them at `/ui/`.

They hold no data (the app asks for the API key and sends it with its own requests), so
they are served to anyone; the same rule as artifacts keeps them inside their folder.
"""

from __future__ import annotations

from pathlib import Path

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.infra.paths import plain_path

INDEX = "index.html"
HASHED = "assets/"
"""Where Vite puts the files it names by their content: a changed file gets a new name."""
CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
CACHE_REVALIDATE = "no-cache"
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
"""What the build needs and nothing more: its own scripts (Vite writes no inline script),
style sheets (React and uPlot set styles through the DOM, which the policy allows), icon and
the API on the same origin (fetch and EventSource). No page may frame it: a framed dashboard
could be clicked through by the framing page."""
NOT_BUILT = (
    "the dashboard is not built: run `npm ci && npm run build` in ui/, or point UI_DIST at "
    "a built dashboard"
)


class DashboardAssets:
    """Files of the dashboard build in `dist`, which may appear or change while serving."""

    def __init__(self, dist: Path) -> None:
        self._dist = dist

    def file(self, path: str) -> Path:
        """The file at `path` in the build (`index.html` for the folder itself)."""
        if not (self._dist / INDEX).is_file():
            raise AppError(ErrorCode.NOT_FOUND, NOT_BUILT)
        target = plain_path(self._dist, path or INDEX, "path")
        if target is None or not target.is_file():
            raise AppError(ErrorCode.NOT_FOUND, f"'{path}' is not part of the dashboard")
        return target

    @classmethod
    def headers(cls, path: str) -> dict[str, str]:
        """The headers the file at `path` is served with: how long it may be cached, and the
        page's security policy (the request middleware adds `nosniff` and `DENY` framing)."""
        return {
            "Cache-Control": cls.cache_control(path),
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        }

    @staticmethod
    def cache_control(path: str) -> str:
        """Hashed assets are kept for a year; the rest, `index.html` first (it names the
        current assets), is checked again on every use."""
        return CACHE_IMMUTABLE if path.startswith(HASHED) else CACHE_REVALIDATE
