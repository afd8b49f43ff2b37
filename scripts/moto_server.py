#!/usr/bin/env python3
"""moto's server with one change: requests are handled one at a time.

moto's DynamoDB handlers are not thread-safe: a conditional PutItem checks and writes in two
steps, and TransactWriteItems snapshots whole tables, so two requests handled at once can both
pass a condition or undo each other's writes. DynamoDB itself applies each request atomically.
Serialising DynamoDB requests behind one lock gives the local endpoint that guarantee, which the
project's concurrency tests rely on. Other services (SQS, whose ReceiveMessage long-polls) are
served concurrently, as before.

    python scripts/moto_server.py -H 127.0.0.1 -p 5005
"""
import argparse
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5005)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    backend = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialised(environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return backend(environ, start_response)
        with lock:
            # The whole body is produced inside the lock: werkzeug's iterables are lazy.
            return [b"".join(backend(environ, start_response))]

    run_simple(
        args.host,
        args.port,
        serialised,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
