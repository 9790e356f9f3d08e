"""The API as the bot reads it: runs, one run, its metrics, and cancel, over async HTTP.

The API is the source of truth for every status the bot shows. Errors arrive as `ApiError`
(`client.errors`): the API's own code, or `API_UNREACHABLE`/`BAD_RESPONSE` for the way there.
"""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from model_trainer.client.errors import BAD_ANSWER, UNREACHABLE, ApiError, error_from_answer
from model_trainer.client.views import MetricsView, RunsView, RunView, View

API_KEY_HEADER = "X-Api-Key"
TIMEOUT_S = 10.0
"""Per request; the API answers status reads in milliseconds."""

V = TypeVar("V", bound=View)


class TrainerApi:
    """Async reads (and cancel) of `/runs`; one connection pool for the bot's life."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout_s: float = TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {API_KEY_HEADER: api_key} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )

    async def recent_runs(self, limit: int = 25) -> list[RunView]:
        return (await self._call("GET", "/runs", RunsView, {"limit": str(limit)})).data

    async def run(self, run_id: str) -> RunView:
        return await self._call("GET", f"/runs/{quote(run_id, safe='')}", RunView)

    async def metrics(self, run_id: str, after: int = 0) -> MetricsView:
        path = f"/runs/{quote(run_id, safe='')}/metrics"
        return await self._call("GET", path, MetricsView, {"after": str(after)})

    async def cancel(self, run_id: str) -> RunView:
        return await self._call("POST", f"/runs/{quote(run_id, safe='')}/cancel", RunView)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, view: type[V], params: dict[str, str] | None = None
    ) -> V:
        try:
            response = await self._http.request(method, path, params=params)
        except httpx.HTTPError as exc:
            # No address in the message: it reaches chat replies (redacted, but still).
            raise ApiError(UNREACHABLE, f"the API does not answer ({type(exc).__name__})") from exc
        ids = response.headers.get_list("x-request-id")
        request_id = ids[0] if ids else None
        if response.status_code >= 400:
            raise error_from_answer(response.status_code, response.content, request_id)
        try:
            return view.model_validate_json(response.content)
        except ValidationError as exc:
            status = response.status_code
            raise ApiError(BAD_ANSWER, f"HTTP {status} with an unexpected body", status) from exc
