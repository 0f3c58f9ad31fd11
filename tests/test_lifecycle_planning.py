"""The lifecycle's pure planning functions: durations, registration validation and comparison, the
multipart roll-up, opt-out derivation (keywords and provider signals) and the opt-out state, and
the late_final rule of the status projection."""

from __future__ import annotations

import itertools

import pytest

from smshook.events import Event
from smshook.lifecycle import optouts, registration
from smshook.lifecycle.options import DEFAULT_OPTIONS, LifecycleOptions, parse_duration
from smshook.lifecycle.parts import rollup, seconds_between
from smshook.providers import get as get_provider
from smshook.status import advance

NOW = "2026-03-01T12:00:00Z"


@pytest.mark.parametrize(("text", "seconds"), [("0", 0), ("30s", 30), ("15m", 900), ("72h", 259200), ("2d", 172800),
                                               ("250ms", 0.25), (" 1.5h ", 5400), (12, 12)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-1s", "3w", "", True, -5])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)  # type: ignore[arg-type]


def test_registration_normalizes_and_compares() -> None:
    reg = registration.parse({"connection": "c", "message_id": "m", "to": "0044 7700 900123", "from": "+44 20",
                              "sent_at": "2026-03-01T13:00:00+01:00", "parts": ["a", 7]}, NOW, {"c"})
    assert reg.to == "447700900123" and reg.from_ == "4420" and reg.parts == ("a", "7")
    assert reg.sent_at == "2026-03-01T12:00:00.000Z" and reg.sent_at_given and reg.tracked == ("a", "7")  # stored form
    same = registration.parse({"connection": "c", "message_id": "m", "to": "+447700900123", "from": "4420",
                               "parts": ["a", "7"]}, "2026-03-02T00:00:00Z", {"c"})
    assert registration.differences(reg, same) == []  # sent_at defaulted: not compared
    moved = registration.parse({"connection": "c", "message_id": "m", "to": "447700900123", "from": "4420",
                                "parts": ["a", "7"], "sent_at": "2026-03-01T12:00:01Z"}, NOW, {"c"})
    assert registration.differences(reg, moved) == ["sent_at"]
    naive = registration.parse({"connection": "c", "message_id": "m", "to": "1", "sent_at": "2026-03-01T12:00"}, NOW)
    assert naive.sent_at == "2026-03-01T12:00:00.000Z" and naive.tracked == ("m",)


@pytest.mark.parametrize(("item", "error"), [
    ([], "a registration must be a JSON object"),
    ({"connection": "c", "message_id": "m"}, "to: required"),
    ({"connection": "c", "message_id": "", "to": "1"}, "message_id: must be a non-empty string"),
    ({"connection": "c", "message_id": "m" * 256, "to": "1"}, "message_id: longer than 255"),
    ({"connection": "c", "message_id": "m", "to": "1", "parts": []}, "parts: must be a non-empty list"),
    ({"connection": "c", "message_id": "m", "to": "1", "parts": [None]}, "parts[0]:"),
    ({"connection": "c", "message_id": "m", "to": "1", "metadata": [1]}, "metadata: must be a JSON object"),
    ({"connection": "c", "message_id": "m", "to": "1", "metadata": {"k": "v" * 4090}}, "metadata: 4098 bytes as JSON"),
    ({"connection": "c", "message_id": "m", "to": "1", "sent_at": 5}, "sent_at: must be an ISO 8601 time"),
])
def test_registration_errors_name_the_field(item: object, error: str) -> None:
    with pytest.raises(registration.RegistrationError) as caught:
        registration.parse(item, NOW, None)
    assert str(caught.value).startswith(error)


def test_metadata_of_exactly_4_kib_is_accepted() -> None:
    filler = "v" * (4096 - len('{"k":""}'))
    assert registration.parse({"connection": "c", "message_id": "m", "to": "1", "metadata": {"k": filler}},
                              NOW).metadata == {"k": filler}


def test_rollup() -> None:
    assert rollup(["delivered", "delivered"]) == rollup(["delivered"]) and rollup(["delivered"]).final
    assert rollup(["read", "read"]).status == "read" and rollup(["read", "delivered"]).status == "delivered"
    assert rollup(["delivered", None]).status == "pending" and not rollup(["delivered", None]).final
    assert rollup(["sent", "buffered", "delivered"]).status == "sent"
    failed = rollup(["delivered", "expired", "rejected", "sent"])
    assert (failed.status, failed.final, failed.partial) == ("rejected", True, True)
    assert not rollup(["undelivered", "sent"]).partial
    for order in itertools.permutations(["delivered", "undelivered", "pending"]):  # order does not matter
        assert rollup(list(order)) == rollup(["pending", "delivered", "undelivered"])
    assert seconds_between("2026-03-01T12:00:00Z", "2026-03-01T12:04:00.500Z") == 240.5
    assert seconds_between(None, NOW) is None and seconds_between(NOW, "2026-03-01T11:00:00Z") == 0.0


def inbound(text: str, **kw: object) -> Event:
    return Event(type="inbound", from_="447700900123", to="12345", text=text, **kw)  # type: ignore[arg-type]


def test_derive_keywords_and_provider_signals() -> None:
    options = LifecycleOptions(stop_keywords=("STOP", "STOPALL", "ARRET"))
    [out] = optouts.derive([inbound("Arrêt")], options) or [None]  # not the configured word: nothing
    assert out is None
    [stop] = optouts.derive([inbound("arret.")], options)
    assert (stop.type, stop.from_, stop.to, stop.keyword, stop.details["source"]) == (
        "optout", "447700900123", "12345", "ARRET", "keyword")
    [every] = optouts.derive([inbound("StopAll")], options)
    assert every.to is None
    [back] = optouts.derive([inbound("yes please")], options)
    assert back.type == "optin"
    helped = inbound("HELP")
    assert optouts.derive([helped], options) == [] and helped.details[optouts.HELP_FLAG] is True
    [twilio] = optouts.derive([inbound("please no more", details={"OptOutType": "STOP"})], options)
    assert twilio.type == "optout" and twilio.details["source"] == "provider"
    status = Event(type="status", message_id="SM1", status="failed", provider_status="21610", to="447700900999",
                   from_="12345")
    [unsubscribed] = optouts.derive([status], options)
    assert (unsubscribed.from_, unsubscribed.to, unsubscribed.details["cause"]) == ("447700900999", "12345", "status")
    assert optouts.derive([Event(type="inbound", text="STOP")], options) == []  # no sender: nobody to opt out


def change(i: int, kind: str, sender: str | None) -> optouts.Change:
    return optouts.Change(f"id{i:02d}", kind, sender, "X", f"t{i}", "c")


def test_optout_state() -> None:
    history = [change(1, "optout", "A"), change(2, "optout", None), change(3, "optin", "B")]
    assert optouts.state(history, "A")["opted_out"] is True
    assert optouts.state(history, "B")["opted_out"] is False  # START to B after STOPALL
    assert optouts.state(history, "C")["event_id"] == "id02"  # STOPALL covers C
    assert optouts.state(history, None)["opted_out"] is True
    assert optouts.state([change(1, "optout", "A"), change(2, "optin", "A")], None)["opted_out"] is False
    assert optouts.state([], "A") == {"opted_out": False, "since": None, "keyword": None, "event_id": None,
                                      "sender": None, "erased": False}
    assert [c["sender"] for c in optouts.current(history)] == ["A", None, "B"]
    kept = optouts.Change("id00", "optout", "A", "STOP", "2026-01-01T00:00:00Z", "csoft", erased=True)
    assert optouts.state([kept], "A")["erased"] is True and optouts.state([kept], "A")["opted_out"] is True
    assert optouts.state([kept, *history], "A")["erased"] is False  # a later change of the number decides


def test_late_final_replaces_only_a_synthetic_expired() -> None:
    state, effect = advance(None, "sent", None, NOW)
    state, effect = advance(state, "expired", NOW, NOW, synthetic=True)
    assert (state.status, state.synthetic, effect) == ("expired", True, "applied")
    same, effect = advance(state, "buffered", None, NOW)
    assert same is state and effect == "late"
    state, effect = advance(state, "delivered", "2026-03-04T12:00:00Z", NOW)
    assert (state.status, state.synthetic, effect) == ("delivered", False, "late_final")
    kept, effect = advance(state, "expired", NOW, NOW, synthetic=True)
    assert kept is state and effect == "late"  # a synthetic expired never overrides a real final


# The providers' own opt-out signals, as their adapters normalize them (details.opt_out), in the
# committed test vectors: each makes exactly this opt-out event (subscriber, sender: None = every
# sender, keyword, source). The keyword vectors show that a STOP text does the same for any provider.
SIGNAL_VECTORS = {
    "twilio/inbound_opt_out_stop": ("optout", "14133881111", "12028831111", "STOP", "provider"),
    "twilio/status_failed_21610_opt_out": ("optout", "12028831111", None, None, "provider"),
    "plivo/inbound_optout": ("optout", "4795961111", "4759440448", "STOP", "provider"),
    "plivo/status_undelivered_200_stop": ("optout", "918553651111", None, None, "provider"),
    "telnyx/sending_failed_stop": ("optout", "15551230001", "18445550001", None, "provider"),
    "messagebird/status_failed_stop": ("optout", "31612345678", None, None, "provider"),
    "sns/event_opted_out": ("optout", "14255550156", "12065550152", None, "provider"),
    "telnyx/inbound_received": ("optout", "13125550100", "18445550001", "STOP", "keyword"),
    "infobip/inbound_batch": ("optout", "385981178999", "385921004026", "STOP", "keyword"),
    "messagebird/inbound_shortcode_timezone": ("optout", "31612345678", "51515", "STOP", "keyword"),
}


def _vector_changes(name: str) -> list[Event]:
    from tests.providers.test_vectors import VECTORS, build_request, connection_for, load

    slug = name.split("/")[0]
    vector = load(VECTORS / f"{name}.json")
    events = get_provider(slug).parse(build_request(vector["request"], slug, vector), connection_for(slug, vector))
    return optouts.derive(events, DEFAULT_OPTIONS)


@pytest.mark.parametrize("name", sorted(SIGNAL_VECTORS))
def test_provider_opt_out_signals_of_every_provider(name: str) -> None:
    [change] = _vector_changes(name)
    assert (change.type, change.from_, change.to, change.keyword, change.details["source"]) == SIGNAL_VECTORS[name]


def test_every_vector_with_an_opt_out_signal_makes_an_opt_out() -> None:
    """No provider's signal is missed: every vector whose events carry ``details.opt_out`` STOP / START
    is in the table above (HELP only flags the message)."""
    from tests.providers.test_vectors import CASES, load

    signalled = {f"{p.parent.name}/{p.stem}" for p in CASES
                 if any(str(e.get("details", {}).get("opt_out", "")).upper() in ("STOP", "START")
                        for e in load(p).get("events", []))}
    assert signalled <= set(SIGNAL_VECTORS), signalled - set(SIGNAL_VECTORS)
    assert {n.split("/")[0] for n in signalled} == {"twilio", "plivo", "telnyx", "messagebird", "sns"}
