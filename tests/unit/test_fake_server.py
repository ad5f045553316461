"""The fake-server base behaves like a real HTTP service: routes, recorded requests, injected failures."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.fakes.server import FakeService, Request, Response, route, serve


class Echo(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.items: list[str] = []

    @route("POST", r"/items")
    def add(self, request: Request) -> Response:
        self.items.append(request.json()["name"])
        return Response(201, {"id": len(self.items)})

    @route("GET", r"/items/(?P<item>\d+)")
    def get(self, request: Request, item: str) -> Response:
        return Response(200, {"name": self.items[int(item) - 1], "q": request.arg("q")})


def call(url: str, data: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_routes_state_and_request_log() -> None:
    fake = Echo()
    with serve(fake) as base:
        assert call(f"{base}/items", {"name": "a"}) == (201, {"id": 1})
        assert call(f"{base}/items/1?q=x") == (200, {"name": "a", "q": "x"})
        assert call(f"{base}/nope")[0] == 404
    assert [r.method for r in fake.calls(path="/items")] == ["POST", "GET"]


def test_injected_failures_before_and_after_the_change() -> None:
    fake = Echo()
    with serve(fake) as base:
        fake.fail_next(429, method="POST", headers={"Retry-After": "0"})
        assert call(f"{base}/items", {"name": "a"})[0] == 429
        assert fake.items == []
        fake.fail_next(500, method="POST", after=True)
        assert call(f"{base}/items", {"name": "b"})[0] == 500
        assert fake.items == ["b"]  # committed, but the client saw a 500


@pytest.mark.parametrize("times", [1, 2])
def test_failures_apply_the_given_number_of_times(times: int) -> None:
    fake = Echo()
    with serve(fake) as base:
        fake.fail_next(503, times=times)
        codes = [call(f"{base}/items", {"name": "x"})[0] for _ in range(3)]
    assert codes == [503] * times + [201] * (3 - times)
