"""A test SMTP server for Weft's email tests, on aiosmtpd (PyPI, installed by scripts/deps).

Stores every accepted message raw as <n>.eml in --dir, with <n>.json beside it
({"mail_from", "rcpt_tos", "tls", "auth_user"}), written before the 250 answer.
Options:
  --starttls CERT KEY     offer STARTTLS with this certificate (and require it before MAIL)
  --implicit-tls CERT KEY TLS from the first byte (SMTPS)
  --auth USER PASSWORD    offer AUTH PLAIN/LOGIN and require a login before MAIL
  --reject ADDR           answer RCPT TO:<ADDR> with 550 (repeatable)
  --tempfail ADDR         answer RCPT TO:<ADDR> with 451 (repeatable)
  --data-reply "CODE TEXT" answer the message data with this instead of storing it
Prints "READY <port>" once it listens; stops on SIGTERM.
"""

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, args):
        self.args = args
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.args.reject:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address in self.args.tempfail:
            return f"451 4.2.0 <{address}>: Recipient address rejected: try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.args.data_reply:
            return self.args.data_reply
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(self.args.dir, f"{n:04}")
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "auth_user": (
                session.auth_data.login.decode()
                if isinstance(session.auth_data, LoginPassword)
                else None
            ),
        }
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".eml.tmp", base + ".eml")
        os.rename(base + ".json.tmp", base + ".json")
        return f"250 2.0.0 OK: queued as {n:04}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--implicit-tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--auth", nargs=2, metavar=("USER", "PASSWORD"))
    p.add_argument("--reject", action="append", default=[])
    p.add_argument("--tempfail", action="append", default=[])
    p.add_argument("--data-reply")
    args = p.parse_args()

    def context(pair):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(pair[0], pair[1])
        return ctx

    kwargs = {}
    if args.starttls:
        kwargs["tls_context"] = context(args.starttls)
        kwargs["require_starttls"] = True
    if args.auth:
        user, password = args.auth

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            # handled=False: aiosmtpd answers 535 itself (the default leaves the client waiting).
            return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        # With STARTTLS, AUTH is offered only once the connection is encrypted.
        kwargs["auth_require_tls"] = bool(args.starttls or args.implicit_tls)

    controller = Controller(
        Handler(args),
        hostname="127.0.0.1",
        port=args.port,
        ssl_context=context(args.implicit_tls) if args.implicit_tls else None,
        server_hostname="localhost",
        ready_timeout=30,
        **kwargs,
    )
    controller.start()
    print(f"READY {args.port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    controller.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
