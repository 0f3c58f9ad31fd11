"""The signature checks of Telnyx, Sinch and MessageBird (and Infobip's basic auth) against requests
made by each provider's own SDK or reference code — never by smshook's signing code — plus the
published vectors: valid is accepted; one changed byte in the body, URL, query or a header, a stale
timestamp, another secret are refused.

* Telnyx: requests signed with PyNaCl and a generated key pair (Ed25519 needs Telnyx's private key,
  so no published vector exists); Telnyx's own verifier (``telnyx.lib.webhook_verification``) must
  agree with ours on every case.
* Sinch: the published Conversation-API vector, and requests signed with the ``sinch`` SDK's
  ``compute_signed_data`` + ``calculate_sinch_event_signature`` and checked by its
  ``SmsSinchEvent.validate_authentication_header``. The SDK has no HMAC-SHA512: that case uses the
  algorithm of Sinch's .NET SDK (same string, SHA-512) with the standard library.
* MessageBird: the 44 cases of ``messagebird/python-rest-api``'s test table (data, copied verbatim
  into ``signatures/``), each at its own clock, and tokens made with PyJWT as MessageBird makes them,
  cross-checked with the SDK's ``RequestValidator``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from messagebird.error import ValidationError
from messagebird.request_validator import RequestValidator
from nacl.signing import SigningKey
from sinch.domains.authentication.sinch_events.v1.authentication_validation import (
    calculate_sinch_event_signature,
    compute_signed_data,
)
from sinch.domains.sms.sinch_events.v1.sms_sinch_event import SmsSinchEvent
from telnyx.lib.webhook_verification import WebhookVerificationError, verify_webhook_signature

from smshook.errors import AuthError
from smshook.providers import infobip, messagebird, sinch, telnyx
from smshook.providers.base import RawRequest

TABLE = Path(__file__).parent / "signatures" / "messagebird_webhook_signature_test_data.json"


def flip(data: bytes, index: int = -2) -> bytes:
    """``data`` with one byte changed."""
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def flip_text(text: str, index: int = -2) -> str:
    return flip(text.encode(), index).decode("latin-1")


# -- Telnyx -------------------------------------------------------------------------------------------

TELNYX_BODY = json.dumps({"data": {"event_type": "message.finalized", "id": "e1", "occurred_at": "2026-01-10T09:30:12Z",
                                   "payload": {"id": "m1", "type": "SMS", "to": [{"phone_number": "+15551230001",
                                                                                  "status": "delivered"}]}},
                          "meta": {"attempt": 1}}, separators=(",", ":")).encode()


@pytest.fixture(scope="module")
def telnyx_keys() -> tuple[SigningKey, str]:
    key = SigningKey.generate()
    return key, base64.b64encode(key.verify_key.encode()).decode()


def telnyx_sign(key: SigningKey, timestamp: str, body: bytes) -> str:
    """As Telnyx signs: Ed25519 over ``timestamp|body`` (PyNaCl)."""
    return base64.b64encode(key.sign(timestamp.encode() + b"|" + body).signature).decode()


def telnyx_both(public: str, timestamp: str, signature: str, body: bytes, now: float) -> tuple[bool, bool]:
    """(smshook accepts, Telnyx's SDK accepts) for one request; the SDK reads the real clock."""
    try:
        telnyx.check_signature(telnyx.public_key(public), timestamp, signature, body, now)
        ours = True
    except AuthError:
        ours = False
    try:
        verify_webhook_signature(body, {"telnyx-timestamp": timestamp, "telnyx-signature-ed25519": signature},
                                 public)
        theirs = True
    except WebhookVerificationError:
        theirs = False
    return ours, theirs


def test_telnyx_valid_request_is_accepted_by_both(telnyx_keys: tuple[SigningKey, str]) -> None:
    key, public = telnyx_keys
    now = int(time.time())
    stamp = str(now)
    assert telnyx_both(public, stamp, telnyx_sign(key, stamp, TELNYX_BODY), TELNYX_BODY, now) == (True, True)


@pytest.mark.parametrize("index", [0, 10, len(TELNYX_BODY) // 2, -1])
def test_telnyx_changed_body_byte_is_refused_by_both(telnyx_keys: tuple[SigningKey, str], index: int) -> None:
    key, public = telnyx_keys
    now = int(time.time())
    stamp = str(now)
    signature = telnyx_sign(key, stamp, TELNYX_BODY)
    assert telnyx_both(public, stamp, signature, flip(TELNYX_BODY, index), now) == (False, False)


def test_telnyx_changed_headers_are_refused(telnyx_keys: tuple[SigningKey, str]) -> None:
    key, public = telnyx_keys
    now = int(time.time())
    stamp = str(now)
    signature = telnyx_sign(key, stamp, TELNYX_BODY)
    assert telnyx_both(public, str(now - 1), signature, TELNYX_BODY, now) == (False, False)  # timestamp header
    changed = base64.b64encode(flip(base64.b64decode(signature), 5)).decode()
    assert telnyx_both(public, stamp, changed, TELNYX_BODY, now) == (False, False)  # signature header
    other = base64.b64encode(SigningKey.generate().verify_key.encode()).decode()
    assert telnyx_both(other, stamp, signature, TELNYX_BODY, now) == (False, False)  # another account's key


@pytest.mark.parametrize(("offset", "accepted"), [(-299, True), (299, True), (-301, False), (301, False),
                                                  (-86400, False)])
def test_telnyx_replay_window_is_300_seconds(telnyx_keys: tuple[SigningKey, str], offset: int,
                                             accepted: bool) -> None:
    key, public = telnyx_keys
    now = int(time.time())
    stamp = str(now + offset)
    assert telnyx_both(public, stamp, telnyx_sign(key, stamp, TELNYX_BODY), TELNYX_BODY, now) == (accepted, accepted)


@pytest.mark.parametrize(("timestamp", "signature", "message"), [
    (None, "x", "missing header telnyx-timestamp"),
    ("1700000000", None, "missing header telnyx-signature-ed25519"),
    ("17e8", "AAAA", "not a Unix time"),
    ("NOW", "AAAA", "not a Unix time"),
])
def test_telnyx_unsigned_or_malformed_headers(telnyx_keys: tuple[SigningKey, str], timestamp: str | None,
                                              signature: str | None, message: str) -> None:
    _, public = telnyx_keys
    with pytest.raises(AuthError, match=message):
        telnyx.check_signature(telnyx.public_key(public), timestamp, signature, TELNYX_BODY, 1_700_000_000)


def test_telnyx_signature_not_base64_or_wrong_length(telnyx_keys: tuple[SigningKey, str]) -> None:
    _, public = telnyx_keys
    key = telnyx.public_key(public)
    with pytest.raises(AuthError, match="not Base64"):
        telnyx.check_signature(key, "1700000000", "not base64!", TELNYX_BODY, 1_700_000_000)
    with pytest.raises(AuthError, match="32 bytes, not an Ed25519 signature"):
        telnyx.check_signature(key, "1700000000", base64.b64encode(b"x" * 32).decode(), TELNYX_BODY, 1_700_000_000)


@pytest.mark.parametrize(("value", "message"), [
    ("not base64!", "Base64 public key"),
    (base64.b64encode(b"x" * 31).decode(), "32 bytes (got 31 bytes)"),
    (base64.b64encode(b"x" * 64).decode(), "32 bytes (got 64 bytes)"),
])
def test_telnyx_public_key_must_be_32_bytes_of_base64(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        telnyx.public_key(value)


# -- Sinch --------------------------------------------------------------------------------------------

# The published vector (sinch/sinch-sdk-dotnet webhook test; providers-next.md section 10).
SINCH_VECTOR_BODY = (
    b'{"app_id":"","accepted_time":"2021-10-18T17:49:13.813615Z","project_id":"e2df3a34-a71b-4448-9db5-a8d2baad28e4",'
    b'"contact_create_notification":{"contact":{"id":"01FJA8B466Y0R2GNXD78MD9SM1","channel_identities":[{"channel":'
    b'"SMS","identity":"48123456789","app_id":""}],"display_name":"New Test Contact","email":"new.contact@email.com",'
    b'"external_id":"","metadata":"","language":"EN_US"}},"message_metadata":""}'
)
SINCH_VECTOR = {"secret": "foo_secret1234", "nonce": "01FJA8B4A7BM43YGWSG9GBV067", "timestamp": "1634579353",
                "signature": "6bpJoRmFoXVjfJIVglMoJzYXxnoxRujzR4k2GOXewOE="}
SINCH_SECRET = "sinch-webhook-secret-0123456789"
SINCH_BODY = json.dumps({"type": "recipient_delivery_report_sms", "batch_id": "01J5YQ7ZK3B8N2W4X6C9V1D0EF",
                         "recipient": "+46701234567", "code": 0, "status": "Delivered",
                         "at": "2026-01-10T09:30:12.412Z", "body": "Hälsningar 👋"}, ensure_ascii=False).encode()


def sinch_request(body: bytes, headers: dict[str, str]) -> RawRequest:
    return RawRequest("POST", "/hooks/sinch", b"", tuple((k.lower(), v) for k, v in headers.items()), body)


def sinch_sdk_headers(secret: str, body: bytes, nonce: str, timestamp: str) -> dict[str, str]:
    """Headers as Sinch signs them, made with the sinch SDK's own functions."""
    signature = calculate_sinch_event_signature(compute_signed_data(body.decode(), nonce, timestamp), secret)
    return {"x-sinch-webhook-signature": signature, "x-sinch-webhook-signature-nonce": nonce,
            "x-sinch-webhook-signature-timestamp": timestamp, "x-sinch-webhook-signature-algorithm": "HmacSHA256",
            "content-type": "application/json; charset=utf-8"}


def sinch_accepts(secret: str, request: RawRequest, now: float) -> bool:
    try:
        sinch.check_signature(secret, request, now)
    except AuthError:
        return False
    return True


def test_sinch_published_vector() -> None:
    v = SINCH_VECTOR
    sdk = calculate_sinch_event_signature(compute_signed_data(SINCH_VECTOR_BODY.decode(), v["nonce"], v["timestamp"]),
                                          v["secret"])
    assert sdk == v["signature"]  # the SDK reproduces the published value
    assert sinch.signature(v["secret"], SINCH_VECTOR_BODY, v["nonce"], v["timestamp"]) == v["signature"]
    headers = {"x-sinch-webhook-signature": v["signature"], "x-sinch-webhook-signature-nonce": v["nonce"],
               "x-sinch-webhook-signature-timestamp": v["timestamp"]}
    assert sinch_accepts(v["secret"], sinch_request(SINCH_VECTOR_BODY, headers), int(v["timestamp"]) + 10)


def test_sinch_sdk_signed_request_is_accepted_by_both() -> None:
    now = int(time.time())
    headers = sinch_sdk_headers(SINCH_SECRET, SINCH_BODY, "01JABCDEF0123456789NONCE00", str(now))
    assert SmsSinchEvent(SINCH_SECRET).validate_authentication_header(headers, SINCH_BODY)
    assert sinch_accepts(SINCH_SECRET, sinch_request(SINCH_BODY, headers), now)


@pytest.mark.parametrize("part", ["body", "x-sinch-webhook-signature", "x-sinch-webhook-signature-nonce",
                                  "x-sinch-webhook-signature-timestamp"])
def test_sinch_one_changed_byte_is_refused_by_both(part: str) -> None:
    now = int(time.time())
    headers = sinch_sdk_headers(SINCH_SECRET, SINCH_BODY, "01JABCDEF0123456789NONCE00", str(now))
    body = SINCH_BODY
    if part == "body":
        body = flip(body, 20)
    elif part == "x-sinch-webhook-signature-timestamp":
        headers[part] = str(now - 1)
    else:
        headers[part] = flip_text(headers[part], 3)
    assert not SmsSinchEvent(SINCH_SECRET).validate_authentication_header(headers, body)
    assert not sinch_accepts(SINCH_SECRET, sinch_request(body, headers), now)


def test_sinch_another_secret_is_refused() -> None:
    now = int(time.time())
    headers = sinch_sdk_headers("another-secret-0123456789", SINCH_BODY, "n1", str(now))
    assert not sinch_accepts(SINCH_SECRET, sinch_request(SINCH_BODY, headers), now)


@pytest.mark.parametrize(("offset", "accepted"), [(-299, True), (299, True), (-301, False), (301, False)])
def test_sinch_replay_window_is_300_seconds(offset: int, accepted: bool) -> None:
    now = int(time.time())
    headers = sinch_sdk_headers(SINCH_SECRET, SINCH_BODY, "n2", str(now + offset))
    assert SmsSinchEvent(SINCH_SECRET).validate_authentication_header(headers, SINCH_BODY)  # the SDK has no window
    assert sinch_accepts(SINCH_SECRET, sinch_request(SINCH_BODY, headers), now) is accepted


def test_sinch_hmac_sha512_as_the_dotnet_sdk_signs() -> None:
    now = int(time.time())
    signed = SINCH_BODY + b".n3." + str(now).encode()
    signature = base64.b64encode(hmac.new(SINCH_SECRET.encode(), signed, hashlib.sha512).digest()).decode()
    headers = {"x-sinch-webhook-signature": signature, "x-sinch-webhook-signature-nonce": "n3",
               "x-sinch-webhook-signature-timestamp": str(now), "x-sinch-webhook-signature-algorithm": "HmacSHA512"}
    assert sinch_accepts(SINCH_SECRET, sinch_request(SINCH_BODY, headers), now)
    headers["x-sinch-webhook-signature-algorithm"] = "HmacSHA256"  # the algorithm header is signed-for too
    assert not sinch_accepts(SINCH_SECRET, sinch_request(SINCH_BODY, headers), now)
    headers["x-sinch-webhook-signature-algorithm"] = "HmacMD5"
    with pytest.raises(AuthError, match="not HmacSHA256 or HmacSHA512"):
        sinch.check_signature(SINCH_SECRET, sinch_request(SINCH_BODY, headers), now)


@pytest.mark.parametrize("missing", ["x-sinch-webhook-signature", "x-sinch-webhook-signature-nonce",
                                     "x-sinch-webhook-signature-timestamp"])
def test_sinch_missing_header_is_refused(missing: str) -> None:
    now = int(time.time())
    headers = sinch_sdk_headers(SINCH_SECRET, SINCH_BODY, "n4", str(now))
    del headers[missing]
    with pytest.raises(AuthError, match="missing header"):
        sinch.check_signature(SINCH_SECRET, sinch_request(SINCH_BODY, headers), now)


# -- MessageBird --------------------------------------------------------------------------------------

MB_KEY = "36efdd1aace2e26cd490f0d951138253bef2f7c6d34d18981da781555cc4cebb"
MB_CASES: list[dict[str, Any]] = json.loads(TABLE.read_text("utf-8"))


def test_messagebird_table_is_the_sdks_44_cases() -> None:
    assert len(MB_CASES) == 44
    assert sum(c["valid"] for c in MB_CASES) == 24


@pytest.mark.parametrize("case", MB_CASES, ids=[c["name"] for c in MB_CASES])
def test_messagebird_sdk_table(case: dict[str, Any]) -> None:
    now = datetime.fromisoformat(case["timestamp"]).timestamp()
    body = case.get("payload", "").encode()
    if case["valid"]:
        claims = messagebird.check_signature(case.get("secret") or MB_KEY, case["token"], case["url"], body, now)
        assert claims["iss"] == "MessageBird"
    else:
        with pytest.raises(AuthError):
            messagebird.check_signature(case.get("secret") or MB_KEY, case["token"], case["url"], body, now)


def test_messagebird_table_vector_in_the_document() -> None:
    """providers-next.md quotes this case's claims: recomputed here."""
    case = next(c for c in MB_CASES if c["name"] == "Valid JWT with URL parameters and no payload - GET")
    claims = jwt.decode(case["token"], case["secret"], algorithms=["HS256"], options={"verify_exp": False,
                                                                                      "verify_nbf": False})
    assert claims["url_hash"] == hashlib.sha256(b"https://example.com/path?bar=1&foo=2").hexdigest()
    assert claims["url_hash"] == "41f05f0ddd0a22ab209ac46f47c4572d9cefa257ed74b24004bae753ece6c260"
    assert (claims["nbf"], claims["exp"]) == (1625479200, 1625479260)


STATUS_URL = ("https://hooks.example.com/hooks/mb/status?datacoding=plain&id=b6aae1b5dfb2427a8f7ea6a717ba31a9"
              "&mccmnc=310010&price%5Bamount%5D=0.000&price%5Bcurrency%5D=USD&recipient=18885551515"
              "&reference=019a0719&statusDatetime=2023-07-28T17%3A57%3A12%2B00%3A00&status=delivered")
MO_URL = "https://hooks.example.com/hooks/mb"
MO_BODY = b"originator=31612345678&recipient=3197010260000&body=Hi+there&id=c0ffee02"


def mb_token(url: str, body: bytes, now: int, *, key: str = MB_KEY, algorithm: str = "HS256",
             **claims: Any) -> str:
    """A token as MessageBird makes it (PyJWT; claims as in the SDK's table)."""
    payload: dict[str, Any] = {"iss": "MessageBird", "nbf": now, "exp": now + 60, "jti": "c946af77",
                               "url_hash": hashlib.sha256(url.encode()).hexdigest()}
    if body:
        payload["payload_hash"] = hashlib.sha256(body).hexdigest()
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=algorithm)


def mb_both(token: str, url: str, body: bytes, now: int) -> tuple[bool, bool]:
    """(smshook accepts, MessageBird's RequestValidator accepts); the SDK reads the real clock."""
    try:
        messagebird.check_signature(MB_KEY, token, url, body, now)
        ours = True
    except AuthError:
        ours = False
    try:
        RequestValidator(MB_KEY).validate_signature(token, url, body)
        theirs = True
    except ValidationError:
        theirs = False
    return ours, theirs


@pytest.mark.parametrize(("url", "body"), [(STATUS_URL, b""), (MO_URL, MO_BODY)], ids=["get-status", "post-mo"])
def test_messagebird_generated_request_is_accepted_by_both(url: str, body: bytes) -> None:
    now = int(time.time())
    assert mb_both(mb_token(url, body, now), url, body, now) == (True, True)


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_messagebird_hs384_and_hs512(algorithm: str) -> None:
    now = int(time.time())
    assert mb_both(mb_token(STATUS_URL, b"", now, algorithm=algorithm), STATUS_URL, b"", now) == (True, True)


@pytest.mark.parametrize("where", ["scheme", "host", "path", "query-key", "query-value", "query-order", "port"])
def test_messagebird_changed_url_is_refused_by_both(where: str) -> None:
    now = int(time.time())
    token = mb_token(STATUS_URL, b"", now)
    changed = {
        "scheme": STATUS_URL.replace("https://", "http://"),
        "host": STATUS_URL.replace("hooks.example.com", "hooks.example.org"),
        "path": STATUS_URL.replace("/hooks/mb/status", "/hooks/mb/statu5"),
        "query-key": STATUS_URL.replace("price%5Bamount%5D", "price%5Bamounu%5D"),
        "query-value": STATUS_URL.replace("status=delivered", "status=delivereD"),
        "query-order": STATUS_URL.replace("datacoding=plain&id=b6aae1b5dfb2427a8f7ea6a717ba31a9",
                                          "id=b6aae1b5dfb2427a8f7ea6a717ba31a9&datacoding=plain"),
        "port": STATUS_URL.replace("hooks.example.com", "hooks.example.com:443"),
    }[where]
    assert mb_both(token, changed, b"", now) == (False, False)


def test_messagebird_changed_body_or_header_is_refused_by_both() -> None:
    now = int(time.time())
    token = mb_token(MO_URL, MO_BODY, now)
    assert mb_both(token, MO_URL, flip(MO_BODY, 30), now) == (False, False)  # body
    assert mb_both(token, MO_URL, b"", now) == (False, False)  # body removed
    assert mb_both(mb_token(MO_URL, b"", now), MO_URL, MO_BODY, now) == (False, False)  # body added
    header, _, sig = token.rpartition(".")
    assert mb_both(f"{header}.{flip_text(sig, 3)}", MO_URL, MO_BODY, now) == (False, False)  # signature header


@pytest.mark.parametrize(("claims", "reason"), [
    ({"exp": -1}, "expired"),  # exp one second before now (with the 1 s leeway: just expired)
    ({"nbf": 5, "exp": 65}, "not valid yet"),
    ({"iss": "Mallory"}, "issuer"),
    ({"iss": None}, "iss"),
    ({"exp": None}, "exp"),
    ({"url_hash": None}, "url_hash"),
])
def test_messagebird_claims_are_checked(claims: dict[str, Any], reason: str) -> None:
    now = int(time.time())
    values = {k: (now + v if k in ("nbf", "exp") and v is not None else v) for k, v in claims.items()}
    token = mb_token(STATUS_URL, b"", now, **values)
    with pytest.raises(AuthError, match=reason):
        messagebird.check_signature(MB_KEY, token, STATUS_URL, b"", now)


def test_messagebird_none_algorithm_and_other_key_are_refused() -> None:
    now = int(time.time())
    unsigned = jwt.encode({"iss": "MessageBird", "nbf": now, "exp": now + 60,
                           "url_hash": hashlib.sha256(STATUS_URL.encode()).hexdigest()}, None, algorithm="none")
    assert mb_both(unsigned, STATUS_URL, b"", now) == (False, False)
    other = mb_token(STATUS_URL, b"", now, key="f" * 64)
    assert mb_both(other, STATUS_URL, b"", now) == (False, False)
    with pytest.raises(AuthError, match="missing header"):
        messagebird.check_signature(MB_KEY, None, STATUS_URL, b"", now)


@pytest.mark.parametrize(("offset", "accepted"), [(0, True), (60, True), (61, False), (-2, False), (3600, False)])
def test_messagebird_tokens_live_60_seconds(offset: int, accepted: bool) -> None:
    issued = int(time.time()) - 3600
    token = mb_token(STATUS_URL, b"", issued)
    try:
        messagebird.check_signature(MB_KEY, token, STATUS_URL, b"", issued + offset)
        ok = True
    except AuthError:
        ok = False
    assert ok is accepted


def test_messagebird_sign_matches_the_sdk_validator() -> None:
    """smshook's own signer (the simulator's) makes what MessageBird's SDK accepts."""
    now = int(time.time())
    token = messagebird.sign(MB_KEY, MO_URL, MO_BODY, now, jti="j1")
    assert RequestValidator(MB_KEY).validate_signature(token, MO_URL, MO_BODY)["jti"] == "j1"


# -- Infobip basic auth -------------------------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_infobip_basic_auth() -> None:
    infobip.check_basic_auth(basic("infobip", "s3cret-password-1"), "infobip", "s3cret-password-1")
    for header in (basic("infobip", "s3cret-password-2"), basic("infobiq", "s3cret-password-1"), "",
                   "Bearer abc", "Basic !!!", basic("infobip", "")):
        with pytest.raises(AuthError):
            infobip.check_basic_auth(header, "infobip", "s3cret-password-1")
