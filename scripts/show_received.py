#!/usr/bin/env python3
"""Prints what an OTLP receiver wrote as OTLP/JSON lines (the Collector's file exporter):
one line per data point, grouped by request. Usage: show_received.py FILE"""
import json
import sys


def value(point):
    if "asInt" in point:
        return point["asInt"]
    if "asDouble" in point:
        return point["asDouble"]
    if "count" in point:
        extra = "".join(f" {k}={point[k]}" for k in ("sum", "min", "max") if k in point)
        return f"count={point['count']}{extra} buckets={point.get('bucketCounts', [])}"
    return "?"


def attributes(items):
    return ", ".join(f"{a['key']}={next(iter(a['value'].values()))}" for a in items or [])


def main(path):
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f.read().split("\n") if line.strip()]
    for n, line in enumerate(lines, 1):
        request = json.loads(line)
        for rm in request.get("resourceMetrics", []):
            print(f"request {n}: resource [{attributes(rm.get('resource', {}).get('attributes'))}]")
            for sm in rm.get("scopeMetrics", []):
                for metric in sm.get("metrics", []):
                    kind = next(k for k in ("sum", "gauge", "histogram", "exponentialHistogram", "summary") if k in metric)
                    for point in metric[kind].get("dataPoints", []):
                        print(f"  {metric['name']:<18} {kind:<9} {value(point)}  {{{attributes(point.get('attributes'))}}}")
    print(f"{len(lines)} export request(s) received")
    return 0 if lines else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
