"""A scriptable fake backend on loopback, for tests and benchmarks of magic-prompt code.

:class:`FakeMagicServer` is a real HTTP/1.1 server on ``127.0.0.1`` (an ephemeral port) that
speaks both wire contracts: Ideogram's hosted magic-prompt endpoint
(``POST /v1/ideogram-v4/magic-prompt``) and chat completions (``POST /v1/chat/completions``),
and both describe contracts: the hosted describe endpoint (``POST /v1/ideogram-v4/describe``, a
``multipart/form-data`` upload of ``image_file``, answered with ``{"json_prompt": ...}``) and chat
completions whose user turn carries the image as a data URL.
Queue :class:`Step` objects to script what the next requests get (flawed captions, errors,
``Retry-After``, slow or dripping bodies, dropped connections); with the queue empty every
request gets a valid caption. Every request is recorded.

>>> from captionkit.magic import expand
>>> with FakeMagicServer() as server:
...     server.push(Step.caption(fenced(SAMPLE_CAPTION), protocol="chat"))
...     result = expand("a cafe counter", "3:2", backend="openai-compatible",
...                     base_url=server.chat_url, model="fake")
...     sent = server.requests[0]
>>> result.caption.high_level_description.startswith("A white espresso cup")
True
>>> sent.path, sent.json["model"]
('/v1/chat/completions', 'fake')
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["SAMPLE_CAPTION", "FakeMagicServer", "RecordedRequest", "Step", "describe_path", "fenced", "hosted_path"]

hosted_path = "/v1/ideogram-v4/magic-prompt"
chat_path = "/v1/chat/completions"
describe_path = "/v1/ideogram-v4/describe"

#: A caption that passes the verifier with zero warnings (canonical order, no boxes).
SAMPLE_CAPTION: dict[str, Any] = {
    "high_level_description": "A white espresso cup on a marble café counter next to a small "
    "chalkboard price sign, photographed from a low three-quarter angle.",
    "style_description": {
        "aesthetics": "clean, calm, editorial",
        "lighting": "soft daylight from a window on the left, gentle falloff",
        "photo": "50mm lens, f/2.8, shallow depth of field",
        "medium": "photograph",
        "color_palette": ["#F4F1EC", "#2B2B2B", "#C8A27A", "#6E7F6A"],
    },
    "compositional_deconstruction": {
        "background": "A pale grey marble counter running through a quiet café interior, with "
        "out-of-focus wooden shelves and a bright window far behind.",
        "elements": [
            {
                "type": "obj",
                "desc": "A white glazed ceramic espresso cup on a matching saucer, filled with dark "
                "coffee under a layer of light brown crema, a small polished steel spoon resting on "
                "the saucer rim beside the handle.",
            },
            {
                "type": "text",
                "text": "ESPRESSO\n2,50 €",
                "desc": "White hand-lettered chalk writing in two centred lines on a small "
                "chalkboard sign, a tall condensed capital word above a smaller, thinner price "
                "line, the strokes slightly uneven and dusty like real chalk on slate.",
            },
        ],
    },
}


def fenced(caption: Mapping[str, Any] | str, prose: bool = True) -> str:
    """A reply the way chat models often send it: prose and a fenced json block."""
    text = caption if isinstance(caption, str) else json.dumps(caption, ensure_ascii=False)
    body = f"```json\n{text}\n```"
    return f"Here is the caption you asked for:\n\n{body}\n\nLet me know if you want changes." if prose else body


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON (``None`` if it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def form(self) -> dict[str, Any] | None:
        """A ``multipart/form-data`` body by field name: text fields as ``str``, files as
        ``(filename, content_type, bytes)``; ``None`` when the body is not multipart."""
        ctype = self.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return None
        import email.parser
        import email.policy

        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + self.body
        )
        if not message.is_multipart():
            return None
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is None:
                fields[str(name)] = payload.decode("utf-8")
            else:
                fields[str(name)] = (filename, part.get_content_type(), payload)
        return fields

    def image(self) -> bytes | None:
        """The image this request carries: the upload's ``image_file``, or a chat data URL."""
        form = self.form
        if form is not None:
            found = form.get("image_file")
            return found[2] if isinstance(found, tuple) else None
        for message in (self.json or {}).get("messages", []) if isinstance(self.json, dict) else []:
            content = message.get("content") if isinstance(message, dict) else None
            for part in content if isinstance(content, list) else []:
                url = (part.get("image_url") or {}).get("url", "") if isinstance(part, dict) else ""
                if url.startswith("data:") and ";base64," in url:
                    import base64

                    return base64.b64decode(url.split(";base64,", 1)[1])
        return None


def _contract_problem(request: RecordedRequest) -> str | None:
    """What the hosted describe endpoint would reject before any scripted step (a 400)."""
    if not request.path.endswith(describe_path):
        return None
    form = request.form
    if form is None:
        return "describe takes multipart/form-data"
    upload = form.get("image_file")
    if not isinstance(upload, tuple) or not upload[2]:
        return "image_file is required"
    if upload[1] not in ("image/jpeg", "image/png", "image/webp"):
        return f"unsupported image type {upload[1]}"
    for flag in ("include_bbox", "include_style_descriptions", "include_tags"):
        if flag in form and form[flag] not in ("true", "false"):
            return f"{flag} must be true or false"
    return None


@dataclass(frozen=True)
class Step:
    """One scripted response.

    Attributes:
        status: The HTTP status.
        body: Bytes to send, or a function of the request returning bytes.
        headers: Extra response headers.
        delay: Seconds to wait before sending anything.
        drip: Seconds between single-byte chunks of the body (a slow-dripping server).
        drop: Close the connection without any response.
        reason: The reason phrase of the status line (the standard one by default).
    """

    status: int = 200
    body: bytes | Callable[[RecordedRequest], bytes] = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0
    drop: bool = False
    reason: str | None = None

    @classmethod
    def json(cls, data: Any, status: int = 200, **kwargs: Any) -> Step:
        """Any JSON body."""
        return cls(status=status, body=json.dumps(data, ensure_ascii=False).encode(), **kwargs)

    @classmethod
    def caption(
        cls,
        caption: Mapping[str, Any] | str,
        *,
        protocol: str = "auto",
        finish_reason: str = "stop",
        aspect_ratio: str | None = None,
        usage: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Step:
        """A successful reply carrying ``caption`` in whichever contract the request used.

        Chat replies carry it as the message text (a dict is JSON-encoded; a string is sent as
        is, so flawed text can be scripted). Hosted replies carry it as ``json_prompt``.
        """

        def render(request: RecordedRequest) -> bytes:
            hosted_paths = ("magic-prompt", "describe")
            use = protocol if protocol != "auto" else ("hosted" if request.path.endswith(hosted_paths) else "chat")
            if use == "hosted" and request.path.endswith("describe"):
                prompt = json.loads(caption) if isinstance(caption, str) else caption
                return _dumps({"json_prompt": prompt})
            if use == "hosted":
                prompt = json.loads(caption) if isinstance(caption, str) else caption
                sent = (request.json or {}).get("aspect_ratio", "AUTO")
                echo = aspect_ratio or (sent if sent != "AUTO" else "1x1")
                return _dumps({"json_prompt": prompt, "aspect_ratio": echo})
            text = caption if isinstance(caption, str) else json.dumps(caption, ensure_ascii=False)
            return _dumps(_completion(text, finish_reason, usage, (request.json or {}).get("model")))

        return cls(body=render, **kwargs)

    @classmethod
    def error(cls, status: int, message: str = "error", *, code: Any = None, retry_after: str | None = None,
              **extra: Any) -> Step:
        """An error response in the OpenAI/OpenRouter shape ``{"error": {...}}``."""
        error: dict[str, Any] = {"message": message, "code": status if code is None else code, **extra}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return cls.json({"error": error}, status=status, headers=headers)


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _completion(text: str, finish_reason: str, usage: Mapping[str, Any] | None, model: str | None) -> dict[str, Any]:
    return {
        "id": "gen-fake-0001",
        "object": "chat.completion",
        "created": 0,
        "model": model or "fake-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
        "usage": dict(usage) if usage is not None else {"prompt_tokens": 3000, "completion_tokens": 400, "total_tokens": 3400},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid delayed-ACK stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read .requests instead
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        owner = self.server.owner
        problem = _contract_problem(request)
        if problem is not None:  # the contract itself, checked before the script
            with owner._lock:
                owner.requests.append(request)
            step = Step.json({"error": problem}, status=400)
        else:
            step = owner._next(request)
        if step.delay:
            time.sleep(step.delay)
        if step.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        payload = step.body(request) if callable(step.body) else step.body
        self.send_response(step.status, step.reason)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Request-Id", f"req-{len(owner.requests)}")
        for name, value in step.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            if step.drip:
                for i in range(len(payload)):
                    self.wfile.write(payload[i : i + 1])
                    self.wfile.flush()
                    time.sleep(step.drip)
            else:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    owner: FakeMagicServer


class FakeMagicServer:
    """A loopback server speaking the hosted and chat-completions contracts (see module docs).

    Args:
        latency: Seconds every unscripted response waits before answering.
        default: The step used when the script is empty (a valid caption by default).
    """

    def __init__(self, *, latency: float = 0.0, default: Step | None = None) -> None:
        self.latency = latency
        self.default = default or Step.caption(SAMPLE_CAPTION)
        self.requests: list[RecordedRequest] = []
        self._script: deque[Step] = deque()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def push(self, *steps: Step) -> None:
        """Queue responses for the next requests, in order."""
        with self._lock:
            self._script.extend(steps)

    def _next(self, request: RecordedRequest) -> Step:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.popleft()
        if self.latency:
            return replace(self.default, delay=self.latency)
        return self.default

    @property
    def url(self) -> str:
        """The server root, ``http://127.0.0.1:PORT`` (the hosted backend's ``base_url``)."""
        if self._server is None:
            raise RuntimeError("the server is not running; use it as a context manager or call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def chat_url(self) -> str:
        """The ``/v1`` root for chat backends (OpenRouter and ``openai-compatible``)."""
        return f"{self.url}/v1"

    def start(self) -> FakeMagicServer:
        """Bind an ephemeral port on 127.0.0.1 and serve in a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeMagicServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve until stdin closes: ``python -m captionkit.magic.testing [--latency SECONDS]``.

    Prints the server root on the first line of stdout (for benchmarks in another process).
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Fake magic-prompt server on 127.0.0.1.")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each response waits")
    args = parser.parse_args(argv)
    # one thread per connection: a short GIL switch interval keeps waiting handlers responsive
    sys.setswitchinterval(0.0005)
    with FakeMagicServer(latency=args.latency) as server:
        print(server.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
