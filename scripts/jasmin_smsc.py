"""A small SMPP 3.4 SMSC for scripts/e2e-jasmin, run with the Jasmin virtualenv's Python (it uses the
``smpp.pdu`` encoder Jasmin installs). Loopback only.

* binds (transmitter, receiver, transceiver) are accepted, enquire_link and unbind answered;
* ``submit_sm`` is answered with a fresh message id, or ``ESME_RINVDSTADR`` when the destination ends in
  ``9``; when a receipt is requested, a ``deliver_sm`` receipt follows ~0.3 s later whose ``stat:`` is
  chosen by the destination's last digit: 0 ``DELIVRD``, 1 ``EXPIRED``, 2 ``UNDELIV``, 3 ``REJECTD``,
  anything else ``DELIVRD``;
* after a receiver/transceiver bind, each ``--mo FROM:TO:CODING:HEXTEXT`` is sent as a plain ``deliver_sm``.

Usage: python jasmin_smsc.py PORT [--mo 46709876543:12345:0:48656c6c6f ...]
"""

from __future__ import annotations

import argparse
import binascii
import socket
import struct
import threading
import time
from io import BytesIO

from smpp.pdu import constants
from smpp.pdu import operations as op
from smpp.pdu.pdu_encoding import PDUEncoder
from smpp.pdu.pdu_types import (
    AddrNpi,
    AddrTon,
    CommandId,
    CommandStatus,
    DataCoding,
    DataCodingDefault,
    DataCodingScheme,
    EsmClass,
    EsmClassMode,
    EsmClassType,
    MessageState,
    PriorityFlag,
    RegisteredDelivery,
    RegisteredDeliveryReceipt,
    ReplaceIfPresentFlag,
)

STATES = {"0": ("DELIVRD", MessageState.DELIVERED), "1": ("EXPIRED", MessageState.EXPIRED),
          "2": ("UNDELIV", MessageState.UNDELIVERABLE), "3": ("REJECTD", MessageState.REJECTED)}
CODINGS = {value: name for name, value in constants.data_coding_default_name_map.items()}
BINDS = {CommandId.bind_transmitter: op.BindTransmitterResp, CommandId.bind_receiver: op.BindReceiverResp,
         CommandId.bind_transceiver: op.BindTransceiverResp}


class Session:
    def __init__(self, sock: socket.socket, mos: list[tuple[str, str, int, bytes]]) -> None:
        self.sock = sock
        self.mos = mos
        self.encoder = PDUEncoder()
        self.lock = threading.Lock()
        self.seq = 0
        self.next_id = int(time.time()) % 100000 * 1000

    def send(self, pdu: op.PDU) -> None:
        data = self.encoder.encode(pdu)
        with self.lock:
            self.sock.sendall(data)

    def sequence(self) -> int:
        with self.lock:
            self.seq += 1
            return self.seq

    def deliver(self, source: str, destination: str, text: bytes, coding: int = 0, **receipt: object) -> None:
        scheme = DataCoding(DataCodingScheme.DEFAULT, DataCodingDefault[CODINGS[coding]])
        pdu = op.DeliverSM(
            seqNum=self.sequence(), service_type="", source_addr_ton=AddrTon.INTERNATIONAL,
            source_addr_npi=AddrNpi.ISDN, source_addr=source, dest_addr_ton=AddrTon.INTERNATIONAL,
            dest_addr_npi=AddrNpi.ISDN, destination_addr=destination,
            esm_class=EsmClass(EsmClassMode.DEFAULT,
                               EsmClassType.SMSC_DELIVERY_RECEIPT if receipt else EsmClassType.DEFAULT),
            protocol_id=0, priority_flag=PriorityFlag.LEVEL_0, schedule_delivery_time=None, validity_period=None,
            registered_delivery=RegisteredDelivery(RegisteredDeliveryReceipt.NO_SMSC_DELIVERY_RECEIPT_REQUESTED),
            replace_if_present_flag=ReplaceIfPresentFlag.DO_NOT_REPLACE, data_coding=scheme,
            sm_default_msg_id=0, short_message=text, **receipt)
        self.send(pdu)

    def receipt(self, submit: op.PDU, message_id: str) -> None:
        time.sleep(0.3)
        destination = submit.params["destination_addr"].decode()
        stat, state = STATES.get(destination[-1:], STATES["0"])
        now = time.strftime("%y%m%d%H%M", time.gmtime())
        delivered = "001" if stat == "DELIVRD" else "000"
        err = "000" if stat == "DELIVRD" else "034"
        head = (submit.params["short_message"] or b"")[:20].decode("latin-1")
        text = (f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{now} done date:{now} stat:{stat} "
                f"err:{err} text:{head}")
        self.deliver(destination, submit.params["source_addr"].decode(), text.encode(),
                     receipted_message_id=message_id, message_state=state)

    def run(self) -> None:
        buffer = b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return
            buffer += chunk
            while len(buffer) >= 4:
                (length,) = struct.unpack(">L", buffer[:4])
                if len(buffer) < length:
                    break
                pdu, buffer = self.encoder.decode(BytesIO(buffer[:length])), buffer[length:]
                self.handle(pdu)

    def handle(self, pdu: op.PDU) -> None:
        if pdu.id in BINDS:
            self.send(BINDS[pdu.id](seqNum=pdu.seqNum, system_id="smshooksim"))
            if pdu.id != CommandId.bind_transmitter:
                for source, destination, coding, text in self.mos:
                    threading.Timer(0.5, self.deliver, (source, destination, text, coding)).start()
        elif pdu.id == CommandId.enquire_link:
            self.send(op.EnquireLinkResp(seqNum=pdu.seqNum))
        elif pdu.id == CommandId.unbind:
            self.send(op.UnbindResp(seqNum=pdu.seqNum))
        elif pdu.id == CommandId.submit_sm:
            if pdu.params["destination_addr"].decode().endswith("9"):
                self.send(op.SubmitSMResp(seqNum=pdu.seqNum, status=CommandStatus.ESME_RINVDSTADR))
                return
            self.next_id += 1
            message_id = str(self.next_id)
            self.send(op.SubmitSMResp(seqNum=pdu.seqNum, message_id=message_id))
            wanted = pdu.params.get("registered_delivery")
            if wanted is not None and wanted.receipt != RegisteredDeliveryReceipt.NO_SMSC_DELIVERY_RECEIPT_REQUESTED:
                threading.Thread(target=self.receipt, args=(pdu, message_id), daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--mo", action="append", default=[], help="FROM:TO:CODING:HEXTEXT")
    args = parser.parse_args()
    mos = []
    for spec in args.mo:
        source, destination, coding, text = spec.split(":")
        mos.append((source, destination, int(coding), binascii.unhexlify(text)))
    server = socket.create_server(("127.0.0.1", args.port))
    print(f"smsc listening on 127.0.0.1:{args.port}", flush=True)
    while True:
        sock, _ = server.accept()
        threading.Thread(target=Session(sock, mos).run, daemon=True).start()


if __name__ == "__main__":
    main()
