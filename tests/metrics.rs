//! The meter provider against real receivers on 127.0.0.1: on-demand and periodic export,
//! shutdown, and the selectors deciding the aggregation on the wire.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use otlpmetric::internals::metrics::{KeyValue, MeterProvider, MetricsSettings, NumberType};
use otlpmetric::{Config, ErrorKind, InstrumentKind, LogLevel, Protocol, RetryPolicy, Temporality};
use support::{Receiver, Reply};

type Logs = Arc<Mutex<Vec<(LogLevel, String)>>>;

fn config_for(receiver: &Receiver, logs: &Logs) -> Config {
    let mut config = Config::from_lookup(&|_| None);
    config.set_endpoint(&receiver.endpoint()).unwrap();
    config.set_protocol(match receiver.protocol() {
        support::Protocol::Grpc => Protocol::Grpc,
        support::Protocol::Http => Protocol::HttpProtobuf,
    });
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
