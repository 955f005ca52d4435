"""fork(): a child process keeps using an exporter made before the fork, and can make new
ones; the parent is unaffected."""
from __future__ import annotations

import os
import sys
from typing import Any

import pytest

JSON = '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"%s","gauge":{"dataPoints":[{"asInt":"1"}]}}]}]}]}'


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_child_and_parent_keep_exporting_after_fork(front: Any, receiver: Any, make_exporter: Any) -> None:
    exporter = make_exporter()
    exporter.upload_json(JSON % "before-fork")
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        code = 0
        try:
            exporter.upload_json(JSON % "child-old-exporter", timeout_ms=5000)
            fresh = front.Exporter(endpoint=receiver.url, retry=False, timeout_ms=5000)
            fresh.upload_json(JSON % "child-new-exporter")
            fresh.close()
            exporter.shutdown(timeout_ms=2000)
        except BaseException as error:  # noqa: BLE001 - any failure becomes the exit code
            print(f"child failed: {error!r}", file=sys.stderr)
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    exporter.upload_json(JSON % "parent-after-fork")
    names = {
        m.name
        for r in receiver.wait_for(4)
        for rm in r.request().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert names == {"before-fork", "child-old-exporter", "child-new-exporter", "parent-after-fork"}
