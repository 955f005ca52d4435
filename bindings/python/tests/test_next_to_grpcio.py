"""The library in a process that already runs grpcio (its own gRPC core and BoringSSL) and
protobuf's runtime, as a Python service moving off grpcio would: a MetricsService served
by grpcio in this very process receives exactly what otlpmetric uploads over gRPC."""

from __future__ import annotations

import threading
from concurrent import futures
from typing import Any, List

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

import samples


class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self) -> None:
        self.requests: List[bytes] = []
        self.received = threading.Condition()

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC's method name)
        with self.received:
            self.requests.append(request.SerializeToString())
            self.received.notify_all()
        return metrics_service_pb2.ExportMetricsServiceResponse()


def test_uploads_to_a_grpcio_server_in_the_same_process(front: Any) -> None:
    service = MetricsService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        exporter = front.Exporter(
            endpoint=f"http://127.0.0.1:{port}", protocol="grpc", retry=False, timeout_ms=5000
        )
        try:
            rm = samples.resource_metrics("next.to.grpcio", 7, points=3).SerializeToString()
            request = samples.request(samples.resource_metrics("b", 2)).SerializeToString()
            exporter.upload(rm)
            exporter.upload_request(request)
            stats = exporter.stats()
        finally:
            exporter.close()
        # grpcio's own client, after ours, in the same process.
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            metrics_service_pb2_grpc.MetricsServiceStub(channel).Export(
                metrics_service_pb2.ExportMetricsServiceRequest(), timeout=5
            )
        with service.received:
            service.received.wait_for(lambda: len(service.requests) == 3, timeout=5)
    finally:
        server.stop(grace=None)
    # protobuf decodes and re-encodes these requests canonically, as the library sent them.
    assert service.requests == [samples.wrap_as_request(rm), request, b""]
    assert stats.requests_sent == 2 and stats.requests_failed == 0
