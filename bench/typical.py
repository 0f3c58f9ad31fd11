"""A typical receiver, as a Python user writes one today from the FastAPI and SQLAlchemy tutorials:
FastAPI, SQLAlchemy's ORM with a session per request (``Depends(get_db)``), sync endpoints (run in
FastAPI's thread pool), one INSERT and one commit per request on SQLite in WAL mode with
``synchronous=FULL``, served by uvicorn with one worker.

Retries are recognised the tutorial way: a unique constraint, and ``IntegrityError`` on commit
means "we have it already". The answers follow each provider (csoft ``Report=0`` echo, Webcom id
list, BulkGate ``OK``) so the load generator sees the same exchange as with smshook.

    python bench/typical.py --port 8082 --database /tmp/typical.db
"""

import argparse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel
from sqlalchemy import String, UniqueConstraint, create_engine, event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class DeliveryEvent(Base):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("provider", "message_id", "status", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[str | None] = mapped_column(String(32))
    price: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(default=lambda: datetime.now(UTC))


class BulkGateItem(BaseModel):
    status: str
    smsID: str | None = None
    to: str | None = None
    price: str | None = None
    date: str | None = None
    channel: str | None = None


async def raw_body(request: Request) -> bytes:
    return await request.body()


def create_app(database: str) -> FastAPI:
    engine = create_engine(f"sqlite:///{database}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def set_sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    session_local = sessionmaker(bind=engine, autocommit=False, autoflush=False)
    Base.metadata.create_all(bind=engine)
    app = FastAPI()

    def get_db() -> Iterator[Session]:
        db = session_local()
        try:
            yield db
        finally:
            db.close()

    def save(db: Session, rows: list[DeliveryEvent]) -> None:
        db.add_all(rows)
        try:
            db.commit()
        except IntegrityError:
            db.rollback()  # a provider retry: we have it already

    @app.post("/hooks/csoft", response_class=PlainTextResponse)
    def csoft(
        MessageIdentifier: Annotated[str, Form()],
        Report: Annotated[str, Form()],
        db: Annotated[Session, Depends(get_db)],
        SendTo: Annotated[str | None, Form()] = None,
        Timestamp1: Annotated[str | None, Form()] = None,
    ) -> str:
        save(db, [DeliveryEvent(provider="csoft", message_id=MessageIdentifier, status=Report, recipient=SendTo,
                                occurred_at=Timestamp1)])
        return f"MessageIdentifier={MessageIdentifier}&Report=0&Text=OK"

    @app.post("/hooks/bulkgate", response_class=PlainTextResponse)
    def bulkgate(items: list[BulkGateItem], db: Annotated[Session, Depends(get_db)]) -> str:
        save(db, [DeliveryEvent(provider="bulkgate", message_id=item.smsID or "", status=item.status,
                                recipient=item.to, occurred_at=item.date, price=item.price) for item in items])
        return "OK"

    @app.post("/hooks/webcom")
    def webcom(body: Annotated[bytes, Depends(raw_body)], db: Annotated[Session, Depends(get_db)]) -> Response:
        root = ET.fromstring(body)
        states = [(s.get("id_sms", ""), (s.text or "").strip(), s.get("time")) for s in root.iter("state")]
        save(db, [DeliveryEvent(provider="webcom", message_id=i, status=st, occurred_at=t) for i, st, t in states])
        ids = "".join(f"<id_sms>{i}</id_sms>" for i, _, _ in states)
        return Response(f'<?xml version="1.0" encoding="utf-8" ?>\n<response>{ids}</response>',
                        media_type="application/xml")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--database", default="typical.db", help="SQLite file")
    args = parser.parse_args()
    uvicorn.run(create_app(args.database), host=args.host, port=args.port, workers=1, access_log=False,
                log_level="warning")


if __name__ == "__main__":
    main()
