"""SMTP sink for the chatbox-notify tests, started by `cargo xtask test` (xtask/src/services.rs).

Listens on --host/--port (plain SMTP, no TLS, no AUTH) and writes every accepted message to
--dir as one JSON file: the envelope (`mail_from`, `rcpt_tos`), the decoded `subject`, the
top-level `content_type`, each leaf part's `content_type` and decoded `body`, and the `raw`
message. A file is written (atomically, via rename) before the server answers 250 to DATA, so a
test whose send returned Ok can read it at once.

Recipients whose local part starts with `reject` are refused with 550 and those starting with
`tempfail` with 451, so tests can check how permanent and transient refusals are classified.
"""

import argparse
import asyncio
import json
import os
import signal
import uuid
from email import policy
from email.parser import BytesParser

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory):
        self.directory = directory

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 Mailbox unavailable"
        if local.startswith("tempfail"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        parts = []
        for part in message.walk():
            if part.is_multipart():
                continue
            parts.append(
                {
                    "content_type": part.get_content_type(),
                    "body": part.get_content(),
                }
            )
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(message.get("subject", "")),
            "from": str(message.get("from", "")),
            "to": str(message.get("to", "")),
            "content_type": message.get_content_type(),
            "parts": parts,
            "raw": raw.decode("utf-8", errors="replace"),
        }
        name = uuid.uuid4().hex
        tmp = os.path.join(self.directory, f".{name}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.directory, f"{name}.json"))
        return "250 Message accepted"


async def serve(host, port, directory):
    loop = asyncio.get_running_loop()
    handler = Sink(directory)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="chatbox-test-sink"), host=host, port=port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
