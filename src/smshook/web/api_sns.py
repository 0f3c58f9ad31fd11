"""``GET /v1/sns/subscriptions``: the Amazon SNS subscriptions this process has seen and their confirmation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from smshook.providers.sns_confirm import CONFIRMER


def add_sns_routes(v1: APIRouter) -> None:
    @v1.get("/sns/subscriptions", summary=(
        "Amazon SNS subscriptions seen by this process since it started: connection, topic_arn, state "
        "(pending, confirmed, failed, unconfirmed, unsubscribed), attempts, last_error, updated_at, message_id"))
    async def sns_subscriptions() -> dict[str, Any]:
        return {"data": CONFIRMER.listing()}
