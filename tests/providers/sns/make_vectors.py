"""Writes tests/providers/vectors/sns/*.json: envelopes signed with the test key (run from the repository root:
``.venv/bin/python -m tests.providers.sns.make_vectors``). RSA PKCS#1 v1.5 signatures are deterministic, so a
re-run writes the same files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.providers.sns_signing import TOPIC, confirmation, notification, sign

OUT = Path(__file__).parents[1] / "vectors" / "sns"
CONNECTION = {"topic_arns": [TOPIC]}
HEADERS = {"content-type": "text/plain; charset=UTF-8", "user-agent": "Amazon Simple Notification Service Agent"}
OK = {"status": 200, "body": "OK"}
UNAVAILABLE = {"status": 503}

INBOUND = {"originationNumber": "+14255550182", "destinationNumber": "+12125550101", "messageKeyword": "JOIN",
           "messageBody": "EXAMPLE", "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84",
           "previousPublishedMessageId": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
EVENT = {"eventType": "TEXT_SUCCESSFUL", "eventVersion": "1.0", "eventTimestamp": 1686975103470, "isFinal": True,
         "originationPhoneNumber": "+12065550152", "destinationPhoneNumber": "+14255550156",
         "isInternationalSend": False, "mcc": "310", "mnc": "800", "messageId": "862a8790-60c0-4430-9b2b-658bdexample",
         "messageRequestTimestamp": 1686975103170, "messageEncoding": "GSM", "messageType": "PROMOTIONAL",
         "messageStatus": "SUCCESSFUL", "messageStatusDescription": "Message has been accepted by phone carrier",
         "context": {"account": "bar"}, "totalMessageParts": 1, "totalMessagePrice": 0.09582, "totalCarrierFee": 0.0}
EVENT_DETAILS = {k: v for k, v in EVENT.items() if k not in {
    "eventType", "eventTimestamp", "originationPhoneNumber", "destinationPhoneNumber", "messageId", "mcc", "mnc",
    "totalMessagePrice"}}
SNS_ID = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"


def request(envelope: dict[str, Any], **headers: str) -> dict[str, Any]:
    return {"method": "POST", "headers": {**HEADERS, "x-amz-sns-message-type": envelope.get("Type", ""),
                                          "x-amz-sns-topic-arn": TOPIC, **headers},
            "body": json.dumps(envelope, ensure_ascii=False)}


def write(name: str, vector: dict[str, Any]) -> None:
    (OUT / f"{name}.json").write_text(json.dumps({"connection": CONNECTION, **vector}, indent=2, ensure_ascii=False)
                                      + "\n")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write("inbound_two_way", {
        "description": "AWS two-way SMS payload (docs: sms-voice two-way-sms-payload) in a v1 (SHA-1) signed "
                       "Notification, text/plain: messageKeyword is the keyword, previousPublishedMessageId the "
                       "reply_to; the time is the envelope's Timestamp.",
        "request": request(sign(notification(json.dumps(INBOUND)))),
        "events": [{"type": "inbound", "message_id": INBOUND["inboundMessageId"], "from": "14255550182",
                    "to": "12125550101", "text": "EXAMPLE", "keyword": "JOIN",
                    "reply_to": INBOUND["previousPublishedMessageId"], "occurred_at": "2026-12-03T10:00:00.123Z",
                    "details": {"sns_message_id": SNS_ID}}],
        "response": OK, "unavailable": UNAVAILABLE})
    write("event_successful_v2", {
        "description": "AWS SMS event (docs example, TEXT_SUCCESSFUL) in a v2 (SHA-256) signed Notification: "
                       "eventTimestamp in ms, mcc+mnc -> network, totalMessagePrice (USD); the rest in details.",
        "request": request(sign(notification(json.dumps(EVENT)), "2")),
        "events": [{"type": "status", "message_id": EVENT["messageId"], "status": "sent",
                    "provider_status": "TEXT_SUCCESSFUL", "from": "12065550152", "to": "14255550156",
                    "occurred_at": "2023-06-17T04:11:43.470Z", "price": "0.09582", "currency": "USD",
                    "network": {"mccmnc": "310800", "operator": None, "country": None},
                    "details": {"sns_message_id": SNS_ID, **EVENT_DETAILS}}],
        "response": OK})
    blocked = {**EVENT, "eventType": "TEXT_CARRIER_BLOCKED", "messageStatus": "CARRIER_BLOCKED", "isFinal": True,
               "mcc": None, "mnc": None}
    write("event_blocked_with_subject", {
        "description": "A final TEXT_CARRIER_BLOCKED -> rejected, permanent; a Subject is part of the signed "
                       "string and kept; null mcc/mnc -> no network.",
        "request": request(sign(notification(json.dumps(blocked), Subject="SMS event"), "2")),
        "events": [{"type": "status", "message_id": EVENT["messageId"], "status": "rejected",
                    "provider_status": "TEXT_CARRIER_BLOCKED", "failure_class": "permanent",
                    "from": "12065550152", "to": "14255550156", "occurred_at": "2023-06-17T04:11:43.470Z",
                    "price": "0.09582", "currency": "USD",
                    "details": {"sns_message_id": SNS_ID, "subject": "SMS event",
                                **{k: v for k, v in EVENT_DETAILS.items()}, "isFinal": True,
                                "messageStatus": "CARRIER_BLOCKED"}}],
        "response": OK})
    unreachable = {**EVENT, "eventType": "TEXT_CARRIER_UNREACHABLE", "isFinal": False, "totalMessagePrice": None}
    write("event_not_final", {
        "description": "isFinal false: AWS is still trying, so a failure is temporary (trust isFinal).",
        "request": request(sign(notification(json.dumps(unreachable)), "2")),
        "events": [{"type": "status", "message_id": EVENT["messageId"], "status": "undelivered",
                    "provider_status": "TEXT_CARRIER_UNREACHABLE", "failure_class": "temporary",
                    "from": "12065550152", "to": "14255550156", "occurred_at": "2023-06-17T04:11:43.470Z",
                    "network": {"mccmnc": "310800", "operator": None, "country": None},
                    "details": {"sns_message_id": SNS_ID, **EVENT_DETAILS, "isFinal": False}}],
        "response": OK})
    opted_out = {**EVENT, "eventType": "TEXT_OPTED_OUT", "messageStatus": "OPTED_OUT"}
    write("event_opted_out", {
        "description": "TEXT_OPTED_OUT: the recipient opted out -> rejected, permanent, and details.opt_out "
                       "\"STOP\" like the other providers' opt-out signals.",
        "request": request(sign(notification(json.dumps(opted_out)), "2")),
        "events": [{"type": "status", "message_id": EVENT["messageId"], "status": "rejected",
                    "provider_status": "TEXT_OPTED_OUT", "failure_class": "permanent",
                    "from": "12065550152", "to": "14255550156", "occurred_at": "2023-06-17T04:11:43.470Z",
                    "price": "0.09582", "currency": "USD",
                    "network": {"mccmnc": "310800", "operator": None, "country": None},
                    "details": {"sns_message_id": SNS_ID, **EVENT_DETAILS, "messageStatus": "OPTED_OUT",
                                "opt_out": "STOP"}}],
        "response": OK})
    write("subscription_confirmation", {
        "description": "A SubscriptionConfirmation for an allowed topic (AWS docs example, re-signed): stored "
                       "as a raw request, no event, answered 200; the SubscribeURL is fetched afterwards.",
        "request": request(sign(confirmation())),
        "events": [], "response": OK})
    write("unsubscribe_confirmation", {
        "description": "An UnsubscribeConfirmation: recorded (raw request), no event.",
        "request": request(sign(confirmation("UnsubscribeConfirmation"))),
        "events": [], "response": OK})
    write("error_other_topic", {
        "description": "A correctly signed notification from a topic not in topic_arns: refused (403).",
        "request": request(sign(notification(json.dumps(INBOUND), topic="arn:aws:sns:us-east-1:999999999999:x"))),
        "error": {"status": 403, "contains": "topic_arns", "rejected": True, "reason": "topic"}})
    tampered = sign(notification(json.dumps(INBOUND)))
    tampered["Message"] = tampered["Message"].replace("EXAMPLE", "EXAMPLF")
    write("error_tampered", {
        "description": "One changed byte in Message after signing: 401.",
        "request": request(tampered), "error": {"status": 401, "contains": "signature", "rejected": True,
                                                "reason": "signature"}})
    write("error_foreign_certificate", {
        "description": "SigningCertURL outside https://sns.<region>.amazonaws.com: refused before any fetch.",
        "request": request(sign(notification(json.dumps(INBOUND)),
                                cert_url="https://sns.us-east-1.amazonaws.com.evil.example/cert.pem")),
        "error": {"status": 401, "contains": "SigningCertURL", "rejected": True}})
    write("error_raw_delivery", {
        "description": "Raw message delivery: the bare message without envelope or signature; the error names "
                       "the setting.",
        "request": {"method": "POST", "headers": {**HEADERS, "x-amz-sns-rawdelivery": "true"},
                    "body": json.dumps(INBOUND)},
        "error": {"status": 401, "contains": "RawMessageDelivery", "rejected": True, "reason": "missing"}})
    write("error_message_not_json", {
        "description": "A signed notification whose Message is plain text (someone published by hand): 400.",
        "request": request(sign(notification("hello"))),
        "error": {"status": 400, "contains": "Message"}})


if __name__ == "__main__":
    main()
