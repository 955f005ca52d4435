#!/usr/bin/env python3
"""Periodic OTLP metrics export with the OpenTelemetry Python SDK through otlpmetric.

    python3 examples/python/periodic.py [ENDPOINT] [--interval-ms MS] [--rounds N]

ENDPOINT is the full URL (``http://localhost:4318/v1/metrics``; ``http://host:4317`` with
``--protocol grpc``); without it, ``$OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``, else the
library's defaults and the rest of the ``OTEL_EXPORTER_OTLP_*`` environment. It records a
counter, a histogram and a gauge every interval and exports them every interval, until
Ctrl-C / SIGTERM (or N rounds), then shuts down cleanly: one last export, then the exporter.

Needs: pip install "./bindings/python[sdk]" (the package builds and carries the native
library; ``$OTLPMETRIC_LIBRARY`` overrides it).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import sys
import threading
from typing import Iterable, Optional

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

import otlpmetric
from otlpmetric.sdk import OTLPMetricExporter


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("endpoint", nargs="?", default=os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or None)
    parser.add_argument("--protocol", choices=["grpc", "http/protobuf", "http/json"], default=None)
    parser.add_argument("--interval-ms", type=int, default=1000, help="export interval (default 1000)")
    parser.add_argument("--rounds", type=int, default=None, help="stop after N rounds (default: run until Ctrl-C)")
    parser.add_argument("--delta", action="store_true", help="delta temporality for counters and histograms")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("periodic")

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    K, T = otlpmetric.InstrumentKind, otlpmetric.Temporality
    temporality = None
    if args.delta:
        temporality = {K.COUNTER: T.DELTA, K.HISTOGRAM: T.DELTA, K.OBSERVABLE_COUNTER: T.DELTA}
    native = otlpmetric.Exporter(endpoint=args.endpoint, protocol=args.protocol, temporality=temporality)
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(exporter=native), export_interval_millis=args.interval_ms)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": "otlpmetric-python-example"}),
    )
    meter = provider.get_meter("otlpmetric.examples.periodic", otlpmetric.__version__)

    requests = meter.create_counter("example.requests", unit="{request}", description="requests served")
    latency = meter.create_histogram("example.latency", unit="ms", description="request latency")
    temperature = {"value": 20.0}
    if hasattr(meter, "create_gauge"):  # a synchronous gauge (SDK 1.23 and later)
        gauge = meter.create_gauge("example.temperature", unit="Cel", description="room temperature")
        set_temperature = lambda value: gauge.set(value, {"room": "lab"})  # noqa: E731
    else:

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            yield Observation(temperature["value"], {"room": "lab"})

        meter.create_observable_gauge("example.temperature", callbacks=[observe], unit="Cel")
        set_temperature = lambda value: temperature.update(value=value)  # noqa: E731

    log.info("exporting to %s every %d ms", args.endpoint or "the environment's endpoint", args.interval_ms)
    rounds = 0
    try:
        while not stop.is_set():
            for _ in range(random.randint(1, 20)):
                route = random.choice(["/", "/api", "/health"])
                requests.add(1, {"route": route})
                latency.record(random.expovariate(1 / 40.0), {"route": route})
            set_temperature(round(random.gauss(21.0, 0.5), 2))
            rounds += 1
            if args.rounds is not None and rounds >= args.rounds:
                break
            stop.wait(args.interval_ms / 1000.0)
    finally:
        # One last collection and export, then the exporter's own shutdown.
        provider.shutdown()
        stats = native.stats()
        native.close()
    log.info(
        "%d rounds; requests sent %d, failed %d, retries %d, bytes %d",
        rounds,
        stats.requests_sent,
        stats.requests_failed,
        stats.retries,
        stats.bytes_sent,
    )
    return 0 if stats.requests_failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
