"""What serving/protocol.py and serving/worker.py take from uvicorn beyond its documented API, checked on
the installed uvicorn: names, the signatures they are called with, the attributes read, and that uvicorn
still calls the methods overridden. pyproject.toml bounds uvicorn to the versions this was written for;
when that bound is raised, this says in one line what a new version no longer offers."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

import h11
import pytest
import uvicorn
from uvicorn.server import ServerState

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # get_event_loop in old uvicorns

WHO = f"uvicorn {uvicorn.__version__}"
# module: names used from it, and by whom.
NAMES = {
    "uvicorn": (("Config", "Server"), "worker.py"),
    "uvicorn._compat": (("asyncio_run",), "worker.py"),
    "uvicorn.protocols.http.flow_control": (("FlowControl",), "protocol.py"),
    "uvicorn.protocols.http.h11_impl": (("H11Protocol",), "protocol.py"),
    "uvicorn.protocols.http.httptools_impl": (("HttpToolsProtocol",), "protocol.py"),
}
# Methods protocol.py overrides and calls through super(), with the parameters it passes.
PROTOCOL_METHODS = {
    "connection_made": ["transport"],
    "connection_lost": ["exc"],
    "data_received": ["data"],
    "on_response_complete": [],
    "send_400_response": ["msg"],
}
HTTPTOOLS_METHODS: dict[str, list[str]] = {"on_message_begin": [], "on_headers_complete": []}
FLOW_METHODS = {"__init__": ["transport"], "pause_reading": [], "resume_reading": []}
CONFIG_KEYWORDS = (
    "app", "http", "loop", "lifespan", "timeout_graceful_shutdown", "access_log", "proxy_headers",
    "server_header", "log_config",
)  # fmt: skip
REQUEST = b"GET /guarded HTTP/1.1\r\nHost: example.org\r\nX-Probe: 1\r\n\r\n"


def _named(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _parameters(function: Callable[..., Any]) -> list[str]:
    return [p for p in inspect.signature(function).parameters if p != "self"]


async def _app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _recording(base: type[asyncio.Protocol]) -> type[Any]:
    """`base` with the hooks protocol.py overrides, each noting that uvicorn called it and what it saw."""

    class Recording(base):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.seen: dict[str, Any] = {}
            self.at_init = {name: hasattr(self, name) for name in ("cycle", "loop", "conn", "pipeline")}

        def connection_made(self, transport: asyncio.Transport) -> None:
            if hasattr(self, "conn"):
                self.conn = self.ours = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
            super().connection_made(transport)
            self.seen["connection_made"] = {
                name: getattr(self, name, AttributeError) for name in ("transport", "flow", "client", "cycle")
            }
            self.seen["conn kept"] = getattr(self, "conn", None) is getattr(self, "ours", None)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.seen["on_message_begin"] = True

        def on_headers_complete(self) -> None:
            self.seen["on_headers_complete"] = (getattr(self, "url", None), getattr(self, "headers", None))
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self.seen.setdefault("cycles", []).append(self.cycle)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self.seen["on_response_complete"] = True

        def send_400_response(self, msg: str) -> None:
            self.seen["send_400_response"] = msg
            super().send_400_response(msg)

    return Recording


async def _drive(protocol_class: type[Any], request: bytes) -> tuple[Any, bytes]:
    """Serve `request` over a real socket pair through `protocol_class`, built as uvicorn builds it."""
    config = uvicorn.Config(_app, http=protocol_class, lifespan="off", log_config=None)
    config.load()
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    await loop.connect_accepted_socket(lambda: protocol, ours)
    theirs.setblocking(False)
    await loop.sock_sendall(theirs, request)
    answer = b""
    try:
        while not answer.endswith((b"ok", b"\r\n\r\n")) and not protocol.transport.is_closing():
            answer += await asyncio.wait_for(loop.sock_recv(theirs, 65536), 5)
        await asyncio.sleep(0.05)  # let the answer's completion run
    finally:
        theirs.close()
        protocol.transport.close()
        await asyncio.sleep(0)
    return protocol, answer


@pytest.mark.parametrize("module", sorted(NAMES))
def test_the_names_used_are_there(module: str) -> None:
    names, user = NAMES[module]
    try:
        found = importlib.import_module(module)
    except ImportError:
        pytest.fail(f"{WHO} has no module {module}, which serving/{user} imports")
    for name in names:
        assert hasattr(found, name), f"{WHO}: {module} has no {name}, which serving/{user} uses"


@pytest.mark.parametrize(
    ("owner", "methods"),
    [
        ("uvicorn.protocols.http.h11_impl.H11Protocol", PROTOCOL_METHODS),
        ("uvicorn.protocols.http.httptools_impl.HttpToolsProtocol", PROTOCOL_METHODS | HTTPTOOLS_METHODS),
        ("uvicorn.protocols.http.flow_control.FlowControl", FLOW_METHODS),
    ],
)
def test_the_methods_overridden_keep_their_signatures(owner: str, methods: dict[str, list[str]]) -> None:
    cls = _named(owner)
    for method, expected in methods.items():
        assert callable(getattr(cls, method, None)), (
            f"{WHO}: {owner} has no method {method}, which serving/protocol.py overrides"
        )
        found = _parameters(getattr(cls, method))
        assert found == expected, (
            f"{WHO}: {owner}.{method} takes ({', '.join(found)}), "
            f"serving/protocol.py calls it with ({', '.join(expected)})"
        )


def test_the_worker_calls_still_fit() -> None:
    accepted = _parameters(uvicorn.Config.__init__)
    missing = [keyword for keyword in CONFIG_KEYWORDS if keyword not in accepted]
    assert not missing, f"{WHO}: uvicorn.Config no longer takes {', '.join(missing)} (serving/worker.py)"
    assert callable(getattr(uvicorn.Config, "get_loop_factory", None)), (
        f"{WHO}: uvicorn.Config has no get_loop_factory(), which serving/worker.py calls"
    )
    assert "sockets" in _parameters(uvicorn.Server.serve), (
        f"{WHO}: uvicorn.Server.serve() no longer takes sockets=, which serving/worker.py passes"
    )
    server = uvicorn.Server(uvicorn.Config(_app))
    for attribute in ("started", "should_exit"):
        assert hasattr(server, attribute), (
            f"{WHO}: uvicorn.Server has no attribute {attribute}, which serving/worker.py reads"
        )
    from uvicorn._compat import asyncio_run  # noqa: PLC0415 - the name is checked above first

    assert "loop_factory" in _parameters(asyncio_run), (
        f"{WHO}: uvicorn._compat.asyncio_run takes no loop_factory, which serving/worker.py passes"
    )


@pytest.mark.parametrize("stack", ["h11", "httptools"])
def test_uvicorn_still_calls_the_hooks_with_the_state_they_read(stack: str) -> None:
    base = _named(
        "uvicorn.protocols.http.h11_impl.H11Protocol"
        if stack == "h11"
        else "uvicorn.protocols.http.httptools_impl.HttpToolsProtocol"
    )
    from uvicorn.protocols.http.flow_control import FlowControl  # noqa: PLC0415

    protocol, answer = asyncio.run(_drive(_recording(base), REQUEST))
    name = base.__name__
    answered = answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok")
    assert answered, f"{WHO}: {name} did not answer a plain request through the hooks: {answer[:80]!r}"
    at_init = ["loop", "cycle"] + (["conn"] if stack == "h11" else ["pipeline"])
    missing = [attribute for attribute in at_init if not protocol.at_init[attribute]]
    assert not missing, f"{WHO}: {name}.__init__ no longer sets {', '.join(missing)} (serving/protocol.py)"
    made = protocol.seen.get("connection_made")
    assert made, f"{WHO}: {name}.connection_made is not called"
    missing = [attribute for attribute, value in made.items() if value is AttributeError]
    assert not missing, f"{WHO}: {name}.connection_made no longer sets {', '.join(missing)}"
    assert isinstance(made["flow"], FlowControl), f"{WHO}: {name}.flow is no longer a FlowControl"
    assert made["cycle"] is None, f"{WHO}: {name} has a cycle before any request (the head timer reads it)"
    cycles = protocol.seen.get("cycles", [])
    assert any(cycle is not None for cycle in cycles), (
        f"{WHO}: {name}.cycle no longer changes when a request's head arrives (the head timer reads it)"
    )
    assert protocol.seen.get("on_response_complete"), f"{WHO}: {name}.on_response_complete is not called"
    if stack == "h11":
        assert protocol.seen["conn kept"], (
            f"{WHO}: {name}.connection_made replaces self.conn, the h11 connection protocol.py sizes"
        )
    else:
        assert isinstance(protocol.pipeline, deque), f"{WHO}: {name}.pipeline is no longer a deque"
        assert protocol.seen.get("on_message_begin"), f"{WHO}: {name}.on_message_begin is not called"
        url, headers = protocol.seen.get("on_headers_complete", (None, None))
        head = (url, [(k.lower(), v) for k, v in headers or []])
        assert head == (b"/guarded", [(b"host", b"example.org"), (b"x-probe", b"1")]), (
            f"{WHO}: {name}.on_headers_complete no longer finds the head in self.url and self.headers"
        )


@pytest.mark.parametrize("stack", ["h11", "httptools"])
def test_a_refused_request_still_goes_through_send_400_response(stack: str) -> None:
    base = _named(
        "uvicorn.protocols.http.h11_impl.H11Protocol"
        if stack == "h11"
        else "uvicorn.protocols.http.httptools_impl.HttpToolsProtocol"
    )
    protocol, answer = asyncio.run(_drive(_recording(base), b"GET / HTTP/1.1\r\nHost: a\r\nHost b\r\n\r\n"))
    assert "send_400_response" in protocol.seen, (
        f"{WHO}: {base.__name__} refused a malformed request without send_400_response ({answer[:40]!r}), "
        "where serving/protocol.py adds the security headers and the access line"
    )
