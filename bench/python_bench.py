#!/usr/bin/env python3
"""Python SDK exporters side by side: client CPU per export.

Compares, on the same data and against the same receiver:

- ``otlpmetric.sdk.OTLPMetricExporter`` (package ``bindings/python``: the SDK's own OTLP
  encoder, then the native libotlpmetric over gRPC, and over HTTP/protobuf);
- ``opentelemetry-exporter-otlp-proto-grpc``'s ``OTLPMetricExporter`` (grpcio);
- ``opentelemetry-exporter-otlp-proto-http``'s ``OTLPMetricExporter`` (requests), if
  installed;
- and, to split the costs: the SDK's encoder alone (``encode_metrics`` +
  ``SerializeToString``), and ``otlpmetric.Exporter.upload_request`` of bytes encoded once.

The data: one resource, one scope, a mix of counters, up-down counters, gauges and
histograms with semantic-convention attributes, 2000 data points (``--points 10`` for the
small payload), the same shape as the Rust benchmark (``bench/src/payload.rs``). It is
recorded once into an SDK ``MeterProvider`` with an ``InMemoryMetricReader``; the
``MetricsData`` it collects is what every exporter exports, again and again.

The receiver is the Rust benchmark's (``otlpmetric-bench --serve``), in a separate process:
a tonic gRPC MetricsService and a hyper HTTP endpoint that read each request and drop it.
CPU per export is ``resource.getrusage(RUSAGE_SELF)`` user+sys of this process (Python and
every native thread in it: otlpmetric's runtime, grpcio's) over the measured phase,
divided by the number of exports.

Not run by the tests. Set up, from the repository root::

    cargo build --release                                   # libotlpmetric.so
    cargo build --release --manifest-path bench/Cargo.toml  # the receiver
    python3 -m venv /tmp/bench-venv
    /tmp/bench-venv/bin/pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc \\
        opentelemetry-exporter-otlp-proto-http
    PYTHONPATH=bindings/python/src /tmp/bench-venv/bin/python bench/python_bench.py [--quick]

(or ``pip install bindings/python[sdk]`` instead of ``PYTHONPATH``; the native library is
found as ``otlpmetric`` says, except that the checkout's ``target/release`` build is
preferred to a debug one unless ``$OTLPMETRIC_LIBRARY`` is set). Options: ``--quick`` (~0.5 s per row instead of ~3 s),
``--points N`` (10 or 2000, or anything in between), ``--receiver PATH``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

HERE = Path(__file__).resolve().parent

# The same specification as bench/src/payload.rs: (name, description, unit, kind, points).
LARGE = [
    ("http.server.request.count", "Number of HTTP server requests.", "{request}", "counter", 250),
    ("http.server.request.duration", "Duration of HTTP server requests.", "s", "histogram", 200),
    ("http.server.active_requests", "Number of active HTTP server requests.", "{request}", "updown", 200),
    ("http.client.request.duration", "Duration of HTTP client requests.", "s", "histogram", 100),
    ("process.cpu.utilization", "Difference in process.cpu.time since the last measurement, divided by the elapsed time and number of CPUs.", "1", "gauge", 400),
    ("system.memory.utilization", "Fraction of memory in use.", "1", "gauge", 400),
    ("messaging.client.sent.messages", "Number of messages producer attempted to send to the broker.", "{message}", "counter", 250),
    ("db.client.connection.count", "The number of connections that are currently in state described by the state attribute.", "{connection}", "updown", 200),
]
SMALL = [
    ("http.server.request.count", "Number of HTTP server requests.", "{request}", "counter", 3),
    ("http.server.request.duration", "Duration of HTTP server requests.", "s", "histogram", 2),
    ("process.cpu.utilization", "Difference in process.cpu.time since the last measurement, divided by the elapsed time and number of CPUs.", "1", "gauge", 3),
    ("db.client.connection.count", "The number of connections that are currently in state described by the state attribute.", "{connection}", "updown", 2),
]
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
STATUS = [200, 201, 204, 400, 404, 500]
ROUTES = [
    "/api/v1/orders/{order_id}",
    "/api/v1/orders",
    "/api/v1/customers/{customer_id}/addresses",
    "/api/v1/cart/{cart_id}/items/{item_id}",
    "/api/v1/catalog/products/{sku}",
    "/api/v1/payments/{payment_id}/capture",
    "/api/v1/shipping/quotes",
    "/healthz",
    "/api/v2/search",
    "/api/v1/inventory/{warehouse_id}/levels",
]
RESOURCE = {
    "service.name": "checkout",
    "service.namespace": "shop",
    "service.version": "1.42.0",
    "service.instance.id": "627cc493-f310-47de-96bd-71410b7dec09",
    "deployment.environment.name": "production",
    "host.name": "ip-10-0-12-34.ec2.internal",
    "host.arch": "amd64",
    "os.type": "linux",
    "cloud.provider": "aws",
    "cloud.region": "eu-west-1",
    "telemetry.sdk.name": "opentelemetry",
    "telemetry.sdk.language": "python",
}


def attributes(name: str, kind: str, i: int) -> dict:
    if name.startswith("http.server") or name.startswith("http.client"):
        a = {
            "http.request.method": METHODS[i % len(METHODS)],
            "http.route": ROUTES[(i // len(METHODS)) % len(ROUTES)],
            "server.address": f"api-{i // 50}.checkout.prod.internal",
        }
        if kind != "updown":
            a["http.response.status_code"] = STATUS[i % len(STATUS)]
        return a
    if name == "process.cpu.utilization":
        return {
            "cpu.mode": ["user", "system", "wait"][i % 3],
            "process.pid": 10_000 + i // 3,
            "process.executable.name": f"checkout-worker-{i // 3 % 16}",
            "host.name": f"ip-10-0-{i // 40}-{i % 40}.ec2.internal",
        }
    if name == "system.memory.utilization":
        return {
            "system.memory.state": ["used", "free", "cached", "buffered", "slab_reclaimable"][i % 5],
            "host.name": f"ip-10-1-{i // 40}-{i % 40}.ec2.internal",
            "os.type": "linux",
        }
    if name == "messaging.client.sent.messages":
        return {
            "messaging.system": "kafka",
            "messaging.operation.name": "send",
            "messaging.destination.name": f"orders.events.v1.partition-{i % 64}",
            "server.address": f"kafka-{i // 64}.broker.prod.internal",
        }
    return {
        "db.system.name": "postgresql",
        "db.client.connection.pool.name": f"orders-db-pool-{i // 2}",
        "db.client.connection.state": "idle" if i % 2 == 0 else "used",
        "server.address": f"orders-db-{i // 20}.cluster-ro.prod.internal",
    }


def histogram_values(i: int) -> List[float]:
    out = []
    for k in range(3 + i % 7):
        x = ((i * 7919 + k * 104_729) % 10_000) / 10_000.0
        out.append(0.001 + x * x * 12.0)
    return out


def scale(specs, points: int):
    """`specs` with `points` data points in all, in the same proportions."""
    total = sum(s[4] for s in specs)
    if points == total:
        return specs
    out, left = [], points
    for k, (n, d, u, kind, p) in enumerate(specs):
        share = left if k == len(specs) - 1 else max(0, round(p * points / total))
        share = min(share, left)
        left -= share
        if share:
            out.append((n, d, u, kind, share))
    return out


def metrics_data(points: int):
    """The SDK's MetricsData for `points` data points (cumulative temporality)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
    from opentelemetry.sdk.resources import Resource

    specs = SMALL if points == 10 else scale(LARGE, points)
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource(RESOURCE),
        views=[View(instrument_type=None, instrument_name="*.duration",
                    aggregation=ExplicitBucketHistogramAggregation(boundaries=BOUNDS))],
    )
    meter = provider.get_meter("otlpmetric-bench", "0.1.0")
    for name, description, unit, kind, n in specs:
        if kind == "counter":
            c = meter.create_counter(name, unit=unit, description=description)
            for i in range(n):
                c.add(1 + (i * 2_654_435_761) % 100_000, attributes(name, kind, i))
        elif kind == "updown":
            c = meter.create_up_down_counter(name, unit=unit, description=description)
            for i in range(n):
                c.add((i * 37) % 200 - 20, attributes(name, kind, i))
        elif kind == "gauge":
            g = meter.create_gauge(name, unit=unit, description=description)
            for i in range(n):
                g.set(((i * 48_271) % 10_000) / 10_000.0, attributes(name, kind, i))
        else:
            h = meter.create_histogram(name, unit=unit, description=description)
            for i in range(n):
                attrs = attributes(name, kind, i)
                for v in histogram_values(i):
                    h.record(v, attrs)
    data = reader.get_metrics_data()
    return provider, data


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(export: Callable[[], None], seconds: float, warmup: float) -> Tuple[float, float, float, float, int]:
    """(CPU s/export, exports/s, p50 s, p99 s, exports) of back-to-back calls."""
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        export()
    latencies = []
    cpu0, t0 = self_cpu(), time.perf_counter()
    end = t0 + seconds
    while True:
        t = time.perf_counter()
        export()
        now = time.perf_counter()
        latencies.append(now - t)
        if now >= end:
            break
    wall, cpu = time.perf_counter() - t0, self_cpu() - cpu0
    latencies.sort()
    n = len(latencies)
    return cpu / n, n / wall, latencies[n // 2], latencies[max(0, -(-99 * n // 100) - 1)], n


def fmt(seconds: float) -> str:
    if seconds >= 0.1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def start_receiver(path: Path):
    proc = subprocess.Popen([str(path), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    ports = dict(w.split("=", 1) for w in line.split() if "=" in w)
    return proc, int(ports["grpc"]), int(ports["http"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="~0.5 s per row")
    ap.add_argument("--points", type=int, default=2000, help="data points per export (10: the small payload)")
    ap.add_argument("--receiver", type=Path, default=HERE / "target" / "release" / "otlpmetric-bench",
                    help="the Rust benchmark's binary (run with --serve)")
    args = ap.parse_args()
    seconds, warmup = (0.5, 0.2) if args.quick else (3.0, 0.5)

    if not args.receiver.exists():
        print(f"no receiver at {args.receiver}: cargo build --release --manifest-path bench/Cargo.toml", file=sys.stderr)
        return 2
    # A release build of the native library: otlpmetric's own search takes the more recently
    # built of target/release and target/debug, and a debug build would be measured.
    release = HERE.parent / "target" / "release" / "libotlpmetric.so"
    if "OTLPMETRIC_LIBRARY" not in os.environ and release.exists():
        os.environ["OTLPMETRIC_LIBRARY"] = str(release)
    import otlpmetric
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from otlpmetric.sdk import OTLPMetricExporter as NativeExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter

    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter
    except ImportError:
        HttpExporter = None

    proc, grpc_port, http_port = start_receiver(args.receiver)
    try:
        provider, data = metrics_data(args.points)
        request = encode_metrics(data).SerializeToString()
        n_points = sum(
            len(m.data.data_points)
            for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        )
        from importlib.metadata import version
        print(f"python_bench {time.strftime('%Y-%m-%d', time.gmtime())}{' (--quick)' if args.quick else ''}")
        print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}, "
              f"opentelemetry-sdk {version('opentelemetry-sdk')}, grpcio {version('grpcio')}, protobuf {version('protobuf')}")
        print(f"libotlpmetric {otlpmetric.version()}: {otlpmetric.library_path()}")
        print(f"receiver: {args.receiver.name} --serve (pid {proc.pid}), gRPC :{grpc_port}, HTTP :{http_port}")
        print(f"data: {n_points} data points, ExportMetricsServiceRequest {len(request)} bytes "
              f"(the SDK's MetricsData, collected once, exported every time)")
        print(f"each row: {warmup:.1f} s warm-up, {seconds:.1f} s of back-to-back export() calls, one thread")
        print("CPU/export: getrusage(RUSAGE_SELF) user+sys of this process (all threads) / exports")
        print()

        grpc_url = f"http://127.0.0.1:{grpc_port}"
        http_url = f"http://127.0.0.1:{http_port}/v1/metrics"
        native_grpc = NativeExporter(endpoint=grpc_url, protocol="grpc")
        native_http = NativeExporter(endpoint=http_url, protocol="http/protobuf")
        raw = otlpmetric.Exporter(endpoint=grpc_url, protocol="grpc")
        grpc_exp = GrpcExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True)
        rows: List[Tuple[str, Callable[[], object]]] = [
            ("SDK encoder only (encode_metrics + SerializeToString)", lambda: encode_metrics(data).SerializeToString()),
            ("otlpmetric upload_request of pre-encoded bytes (gRPC)", lambda: raw.upload_request(request)),
            ("otlpmetric.sdk.OTLPMetricExporter gRPC", lambda: native_grpc.export(data)),
            ("otlpmetric.sdk.OTLPMetricExporter HTTP/protobuf", lambda: native_http.export(data)),
            ("opentelemetry-exporter-otlp-proto-grpc", lambda: grpc_exp.export(data)),
        ]
        http_exp = None
        if HttpExporter is not None:
            http_exp = HttpExporter(endpoint=http_url)
            rows.append(("opentelemetry-exporter-otlp-proto-http", lambda: http_exp.export(data)))

        # Each exporter must succeed before it is measured.
        for name, export in rows:
            result = export()
            if result is not None and not isinstance(result, bytes) and getattr(result, "name", "SUCCESS") != "SUCCESS":
                print(f"{name}: export failed: {result}", file=sys.stderr)
                return 1

        results = []
        for name, export in rows:
            results.append((name,) + measure(export, seconds, warmup))
        base = next(r for r in results if r[0] == "opentelemetry-exporter-otlp-proto-grpc")
        print(f"{'exporter':<56}{'CPU/export':>12}{'exports/s':>11}{'p50':>11}{'p99':>11}{'CPU vs grpcio':>15}")
        for name, cpu, rate, p50, p99, n in results:
            print(f"{name:<56}{fmt(cpu):>12}{rate:>11.0f}{fmt(p50):>11}{fmt(p99):>11}{base[1] / cpu:>14.2f}x")
        print()
        print("CPU vs grpcio: opentelemetry-exporter-otlp-proto-grpc's CPU per export / this row's (higher = cheaper).")
        print("otlpmetric.sdk's export = the SDK encoder (first row) + the native upload (second row).")

        for e in (native_grpc, native_http, grpc_exp) + ((http_exp,) if http_exp else ()):
            e.shutdown()
        raw.close()
        provider.shutdown()
    finally:
        proc.stdin.close()
        proc.kill()
        proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
