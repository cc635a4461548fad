"""Reading a paged list of the platform's whole.

The spec gives `per_page` no maximum and no default, so a server may answer fewer than asked: the pages
come from `paging.total_count` and the size of the first page, never from a short page (docs/platform.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Get = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]  # the query's paging -> the answer's body


async def every_page(get: Get, per_page: int | None,
                     items: Callable[[dict[str, Any]], Any] = lambda body: body.get("data")) -> list[Any]:
    """Every item of a list. Without `per_page` the first request asks no paging at all (a list the spec
    does not page), and more pages are asked for only when the answer's `total_count` says so. Items seen
    twice (the list moved between pages) are kept once; a list that moved is read on, a page at a time,
    to at most twice its pages."""
    sized = {"per_page": per_page} if per_page else {}

    async def page(number: int) -> tuple[list[Any], int | None]:
        body = await get({**sized, "page_no": number} if number > 1 or per_page else sized)
        total = (body.get("paging") or {}).get("total_count")
        return list(items(body) or []), int(total) if isinstance(total, int | float) else None

    found, total = await page(1)
    if total is None or not found or len(found) >= total:
        return found
    pages = -(-total // len(found))  # the server's page size is the first page's
    for more, _ in await asyncio.gather(*(page(n) for n in range(2, pages + 1))):
        found.extend(more)
    last = pages
    while len({_key(i) for i in found}) < total and last < 2 * pages:
        last += 1
        more, _ = await page(last)
        if not more:
            break
        found.extend(more)
    return list({_key(i): i for i in found}.values())


def _key(item: Any) -> Any:
    return item.get("id", repr(item)) if isinstance(item, dict) else repr(item)
