"""Protobuf test data."""

from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2


def resource_metrics(name: str = "requests", value: int = 42, points: int = 1) -> metrics_pb2.ResourceMetrics:
    rm = metrics_pb2.ResourceMetrics()
    rm.resource.attributes.append(
        common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="python-test"))
    )
    sm = rm.scope_metrics.add()
    sm.scope.name = "otlpmetric.tests"
    m = sm.metrics.add()
    m.name = name
    m.unit = "1"
    m.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    m.sum.is_monotonic = True
    for i in range(points):
        p = m.sum.data_points.add()
        p.start_time_unix_nano = 1_700_000_000_000_000_000
        p.time_unix_nano = 1_700_000_010_000_000_000 + i
        p.as_int = value + i
        p.attributes.append(common_pb2.KeyValue(key="point", value=common_pb2.AnyValue(int_value=i)))
    return rm


def request(*rms: metrics_pb2.ResourceMetrics) -> metrics_service_pb2.ExportMetricsServiceRequest:
    req = metrics_service_pb2.ExportMetricsServiceRequest()
    req.resource_metrics.extend(rms or [resource_metrics()])
    return req


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def wrap_as_request(rm_bytes: bytes) -> bytes:
    """ExportMetricsServiceRequest{resource_metrics: [rm]} as bytes: field 1, length-delimited."""
    return b"\x0a" + varint(len(rm_bytes)) + rm_bytes
