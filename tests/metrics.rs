//! The meter provider against real receivers on 127.0.0.1: on-demand and periodic export,
//! shutdown, and the selectors deciding the aggregation on the wire.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use otlpmetric::internals::metrics::{KeyValue, MeterProvider, MetricsSettings, NumberType};
use otlpmetric::{Config, ErrorKind, InstrumentKind, LogLevel, RetryPolicy, Temporality};
use support::{Receiver, Reply};

type Logs = Arc<Mutex<Vec<(LogLevel, String)>>>;

fn config_for(receiver: &Receiver, logs: &Logs) -> Config {
    let mut config = receiver.config();
    config
        .set_retry(RetryPolicy {
            enabled: false,
            ..RetryPolicy::default()
        })
        .unwrap();
    let sink = logs.clone();
    config.set_log_callback(Some(Arc::new(move |level, message: &str| {
        sink.lock().unwrap().push((level, message.to_string()))
    })));
    config
}

fn settings(vars: &'static [(&'static str, &'static str)]) -> MetricsSettings {
    MetricsSettings::from_lookup(&|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
}

/// The metrics of every request `receiver` got, in order.
fn received(receiver: &Receiver, n: usize) -> Vec<Vec<Metric>> {
    receiver
        .wait_for_requests(n, Duration::from_secs(10))
        .iter()
        .map(|recorded| {
            recorded
                .request()
                .resource_metrics
                .into_iter()
                .flat_map(|rm| rm.scope_metrics)
                .flat_map(|sm| sm.metrics)
                .collect()
        })
        .collect()
}

fn sum_value(metric: &Metric) -> i64 {
    let Some(Data::Sum(sum)) = &metric.data else {
        panic!("not a sum: {metric:?}")
    };
    sum.data_points
        .iter()
        .map(|p| match p.value {
            Some(number_data_point::Value::AsInt(i)) => i,
            other => panic!("not an int: {other:?}"),
        })
        .sum()
}

#[test]
fn force_flush_exports_what_was_recorded_over_both_transports() {
    for receiver in [Receiver::grpc(), Receiver::http()] {
        let logs = Logs::default();
        let provider = MeterProvider::new(
            &config_for(&receiver, &logs),
            &settings(&[
                ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
                ("OTEL_SERVICE_NAME", "checkout"),
            ]),
        )
        .unwrap();
        let meter = provider.meter("shop", Some("2.0")).unwrap();
        let counter = meter
            .instrument(InstrumentKind::Counter, NumberType::I64, "orders", "1", "")
            .unwrap();
        counter
            .add_i64(2, &[KeyValue::str("region", "eu")])
            .unwrap();
        counter
            .add_i64(3, &[KeyValue::str("region", "eu")])
            .unwrap();
        provider.force_flush(Some(Duration::from_secs(5))).unwrap();
        let requests = receiver.wait_for_requests(1, Duration::from_secs(5));
        assert_eq!(requests.len(), 1);
        let request = requests[0].request();
        let rm = &request.resource_metrics[0];
        let service = rm
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.clone());
        assert_eq!(service, Some(Any::StringValue("checkout".into())));
        let scope = rm.scope_metrics[0].scope.as_ref().unwrap();
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("shop", "2.0")
        );
        let metric = &rm.scope_metrics[0].metrics[0];
        assert_eq!(metric.name, "orders");
        assert_eq!(sum_value(metric), 5);
        // Nothing new, cumulative: the same total again.
        provider.force_flush(None).unwrap();
        let all = received(&receiver, 2);
        assert_eq!(sum_value(&all[1][0]), 5);
        provider.shutdown(Some(Duration::from_secs(5))).unwrap();
        assert!(
            logs.lock().unwrap().is_empty(),
            "{:?}",
            logs.lock().unwrap()
        );
    }
}

#[test]
fn delta_selection_decides_what_goes_on_the_wire() {
    let receiver = Receiver::http();
    let logs = Logs::default();
    let mut config = config_for(&receiver, &logs);
    config.set_temporality_selector(Some(Arc::new(|_| Ok(Temporality::Delta))));
    let provider =
        MeterProvider::new(&config, &settings(&[("OTEL_METRIC_EXPORT_INTERVAL", "0")])).unwrap();
    let counter = provider
        .meter("m", None)
        .unwrap()
        .instrument(InstrumentKind::Counter, NumberType::I64, "ticks", "", "")
        .unwrap();
    counter.add_i64(4, &[]).unwrap();
    provider.force_flush(None).unwrap();
    // Nothing recorded since: nothing to send.
    provider.force_flush(None).unwrap();
    counter.add_i64(1, &[]).unwrap();
    provider.force_flush(None).unwrap();
    let all = received(&receiver, 2);
    assert_eq!(all.len(), 2);
    let Some(Data::Sum(sum)) = &all[0][0].data else {
        panic!()
    };
    assert_eq!(sum.aggregation_temporality, 1);
    assert_eq!(sum_value(&all[0][0]), 4);
    assert_eq!(sum_value(&all[1][0]), 1);
}

#[test]
fn periodic_export_runs_every_interval_and_shutdown_sends_the_rest() {
    let receiver = Receiver::grpc();
    let logs = Logs::default();
    let provider = MeterProvider::new(
        &config_for(&receiver, &logs),
        &settings(&[("OTEL_METRIC_EXPORT_INTERVAL", "100")]),
    )
    .unwrap();
    let gauge = provider
        .meter("m", None)
        .unwrap()
        .instrument(InstrumentKind::Gauge, NumberType::I64, "level", "", "")
        .unwrap();
    gauge.record_i64(1, &[]).unwrap();
    let first = receiver.wait_for_requests(2, Duration::from_secs(5));
    assert!(first.len() >= 2, "{} periodic exports", first.len());
    gauge.record_i64(42, &[]).unwrap();
    provider.shutdown(Some(Duration::from_secs(5))).unwrap();
    let count = receiver.request_count();
    let last = received(&receiver, count).pop().unwrap();
    let Some(Data::Gauge(g)) = &last[0].data else {
        panic!()
    };
    assert_eq!(
        g.data_points[0].value,
        Some(number_data_point::Value::AsInt(42))
    );
    // The thread is gone: nothing more arrives.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.request_count(), count);
}

#[test]
fn shutdown_wakes_the_thread_at_once_and_acts_once() {
    let receiver = Receiver::http();
    let logs = Logs::default();
    // An hour's interval: only a wake-up (not the end of a sleep) can end the thread.
    let provider = MeterProvider::new(
        &config_for(&receiver, &logs),
        &settings(&[("OTEL_METRIC_EXPORT_INTERVAL", "3600000")]),
    )
    .unwrap();
    let counter = provider
        .meter("m", None)
        .unwrap()
        .instrument(InstrumentKind::Counter, NumberType::F64, "c", "", "")
        .unwrap();
    let bound = counter.bind(&[]).unwrap();
    bound.add_f64(0.5).unwrap();
    let started = Instant::now();
    provider.shutdown(Some(Duration::from_secs(5))).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        receiver.wait_for_requests(1, Duration::from_secs(5)).len(),
        1
    );
    let shutdown =
        |r: otlpmetric::Result<()>| assert_eq!(r.unwrap_err().kind(), ErrorKind::Shutdown);
    shutdown(provider.shutdown(None));
    shutdown(provider.force_flush(None));
    shutdown(provider.collect().map(|_| ()));
    shutdown(counter.add_f64(1.0, &[]));
    shutdown(bound.add_f64(1.0));
    assert!(provider.exporter().is_shut_down());
}

#[test]
fn failed_exports_are_reported_and_collect_works_without_a_thread() {
    let receiver = Receiver::http();
    receiver.set_default_reply(Reply::http_status(400));
    let logs = Logs::default();
    let provider = MeterProvider::new(
        &config_for(&receiver, &logs),
        &settings(&[
            ("OTEL_METRIC_EXPORT_INTERVAL", "50"),
            ("OTEL_METRIC_EXPORT_TIMEOUT", "soon"),
        ]),
    )
    .unwrap();
    assert!(logs
        .lock()
        .unwrap()
        .iter()
        .any(|(_, m)| m.contains("OTEL_METRIC_EXPORT_TIMEOUT")));
    let counter = provider
        .meter("m", None)
        .unwrap()
        .instrument(InstrumentKind::Counter, NumberType::I64, "c", "", "")
        .unwrap();
    counter.add_i64(1, &[]).unwrap();
    receiver.wait_for_requests(1, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !logs
        .lock()
        .unwrap()
        .iter()
        .any(|(_, m)| m.contains("periodic metrics export failed"))
    {
        assert!(Instant::now() < deadline, "{:?}", logs.lock().unwrap());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        provider.force_flush(None).unwrap_err().kind(),
        ErrorKind::Export
    );
    let bytes = provider.collect().unwrap();
    otlpmetric::internals::validate::resource_metrics(&bytes).unwrap();
    drop(provider);
}

#[test]
fn absurdly_long_interval_and_timeout_mean_no_limit() {
    let receiver = Receiver::http();
    let logs = Logs::default();
    let provider = MeterProvider::new(
        &config_for(&receiver, &logs),
        &settings(&[
            ("OTEL_METRIC_EXPORT_INTERVAL", "18446744073709551615"),
            ("OTEL_METRIC_EXPORT_TIMEOUT", "18446744073709551615"),
        ]),
    )
    .unwrap();
    let counter = provider
        .meter("m", None)
        .unwrap()
        .instrument(InstrumentKind::Counter, NumberType::I64, "c", "", "")
        .unwrap();
    counter.add_i64(1, &[]).unwrap();
    provider.force_flush(None).unwrap();
    provider.force_flush(Some(Duration::MAX)).unwrap();
    let started = Instant::now();
    provider.shutdown(None).unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        receiver.wait_for_requests(3, Duration::from_secs(5)).len(),
        3
    );
}

/// The metrics of one collection, by name, from the scope `scope`.
fn scope_metrics(bytes: &[u8], scope: &str) -> Vec<Metric> {
    use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
    use prost::Message;
    ResourceMetrics::decode(bytes)
        .unwrap()
        .scope_metrics
        .into_iter()
        .filter(|sm| sm.scope.as_ref().is_some_and(|s| s.name == scope))
        .flat_map(|sm| sm.metrics)
        .collect()
}

type Attributes = Vec<(String, String)>;

/// A point's attributes as sorted (key, value) text.
fn attributes(kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Attributes {
    let mut out: Attributes = kvs
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.clone()) {
                Some(Any::StringValue(s)) => s,
                Some(Any::IntValue(i)) => i.to_string(),
                other => panic!("unexpected attribute value {other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect();
    out.sort();
    out
}

/// Each series of the int sum `name`: (attributes, value).
fn sum_series(metrics: &[Metric], name: &str) -> Vec<(Attributes, i64)> {
    let metric = metrics.iter().find(|m| m.name == name).unwrap();
    let Some(Data::Sum(sum)) = &metric.data else {
        panic!("{name} is not a sum")
    };
    sum.data_points
        .iter()
        .map(|p| match p.value {
            Some(number_data_point::Value::AsInt(i)) => (attributes(&p.attributes), i),
            other => panic!("not an int: {other:?}"),
        })
        .collect()
}

/// Each series of the histogram `name`: (attributes, count).
fn histogram_series(metrics: &[Metric], name: &str) -> Vec<(Attributes, u64)> {
    let metric = metrics.iter().find(|m| m.name == name).unwrap();
    let Some(Data::Histogram(histogram)) = &metric.data else {
        panic!("{name} is not a histogram")
    };
    histogram
        .data_points
        .iter()
        .map(|p| (attributes(&p.attributes), p.count))
        .collect()
}

/// `common` with these attributes added, sorted.
fn with(common: &Attributes, more: &[(&str, &str)]) -> Attributes {
    let mut out = common.clone();
    out.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    out.sort();
    out
}

#[test]
fn exporter_metrics_count_what_the_receiver_got_accepted_rejected_and_refused() {
    const EXPORTED: &str = "otel.sdk.exporter.metric_data_point.exported";
    const INFLIGHT: &str = "otel.sdk.exporter.metric_data_point.inflight";
    const DURATION: &str = "otel.sdk.exporter.operation.duration";
    for receiver in [Receiver::grpc(), Receiver::http()] {
        let logs = Logs::default();
        let provider = MeterProvider::new(
            &config_for(&receiver, &logs),
            &settings(&[
                ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
                ("OTLPMETRIC_EXPORTER_METRICS", "TRUE"),
            ]),
        )
        .unwrap();
        let counter = provider
            .meter("app", None)
            .unwrap()
            .instrument(InstrumentKind::Counter, NumberType::I64, "c", "", "")
            .unwrap();
        counter.add_i64(1, &[]).unwrap();
        let grpc = receiver.protocol() == support::Protocol::Grpc;
        let component_type = if grpc {
            "otlp_grpc_metric_exporter"
        } else {
            "otlp_http_metric_exporter"
        };
        let (status_key, ok_status, refusal) = if grpc {
            ("rpc.grpc.status_code", "0", Reply::grpc_status(14, "down"))
        } else {
            ("http.response.status_code", "200", Reply::http_status(503))
        };
        let refused = if grpc { "UNAVAILABLE" } else { "503" };

        // Accepted, refused, accepted with two points rejected.
        provider.force_flush(Some(Duration::from_secs(5))).unwrap();
        receiver.push_reply(refusal);
        assert_eq!(
            provider
                .force_flush(Some(Duration::from_secs(5)))
                .unwrap_err()
                .kind(),
            ErrorKind::Export
        );
        receiver.push_reply(Reply::PartialSuccess {
            rejected: 2,
            message: "two bad points".into(),
        });
        provider.force_flush(Some(Duration::from_secs(5))).unwrap();
        let requests = receiver.wait_for_requests(3, Duration::from_secs(5));
        let sent: Vec<i64> = requests
            .iter()
            .map(|r| support::data_point_count(&r.request()) as i64)
            .collect();
        assert_eq!(sent[0], 1, "the first export has only the counter's point");

        let metrics = scope_metrics(&provider.collect().unwrap(), "otlpmetric");
        let name = sum_series(&metrics, EXPORTED)[0]
            .0
            .iter()
            .find(|(k, _)| k == "otel.component.name")
            .unwrap()
            .1
            .clone();
        assert!(
            name.starts_with(&format!("{component_type}/")),
            "otel.component.name {name}"
        );
        let common = with(
            &Vec::new(),
            &[
                ("otel.component.type", component_type),
                ("otel.component.name", &name),
                ("server.address", "127.0.0.1"),
                ("server.port", &receiver.port().to_string()),
            ],
        );
        let mut exported = sum_series(&metrics, EXPORTED);
        exported.sort();
        let mut expected = vec![
            (common.clone(), sent[0] + sent[2] - 2),
            (with(&common, &[("error.type", refused)]), sent[1]),
            (with(&common, &[("error.type", "rejected")]), 2),
        ];
        expected.sort();
        assert_eq!(exported, expected);
        assert_eq!(sum_series(&metrics, INFLIGHT), vec![(common.clone(), 0)]);
        let mut durations = histogram_series(&metrics, DURATION);
        durations.sort();
        let refused_status = if grpc { "14" } else { "503" };
        let mut expected = vec![
            (with(&common, &[(status_key, ok_status)]), 2),
            (
                with(
                    &common,
                    &[(status_key, refused_status), ("error.type", refused)],
                ),
                1,
            ),
        ];
        expected.sort();
        assert_eq!(durations, expected);
        // Seconds: the advised boundaries, not the default ones made for milliseconds.
        let duration = metrics.iter().find(|m| m.name == DURATION).unwrap();
        assert_eq!(duration.unit, "s");
        let Some(Data::Histogram(h)) = &duration.data else {
            unreachable!()
        };
        assert_eq!(h.data_points[0].explicit_bounds[0], 0.005);
        provider.shutdown(Some(Duration::from_secs(5))).unwrap();
    }
}

#[test]
fn exporter_metrics_show_points_in_flight_and_are_off_by_default() {
    let receiver = Receiver::http();
    let logs = Logs::default();
    let mut metrics_settings = settings(&[("OTEL_METRIC_EXPORT_INTERVAL", "0")]);
    let quiet = MeterProvider::new(&config_for(&receiver, &logs), &metrics_settings).unwrap();
    quiet
        .meter("app", None)
        .unwrap()
        .instrument(InstrumentKind::Counter, NumberType::I64, "c", "", "")
        .unwrap()
        .add_i64(1, &[])
        .unwrap();
    quiet.force_flush(None).unwrap();
    assert!(scope_metrics(&quiet.collect().unwrap(), "otlpmetric").is_empty());
    drop(quiet);

    metrics_settings.set_exporter_metrics(true);
    let provider =
        Arc::new(MeterProvider::new(&config_for(&receiver, &logs), &metrics_settings).unwrap());
    let counter = provider
        .meter("app", None)
        .unwrap()
        .instrument(InstrumentKind::Counter, NumberType::I64, "c", "", "")
        .unwrap();
    for i in 0..3 {
        counter.add_i64(1, &[KeyValue::i64("i", i)]).unwrap();
    }
    receiver.clear_requests();
    receiver.push_reply(Reply::delayed(Duration::from_millis(800), Reply::Ok));
    let flushing = {
        let provider = provider.clone();
        std::thread::spawn(move || provider.force_flush(Some(Duration::from_secs(5))))
    };
    receiver.wait_for_requests(1, Duration::from_secs(5));
    let during = scope_metrics(&provider.collect().unwrap(), "otlpmetric");
    let inflight = sum_series(&during, "otel.sdk.exporter.metric_data_point.inflight");
    assert_eq!(inflight.len(), 1);
    assert_eq!(inflight[0].1, 3, "the three points being delivered");
    flushing.join().unwrap().unwrap();
    let after = scope_metrics(&provider.collect().unwrap(), "otlpmetric");
    assert_eq!(
        sum_series(&after, "otel.sdk.exporter.metric_data_point.inflight")[0].1,
        0
    );
}

#[test]
fn with_a_queue_exports_are_enqueued_and_delivered_past_a_flush_timeout() {
    let receiver = Receiver::grpc();
    receiver.set_default_reply(Reply::delayed(Duration::from_millis(600), Reply::Ok));
    let logs = Logs::default();
    let mut queued = config_for(&receiver, &logs);
    queued.set_queue(1 << 20).unwrap();
    for (config, through_queue) in [(config_for(&receiver, &logs), false), (queued, true)] {
        receiver.clear_requests();
        let provider =
            MeterProvider::new(&config, &settings(&[("OTEL_METRIC_EXPORT_INTERVAL", "0")]))
                .unwrap();
        provider
            .meter("app", None)
            .unwrap()
            .instrument(InstrumentKind::Counter, NumberType::I64, "c", "", "")
            .unwrap()
            .add_i64(1, &[])
            .unwrap();
        // The flush gives up before the receiver answers...
        assert_eq!(
            provider
                .force_flush(Some(Duration::from_millis(200)))
                .unwrap_err()
                .kind(),
            ErrorKind::Timeout
        );
        receiver.wait_for_requests(1, Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(900));
        let stats = provider.exporter().stats();
        // ...but what was enqueued is still delivered; an upload is given up with it.
        if through_queue {
            assert_eq!((stats.requests_sent, stats.requests_failed), (1, 0));
        } else {
            assert_eq!((stats.requests_sent, stats.requests_failed), (0, 1));
        }
        provider.shutdown(Some(Duration::from_secs(5))).unwrap();
    }
}

#[test]
fn with_a_spool_exports_are_written_to_it() {
    let directory = std::env::temp_dir().join(format!(
        "otlpmetric-metrics-spool-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let logs = Logs::default();
    let mut config = Config::from_lookup(&|_| None);
    config.set_endpoint(&support::dead_endpoint()).unwrap();
    config
        .set_spool(Some(directory.to_str().unwrap()), 1 << 20)
        .unwrap();
    let sink = logs.clone();
    config.set_log_callback(Some(Arc::new(move |level, message: &str| {
        sink.lock().unwrap().push((level, message.to_string()))
    })));
    let provider =
        MeterProvider::new(&config, &settings(&[("OTEL_METRIC_EXPORT_INTERVAL", "0")])).unwrap();
    provider
        .meter("app", None)
        .unwrap()
        .instrument(InstrumentKind::Counter, NumberType::I64, "c", "", "")
        .unwrap()
        .add_i64(1, &[])
        .unwrap();
    let _ = provider.force_flush(Some(Duration::from_millis(100)));
    let spool = provider.exporter().spool_stats().unwrap();
    assert_eq!((spool.spooled, spool.delivered), (1, 0));
    assert!(spool.pending_bytes > 0);
    let _ = provider.shutdown(Some(Duration::from_millis(100)));
    drop(provider);
    std::fs::remove_dir_all(&directory).unwrap();
}
