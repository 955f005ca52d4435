"""A small in-process OTLP/HTTP receiver for the tests: a real HTTP server on a real
socket (127.0.0.1, a free port) that records what arrives and answers as told."""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2


@dataclass
class Received:
    method: str
    path: str
    headers: Dict[str, str]  # names lower-cased
    raw_body: bytes
    body: bytes  # after Content-Encoding

    def request(self) -> metrics_service_pb2.ExportMetricsServiceRequest:
        return metrics_service_pb2.ExportMetricsServiceRequest.FromString(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: Dict[str, str] = field(default_factory=dict)
    hang: bool = False  # wait (until the receiver stops, at most 30 s) and close


class Receiver:
    """``url`` is the full ``/v1/metrics`` endpoint. Replies are taken from ``replies``
    in order; when it is empty, ``default`` answers."""

    def __init__(self) -> None:
        self.requests: List[Received] = []
        self.replies: List[Reply] = []
        self.default = Reply()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                with receiver._lock:
                    receiver.requests.append(
                        Received(
                            "POST",
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            raw,
                            body,
                        )
                    )
                    reply = receiver.replies.pop(0) if receiver.replies else receiver.default
                    receiver._arrived.notify_all()
                if reply.hang:
                    receiver._stopping.wait(30)
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                headers = {"Content-Type": "application/x-protobuf", **reply.headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/metrics"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, name="otlp-receiver", daemon=True
        )
        self._thread.start()

    def partial_success(self, rejected: int, message: str) -> Reply:
        response = metrics_service_pb2.ExportMetricsServiceResponse()
        response.partial_success.rejected_data_points = rejected
        response.partial_success.error_message = message
        return Reply(200, response.SerializeToString())

    def wait_for(self, count: int, timeout: float = 5.0) -> List[Received]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
                self._arrived.wait(left)
            return list(self.requests)

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()
