"""Key hygiene: key checks, the redactor, and the reproducers of issue 9 (section 2).

The end-to-end canary properties over every backend and mode are in ``test_key_leaks.py``.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import pickle
import subprocess
import sys
import traceback
from pathlib import Path

import anyio
import httpx
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from typer.testing import CliRunner

import captionkit
from captionkit.cli import app
from captionkit.compat import CaptionVerifier
from captionkit.magic import AsyncMagicPromptClient, MagicPromptClient, Secret, errors, expand_many
from captionkit.magic._secrets import MARKER, Hold, live_keys, redact, scrub, scrub_exception
from captionkit.magic.testing import SAMPLE_CAPTION, RecordedRequest, Step

from .conftest import FAST_RETRY, LEAK_SETTINGS
from .leaks import PRINTABLE, canaries, echoes, exception_outputs, leaks, result_outputs

CANARY = "sk-canary-7f3a9c1e5b2d4f60"
runner = CliRunner()


def echo_key(request: RecordedRequest) -> bytes:
    """A hostile server that puts the key it received into its error message."""
    key = request.headers.get("authorization", "") + request.headers.get("api-key", "")
    return ('{"error": {"message": "invalid key ' + key + '", "code": 401}}').encode()


def shown(exc: BaseException) -> list[tuple[str, str]]:
    return exception_outputs("exc", exc)


def hosted(server, key: str = CANARY, **extra) -> MagicPromptClient:
    return MagicPromptClient("ideogram-4-v1", api_key=key, base_url=server.url, retry=FAST_RETRY, **extra)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real command line, in a child process (what a shell user runs)."""
    root = str(Path(captionkit.__file__).parent.parent)
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run([sys.executable, "-m", "captionkit", "expand", *args], capture_output=True, text=True,
                          env={**clean, "PYTHONPATH": root, **env}, timeout=120)


# --- the existing guarantees -------------------------------------------------------------------


def test_canary_never_leaks_over_a_real_loopback_call(server, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log at DEBUG
    server.push(Step.caption(SAMPLE_CAPTION))
    server.push(Step(status=401, body=echo_key))
    with MagicPromptClient("claude-sonnet-v1", api_key=CANARY, base_url=server.chat_url, retry=FAST_RETRY) as client:
        result = client.expand("x", "3:2")
        logging.getLogger("httpcore.http11").debug("send_request_headers headers=[(b'Authorization', b'Bearer %s')]", CANARY)
        with pytest.raises(errors.AuthenticationError) as info:
            client.expand("x", "3:2")
        client_repr = repr(client)
    assert server.requests[0].headers["authorization"] == f"Bearer {CANARY}"  # it was really sent
    exc = info.value
    assert leaks(CANARY, [("log", caplog.text), ("client", client_repr), *result_outputs("result", result), *shown(exc)]) == []
    assert MARKER in exc.body and MARKER in caplog.text


def test_canary_never_leaks_with_a_mock_transport_and_the_hosted_header(caplog) -> None:
    caplog.set_level(logging.DEBUG)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"error": f"key {request.headers['api-key']} has no access"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = MagicPromptClient("ideogram-4-v1", api_key=CANARY, http_client=http)
    with pytest.raises(errors.PermissionDeniedError) as info:
        client.expand("x")
    assert leaks(CANARY, [("log", caplog.text), ("client", repr(client)), *shown(info.value)]) == []


def test_secret_type_masks_and_refuses_pickling(monkeypatch) -> None:
    secret = Secret(CANARY)
    assert CANARY not in repr(secret) and CANARY not in str(secret) and CANARY not in f"{secret!r} {secret}"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    monkeypatch.setenv("IDEOGRAM_API_KEY", CANARY)
    with MagicPromptClient() as client:
        assert CANARY not in repr(client) and CANARY not in repr(client.config) and CANARY not in str(vars(client))


def test_missing_key_error_never_shows_other_keys(monkeypatch) -> None:
    monkeypatch.setenv("MAGIC_PROMPT_API_KEY", CANARY)  # a key for another backend
    with pytest.raises(errors.MissingAPIKeyError) as info:
        MagicPromptClient("ideogram-4-v1")
    assert CANARY not in str(info.value) and CANARY not in repr(pickle.loads(pickle.dumps(info.value)))


# --- reproducer 1: whitespace around a key ----------------------------------------------------------


@pytest.mark.parametrize("raw", [CANARY + "\r", CANARY + "\n", CANARY + "\r\n", CANARY + "\t", "\t" + CANARY, f"  {CANARY} \r\n"])
def test_whitespace_around_a_key_is_stripped_with_a_warning(server, caplog, raw) -> None:
    with pytest.warns(errors.APIKeyWarning, match="removed whitespace around the API key") as caught:
        client = hosted(server, raw)
    logged = [r for r in caplog.records if r.name == "captionkit.magic" and r.levelno == logging.WARNING]
    assert [r.getMessage() for r in logged] == [str(caught[0].message)]
    with client:
        result = client.expand("a cafe", "3:2")
    assert server.requests[0].headers["api-key"] == CANARY  # sent stripped, and the call works
    message = str(caught[0].message)
    assert CANARY[:8] not in message and "api_key" in message
    assert leaks(CANARY, result_outputs("result", result)) == []


def test_whitespace_around_a_key_from_the_environment_names_the_variable(monkeypatch, server) -> None:
    monkeypatch.setenv("MAGIC_PROMPT_API_KEY", CANARY + "\r\n")
    with pytest.warns(errors.APIKeyWarning, match=r"MAGIC_PROMPT_API_KEY: .*a trailing '\\r\\n'"):
        client = MagicPromptClient("claude-sonnet-v1", base_url=server.chat_url, retry=FAST_RETRY)
    with client:
        client.expand("a cafe", "3:2")
    assert server.requests[0].headers["authorization"] == f"Bearer {CANARY}"


def test_a_key_that_is_only_whitespace_counts_as_unset(monkeypatch) -> None:
    monkeypatch.setenv("IDEOGRAM_API_KEY", " \r\n")
    with pytest.raises(errors.MissingAPIKeyError, match="IDEOGRAM_API_KEY"):
        MagicPromptClient("ideogram-4-v1")


def test_crlf_key_from_cat_works_in_the_real_cli(server) -> None:
    # the case: IDEOGRAM_API_KEY=$(cat key.txt) of a CRLF file keeps the '\r'
    proc = run_cli("a cafe", "--base-url", server.url, env={"IDEOGRAM_API_KEY": CANARY + "\r"})
    assert proc.returncode == 0, proc.stderr
    assert server.requests[0].headers["api-key"] == CANARY
    assert "warning: IDEOGRAM_API_KEY: removed whitespace around the API key (a trailing '\\r')" in proc.stderr
    assert json.loads(proc.stdout) == SAMPLE_CAPTION
    assert leaks(CANARY, [("stdout", proc.stdout), ("stderr", proc.stderr)]) == []


# --- reproducer 2: characters no header can carry ---------------------------------------------------

BAD = [
    ("\xa0", "U+00A0 NO-BREAK SPACE"),
    ("\x00", "U+0000"),
    ("\x1b", "U+001B"),
    ("\x7f", "U+007F"),
    ("é", "U+00E9 LATIN SMALL LETTER E WITH ACUTE"),
    ("\u200b", "U+200B ZERO WIDTH SPACE"),
    ("\u2028", "U+2028 LINE SEPARATOR"),
    ("\r\n", "U+000D"),
    (" ", "a space"),
]


@pytest.mark.parametrize(
    ("char", "named", "where"),
    [(c, n, w) for c, n in BAD for w in ("inside", "end") if w == "inside" or c.strip(" \t\r\n")],
)  # ASCII whitespace at the end is stripped, not refused (see above)
def test_a_key_with_a_character_no_header_can_carry_is_refused_before_sending(server, char, named, where) -> None:
    key = CANARY[:9] + char + CANARY[9:] if where == "inside" else CANARY + char
    with pytest.raises(errors.InvalidAPIKeyError) as info:
        hosted(server, key).expand("a cafe")
    exc = info.value
    assert server.requests == []  # refused before anything was sent
    assert isinstance(exc, errors.ConfigurationError) and isinstance(exc, ValueError)
    message = str(exc)
    assert "\n" not in message and named in message and message.startswith("api_key: the API key holds")
    assert leaks(CANARY, shown(exc)) == [] and leaks(key, shown(exc)) == []


def test_a_refused_key_from_the_environment_names_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", CANARY + "\xa0")
    with pytest.raises(errors.InvalidAPIKeyError, match=r"^OPENROUTER_API_KEY: the API key holds U\+00A0") as info:
        MagicPromptClient("claude-opus-v1")
    assert info.value.source == "OPENROUTER_API_KEY"


def test_a_refused_key_is_a_one_line_error_in_the_real_cli(server) -> None:
    proc = run_cli("a cafe", "--base-url", server.url, env={"IDEOGRAM_API_KEY": CANARY[:9] + "\xa0" + CANARY[9:]})
    assert proc.returncode == 2 and proc.stdout == "" and server.requests == []
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: IDEOGRAM_API_KEY: the API key holds U+00A0")
    assert "Traceback" not in proc.stderr and leaks(CANARY, [("stderr", proc.stderr)]) == []


def test_extra_headers_that_cannot_be_sent_are_refused_without_their_value() -> None:
    with pytest.raises(errors.ConfigurationError, match="'Authorization' holds U\\+000D") as info:
        MagicPromptClient("openai-compatible", base_url="http://127.0.0.1:9/v1", model="m",
                          headers={"Authorization": f"Bearer {CANARY}\r"})
    assert CANARY[:8] not in str(info.value)
    with pytest.raises(errors.ConfigurationError, match="not a valid header name"):
        MagicPromptClient("openai-compatible", base_url="http://127.0.0.1:9/v1", model="m", headers={"A B": "x"})


# --- reproducer 3: a 200 with a malformed body that echoes the key ------------------------------------


@pytest.mark.parametrize("body", [
    f"proxy error: token {CANARY} is not allowed".encode(),
    json.dumps({"detail": f"echo {CANARY}"}).encode(),
    json.dumps({"choices": [], "echo": CANARY}).encode(),
])
def test_a_malformed_200_that_echoes_the_key_is_redacted_everywhere(server, caplog, tmp_path, body) -> None:
    caplog.set_level(logging.DEBUG)
    server.default = Step(200, body=body)
    with pytest.raises(errors.APIResponseError) as info:
        MagicPromptClient("claude-sonnet-v1", api_key=CANARY, base_url=server.chat_url, retry=FAST_RETRY).expand("x")
    items = anyio.run(lambda: expand_many(["x"], backend="claude-sonnet-v1", api_key=CANARY, base_url=server.chat_url,
                                          retry=FAST_RETRY))
    assert isinstance(items[0].error, errors.APIResponseError)
    ideas, out = tmp_path / "ideas.jsonl", tmp_path / "out.jsonl"
    ideas.write_text('"x"\n', encoding="utf-8")
    cli = runner.invoke(app, ["expand", "--batch", str(ideas), "-o", str(out), "-b", "claude-sonnet-v1",
                              "--base-url", server.chat_url], env={"MAGIC_PROMPT_API_KEY": CANARY})
    single = runner.invoke(app, ["expand", "x", "-b", "claude-sonnet-v1", "--base-url", server.chat_url],
                           env={"MAGIC_PROMPT_API_KEY": CANARY})
    assert cli.exit_code == 1 and single.exit_code == 2
    assert single.stderr.startswith("error: claude-sonnet-v1: ") and MARKER in single.stderr
    record = json.loads(out.read_text(encoding="utf-8"))
    assert record["ok"] is False and record["error"]["type"] == "APIResponseError"
    outputs = [*shown(info.value), *shown(items[0].error), ("record", json.dumps(items[0].to_dict())),
               ("file", out.read_text(encoding="utf-8")), ("batch.stderr", cli.stderr), ("stderr", single.stderr),
               ("log", caplog.text)]
    assert leaks(CANARY, outputs) == []
    assert MARKER in str(info.value)


# --- reproducer 4: a caption reply that contains the key ---------------------------------------------


def test_a_failing_caption_that_contains_the_key_is_redacted_in_text_report_and_raw(server) -> None:
    bad = {"high_level_description": f"A sign reading {CANARY}.",
           "compositional_deconstruction": {"elements": [{"type": "text", "text": CANARY, "desc": f"Letters {CANARY}"}],
                                            f"note {CANARY}": 1}}
    server.default = Step.caption(bad)
    with pytest.raises(errors.CaptionVerificationError) as info:
        MagicPromptClient("openai-compatible", api_key=CANARY, base_url=server.chat_url, model="m",
                          max_reasks=0).expand("x")
    exc = info.value
    assert exc.text is not None and exc.report is not None and exc.raw
    assert MARKER in exc.text and MARKER in exc.raw
    assert leaks(CANARY, [*shown(exc), ("text", exc.text), ("report", repr(exc.report)), ("raw", exc.raw),
                          ("diagnostics", repr(exc.diagnostics))]) == []


@pytest.mark.parametrize("backend", ["ideogram-4-v1", "claude-opus-v1"])
def test_a_valid_caption_that_contains_the_key_comes_back_redacted_and_still_canonical(server, backend) -> None:
    caption = json.loads(json.dumps(SAMPLE_CAPTION))
    caption["compositional_deconstruction"]["elements"][1]["text"] = f"KEY {CANARY}"
    server.default = Step.caption(caption)
    base = server.url if backend.startswith("ideogram") else server.chat_url
    with MagicPromptClient(backend, api_key=CANARY, base_url=base) as client:
        result = client.expand("x", "1:1")
    assert result.caption.compositional_deconstruction.elements[1].text == f"KEY {MARKER}"
    assert result.text == result.caption.dumps() and CaptionVerifier().verify_raw(result.text) == []
    assert leaks(CANARY, result_outputs("result", result)) == []


# --- reproducer 5: partial echoes -------------------------------------------------------------------


@pytest.mark.parametrize("piece", [CANARY[:12], CANARY[:8], CANARY[-8:], CANARY[4:20], CANARY[3:-3]])
def test_partial_echoes_down_to_eight_characters_are_redacted(server, piece) -> None:
    server.default = Step.json({"error": {"message": f"key {piece}… not recognised", "code": 401}}, status=401)
    with pytest.raises(errors.AuthenticationError) as info:
        hosted(server).expand("x")
    assert piece not in str(info.value) and f"key {MARKER}" in str(info.value)
    assert leaks(CANARY, shown(info.value)) == []


def test_a_body_cut_through_the_key_leaves_no_readable_piece(server) -> None:
    # the error body is truncated to 600 characters: the cut must not leave a piece to read
    for pad in range(590, 600):
        server.default = Step(401, body=("x" * pad + CANARY).encode())
        with pytest.raises(errors.AuthenticationError) as info:
            hosted(server).expand("x")
        assert leaks(CANARY, shown(info.value)) == [], pad


# --- the redactor --------------------------------------------------------------------------------


def test_escaped_forms_are_redacted() -> None:
    raw = 'sk-"quoted"\\back%slash&amp'
    forms = (raw, repr(raw), json.dumps(raw), json.dumps(raw, ensure_ascii=True).replace("k", "\\u006b"),
             "".join(f"%{ord(c):02x}" for c in raw), repr(json.dumps(raw)), json.dumps(json.dumps(raw)))
    with Hold(Secret(raw)):
        for form in forms:
            assert leaks(raw, [(form, redact(f"echo: {form} end"))]) == [], form
            assert redact(f"echo: {form} end").startswith("echo: ")


def test_short_keys_have_a_defined_behaviour() -> None:
    with Hold(Secret("Zq9x!")), Hold(Secret("k")):
        # 4 to 7 characters: redacted whole, never in part
        assert redact("a Zq9x! b Zq9x c") == f"a {MARKER} b Zq9x c"
        # under 4: not a secret, and redacting it would mangle every word
        assert redact("ok kk") == "ok kk"
        assert "k" not in live_keys() and "Zq9x!" in live_keys()


def test_runs_that_are_ordinary_words_are_not_redacted_on_their_own() -> None:
    with Hold(Secret("k-describe")):  # a test key holding a word must not eat the word everywhere
        assert redact("the image cannot be described") == "the image cannot be described"
        assert redact("key k-describe and k-descri") == f"key {MARKER} and {MARKER}"
    with Hold(Secret("abcdefghijklmnopqrstuvwxyz")):  # letters of one case only: the whole key still goes
        assert redact("x abcdefghijklmnopqrstuvwxyz y") == f"x {MARKER} y"


def test_a_key_is_redacted_while_its_client_is_open() -> None:
    key = "sk-short-lived-0123456789"
    client = MagicPromptClient(api_key=key)
    assert redact(key) == MARKER
    twin = MagicPromptClient(api_key=key)
    client.close()
    assert redact(key) == MARKER  # the twin still holds the same key
    twin.close()
    assert key not in live_keys() and redact(key) == key
    echo = httpx.MockTransport(lambda r: httpx.Response(401, json={"error": f"bad {r.headers['api-key']}"}))
    closed = MagicPromptClient(api_key=key, http_client=httpx.Client(transport=echo))
    closed.close()  # the injected HTTP client stays usable, and a call holds the key again
    with pytest.raises(errors.AuthenticationError) as info:
        closed.expand("x")
    assert leaks(key, shown(info.value)) == []
    closed.close()
    forgotten = MagicPromptClient(api_key=key)  # never closed: released when collected
    del forgotten
    gc.collect()
    assert key not in live_keys()


@LEAK_SETTINGS
@given(key=canaries(alphabet=PRINTABLE, min_size=4, max_size=40), data=st.data())
def test_redact_removes_every_echo_whatever_the_encoding(key, data) -> None:
    noise = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
    text = "".join(data.draw(st.lists(st.one_of(noise, echoes(key)), min_size=1, max_size=6)))
    with Hold(Secret(key)):
        cleaned = redact(text)
        assert leaks(key, [("redacted", cleaned)]) == []
        assert redact(cleaned) == cleaned  # idempotent


@LEAK_SETTINGS
@given(key=canaries(alphabet=PRINTABLE, min_size=4, max_size=40), text=st.text(max_size=200))
def test_redact_changes_nothing_that_holds_no_piece_of_a_key(key, text) -> None:
    with Hold(Secret(key)):
        assume(not any(leaks(k, [("text", text)], strict=True) for k in live_keys()))  # no piece of any held key
        assume(MARKER not in text)
        assert redact(text) == text


def test_scrub_walks_results_reports_and_mappings() -> None:
    from captionkit import verify

    report = verify({"compositional_deconstruction": {"background": "b", "elements": [], CANARY: 1}})
    value = {"report": report, CANARY: (CANARY.encode(), [CANARY[:10]]), "n": 3}
    with Hold(Secret(CANARY)):
        clean = scrub(value)
        plain = {"n": 3, "s": "fine"}
        assert scrub(plain) is plain  # nothing to change: the same object back
    assert leaks(CANARY, [("clean", repr(clean))]) == [] and clean["n"] == 3


# --- exceptions: every form, and foreign ones ------------------------------------------------------


def test_foreign_exceptions_and_their_chains_are_cleaned() -> None:
    with Hold(Secret(CANARY)):
        try:
            try:
                raise KeyError(f"no such key {CANARY}")
            except KeyError as inner:
                raise RuntimeError(f"wrapped {CANARY[:12]}") from inner
        except RuntimeError as outer:
            chained = scrub_exception(outer)
        try:
            (CANARY + "\xa0").encode("ascii")
        except UnicodeEncodeError as exc:
            encoding = scrub_exception(exc)
    assert leaks(CANARY, shown(chained)) == [] and leaks(CANARY, shown(encoding)) == []
    assert "no such key <redacted>" in "".join(traceback.format_exception(chained))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_any_failure_of_the_http_client_leaves_the_client_redacted(mode) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise RuntimeError(f"transport bug while sending {request.headers['api-key']}")

    if mode == "sync":
        http = httpx.Client(transport=httpx.MockTransport(handler))
        with pytest.raises(Exception) as info:
            MagicPromptClient(api_key=CANARY, http_client=http).expand("x")
    else:
        async def call() -> None:
            http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
            await AsyncMagicPromptClient(api_key=CANARY, http_client=http).expand("x")

        with pytest.raises(Exception) as info:
            anyio.run(call)
    assert "transport bug" in str(info.value) and leaks(CANARY, shown(info.value)) == []


def test_illegal_header_errors_from_httpx_are_redacted_even_in_escaped_form() -> None:
    exc = httpx.LocalProtocolError(f"Illegal header value {('Bearer ' + CANARY + chr(13)).encode()!r}")
    with Hold(Secret(CANARY)):
        clean = scrub_exception(exc)
    assert leaks(CANARY, shown(clean)) == []


# --- logs: every record of the process -------------------------------------------------------------


def test_every_log_record_is_redacted_whatever_its_logger(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client = MagicPromptClient(api_key=CANARY)  # installs the record factory
    app_log = logging.getLogger("some.application")
    app_log.warning("calling with %s", CANARY)
    app_log.info("prefix %s", CANARY[:12])
    app_log.error("escaped %r", json.dumps({"k": CANARY}).replace("s", "\\u0073"))
    try:
        raise ValueError(f"bad key {CANARY}")
    except ValueError:
        app_log.exception("it failed")
    logging.getLogger("httpx").info("headers %s", {"Api-Key": "another-secret-value"})
    assert leaks(CANARY, [("text", caplog.text)]) == []
    assert caplog.text.count(MARKER) >= 5 and "another-secret-value" not in caplog.text
    client.close()


def test_the_record_factory_wraps_an_existing_one_and_installs_once() -> None:
    previous = logging.getLogRecordFactory()
    made: list[str] = []

    def custom(*args, **kwargs):
        made.append("custom")
        return previous(*args, **kwargs)

    logging.setLogRecordFactory(custom)
    try:
        first, second = MagicPromptClient(api_key=CANARY), MagicPromptClient(api_key=CANARY)  # open: key held
        record = logging.getLogRecordFactory()("x", logging.INFO, __file__, 1, "key %s", (CANARY,), None)
        assert record.getMessage() == f"key {MARKER}" and made == ["custom"]
        assert logging.getLogRecordFactory().inner is custom  # wrapped once, not twice
        first.close(), second.close()
    finally:
        logging.setLogRecordFactory(previous)


def test_a_hold_released_by_the_garbage_collector_while_the_registry_is_read_does_not_deadlock():
    # Regression: a client's finalizer released its hold on the thread that was inside
    # live_keys() with the registry lock held, and waited on that lock forever.
    import gc
    import threading

    from captionkit.magic import _secrets

    holds = [_secrets.Hold(_secrets.Secret(f"sk-gc-{i:04d}-0123456789abcdef")) for i in range(50)]
    released = []

    class Garbage:
        def __del__(self) -> None:  # runs inside the lock below, as a finalizer would
            holds[0].release()
            released.append(True)

    done = threading.Event()

    def read() -> None:
        with _secrets._lock:
            junk = Garbage()
            del junk
            gc.collect()
            _secrets.live_keys()
        done.set()

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    assert done.wait(10), "live_keys deadlocked on a release from a finalizer"
    assert released
    for hold in holds:
        hold.release()
