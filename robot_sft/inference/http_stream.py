"""HTTP to an inference server, with the standard library only: a JSON GET and a streamed
(server-sent events) POST that a cancel Event ends at once.

Why not the `openai` client or httpx: the robot needs two things they do not give
together. A stop or a newer command must end the request *now* - also while the server
sends nothing (hung, queued, or dead without a FIN) - and a read blocked in a socket
cannot see a threading.Event. So the request runs in a reader thread of its own; the
caller's generator waits on a queue in short slices, checks the Event and the inactivity
deadline between them, and on cancel shuts the socket down, which ends the blocked read
and, server-side, the generation (vLLM and llama.cpp's servers abort a request whose
client went away). One connection per request: a new one after a server restart is no
special case (nothing to "reconnect"), and it costs ~1 ms on a LAN.

Every failure is a ServerError whose text is one line a robot can say on /response
("cannot reach the inference server at http://... (connection refused)"). Pure: no
torch, no rclpy.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import threading
import time
from typing import Iterator
from urllib.parse import urlsplit

from robot_sft.inference.base import GenerationCancelled

POLL_S = 0.01          # how often a waiting stream looks at its cancel Event
MAX_ERROR_CHARS = 200  # of a server's error body, in a message
MAX_LINE_BYTES = 1 << 20


class ServerError(Exception):
    """The server gave no usable answer: down, too slow, an HTTP error, a broken stream.
    The message is one line for /response."""


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def server_base(url: str) -> str:
    """The server's root, from what an operator may write: http://host:8000, .../v1, .../v1/.
    ValueError for anything but an http(s) URL with a host."""
    parts = urlsplit(str(url).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"server_url must be an http:// or https:// URL with a host, got {url!r}")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[:-3]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _error_text(status: int, reason: str, body: bytes) -> str:
    """What an HTTP error says: the OpenAI-style {"error": {"message"}} (vLLM), FastAPI's
    {"detail"} (llama.cpp's Python server), or the body's start."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error:
            text = error if isinstance(error, str) else json.dumps(error)
    return f"HTTP {status} {reason}: {one_line(text)}".rstrip(": ")


class HttpServer:
    """One inference server: its root URL, an optional bearer key, and how long any one
    wait for it may last (connect, headers, each piece of a stream)."""

    def __init__(self, url: str, api_key: str = "", timeout: float = 10.0):
        self.base = server_base(url)
        parts = urlsplit(self.base)
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port or (443 if self.https else 80)
        self.prefix = parts.path
        self.api_key = api_key
        self.timeout = float(timeout)

    def __repr__(self) -> str:
        return f"HttpServer({self.base!r})"

    def _headers(self, body: bool) -> dict:
        headers = {"Accept": "application/json, text/event-stream"}
        if body:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _connection(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return kind(self.host, self.port, timeout=self.timeout)

    def _unreachable(self, exc: BaseException) -> ServerError:
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return self._silent()
        if isinstance(exc, ConnectionRefusedError):
            why = "connection refused: is the server running?"
        elif isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
                              http.client.IncompleteRead)):
            why = "the connection was lost"
        else:
            why = one_line(getattr(exc, "strerror", None) or exc or type(exc).__name__)
        return ServerError(f"cannot reach the inference server at {self.base} ({why})")

    def _silent(self) -> ServerError:
        return ServerError(f"the inference server at {self.base} sent nothing for "
                           f"server_timeout={self.timeout:g} s")

    def get_json(self, path: str, cancel: threading.Event | None = None) -> dict:
        """GET prefix+path as JSON. Raises ServerError, GenerationCancelled."""
        with contextlib.closing(self._exchange("GET", path, None, cancel)) as answers:
            for answer in answers:
                return answer
        raise ServerError(f"the inference server at {self.base} answered GET {path} with "
                          f"nothing")

    def stream(self, path: str, body: dict,
               cancel: threading.Event | None = None) -> Iterator[dict]:
        """POST body as JSON to prefix+path and yield each server-sent event's JSON object
        until `data: [DONE]`. Raises GenerationCancelled as soon as `cancel` is set,
        ServerError when the server cannot be reached, answers an HTTP error, sends
        nothing for `timeout` seconds, breaks the stream off, or sends what is not an
        event stream. Closing the generator closes the connection."""
        return self._exchange("POST", path, body, cancel)

    def _exchange(self, method: str, path: str, body: dict | None,
                  cancel: threading.Event | None) -> Iterator[dict]:
        """The request in a reader thread; here, what it read, as it comes."""
        events: queue.SimpleQueue = queue.SimpleQueue()
        connection = self._connection()
        abandoned = threading.Event()
        reader = threading.Thread(target=self._read,
                                  args=(connection, method, path, body, events, abandoned),
                                  daemon=True, name="inference-http")
        reader.start()
        last = time.monotonic()
        try:
            while True:
                try:
                    kind, value = events.get(timeout=POLL_S)
                except queue.Empty:
                    if cancel is not None and cancel.is_set():
                        raise GenerationCancelled() from None
                    if time.monotonic() - last > self.timeout:
                        raise self._silent() from None
                    continue
                if cancel is not None and cancel.is_set():
                    raise GenerationCancelled()
                last = time.monotonic()
                if kind == "event":
                    yield value
                elif kind == "done":
                    return
                elif kind == "error":
                    raise value
        finally:
            abandoned.set()
            _shut(connection)

    def _read(self, connection, method: str, path: str, body: dict | None,
              events: queue.SimpleQueue, abandoned: threading.Event) -> None:
        """The reader thread: the request, then each answer into `events` (a GET's JSON,
        or each event of a stream, then ("done", None)), or ("error", ServerError).
        A request abandoned while connecting is not sent (the server would generate an
        answer nobody reads); once abandoned, nothing is reported."""
        try:
            connection.connect()
            if abandoned.is_set():
                return
            data = None if body is None else json.dumps(body).encode("utf-8")
            connection.request(method, self.prefix + path, data, self._headers(data is not None))
            response = connection.getresponse()
            if response.status != 200:
                text = _error_text(response.status, response.reason,
                                   response.read(MAX_LINE_BYTES))
                raise ServerError(f"the inference server at {self.base} answered {method} "
                                  f"{path} with {text}")
            if method == "GET":
                events.put(("event", _json_body(response.read(MAX_LINE_BYTES), self.base, path)))
            else:
                self._read_events(response, events)
            events.put(("done", None))
        except Exception as exc:  # noqa: BLE001 - every failure is reported, once
            if abandoned.is_set():
                return  # the caller closed the connection under this thread: expected
            error = exc if isinstance(exc, ServerError) else self._unreachable(exc)
            events.put(("error", error))
        finally:
            connection.close()

    def _read_events(self, response, events: queue.SimpleQueue) -> None:
        kind = response.getheader("Content-Type", "")
        if not kind.startswith("text/event-stream"):
            start = one_line(response.read(120).decode("utf-8", "replace"), 80)
            raise ServerError(f"the inference server at {self.base} did not stream "
                              f"(Content-Type {kind or 'none'}: {start!r})")
        events.put(("alive", None))  # headers: the server has taken the request
        while True:
            line = response.readline(MAX_LINE_BYTES)
            if not line:
                raise ServerError(f"the inference server at {self.base} broke the answer off "
                                  f"(the stream ended without [DONE])")
            event = _parse_line(line, self.base)
            if event is _DONE:
                return
            events.put(("alive", None) if event is None else ("event", event))


def _json_body(body: bytes, base: str, path: str):
    try:
        return json.loads(body)
    except ValueError:
        raise ServerError(f"the inference server at {base} answered GET {path} with something "
                          f"that is not JSON: {one_line(body[:80])!r}") from None


_DONE = object()


def _parse_line(line: bytes, base: str):
    """One line of an event stream: a JSON object (a `data:` event), _DONE, or None (a
    blank line, a comment such as sse-starlette's ": ping", another field)."""
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    if not text or text.startswith(":") or not text.startswith("data:"):
        return None
    data = text[5:].strip()
    if data == "[DONE]":
        return _DONE
    try:
        event = json.loads(data)
    except ValueError:
        raise ServerError(f"the inference server at {base} sent a malformed event: "
                          f"{one_line(data, 80)!r}") from None
    if not isinstance(event, dict):
        raise ServerError(f"the inference server at {base} sent an event that is not an "
                          f"object: {one_line(data, 80)!r}")
    if "error" in event:  # vLLM reports an error inside the stream this way
        error = event["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise ServerError(f"the inference server at {base} reported an error: "
                          f"{one_line(message)}")
    return event


def _shut(connection) -> None:
    """End a connection now, also one whose reader thread is blocked in recv()."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    connection.close()
