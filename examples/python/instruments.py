"""Records metrics with otlpmetric's own meter provider (no OpenTelemetry SDK): a request
counter, a latency histogram and an observable memory gauge, exported over OTLP/HTTP.

    python examples/python/instruments.py [ENDPOINT] [--requests N]

ENDPOINT defaults to $OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, else the library default.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time

import otlpmetric


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint", nargs="?", help="e.g. http://127.0.0.1:4318/v1/metrics")
    parser.add_argument("--requests", type=int, default=20, help="simulated requests")
    args = parser.parse_args()

    with otlpmetric.MeterProvider(
        endpoint=args.endpoint,
        protocol="http/protobuf" if args.endpoint else None,
        resource={"service.name": "instruments-example"},
        export_interval_ms=0,  # this short run exports once, at the end
    ) as provider:
        meter = provider.meter("example.instruments", "1.0")
        requests = meter.counter("example.requests", unit="{request}", description="handled requests")
        latency = meter.histogram("example.latency", unit="ms", number=float)

        def memory(observer: otlpmetric.Observer) -> None:
            observer.observe(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, {"kind": "max_rss_kib"})

        meter.observable_gauge("example.memory", memory, unit="KiBy")

        ok = requests.bind({"route": "/api", "status": 200})  # the common case: no attribute work
        with ok:
            for _ in range(args.requests):
                started = time.perf_counter()
                time.sleep(random.uniform(0, 0.002))
                if random.random() < 0.9:
                    ok.add(1)
                else:
                    requests.add(1, {"route": "/api", "status": 500})
                latency.record((time.perf_counter() - started) * 1000, {"route": "/api"})
        provider.force_flush(10_000)
        print(f"exported {args.requests} requests: {provider.stats()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
