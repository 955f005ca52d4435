//! Recording on an attribute set seen before, and on a bound instrument, allocates nothing.
//! Its own test binary: the counting allocator is process-wide.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use otlpmetric::internals::metrics::{
    AttributeSet, HistogramPreference, KeyValue, NumberType, Pipeline, Selections,
    TemporalityPreference,
};
use otlpmetric::{InstrumentKind, Logger};

/// Counts the allocations of the thread that asked for counting, so that the test
/// harness's own threads do not disturb the count.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: thread-locals may be gone while a thread exits.
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(|n| n.get())
}

#[test]
fn the_counter_counts() {
    // Guards the test below against a counter that cannot see anything.
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 16]))) >= 1);
}

#[test]
fn recording_on_seen_sets_and_bound_instruments_allocates_nothing() {
    for selections in [Selections::default(), delta()] {
        let pipeline = Pipeline::new(&AttributeSet::empty(), selections, 2000, Logger::default());
        let meter = pipeline.meter("alloc", None).unwrap();
        let counter = meter
            .instrument(InstrumentKind::Counter, NumberType::I64, "c", "", "")
            .unwrap();
        let histogram = meter
            .instrument(InstrumentKind::Histogram, NumberType::F64, "h", "", "")
            .unwrap();
        let gauge = meter
            .instrument(InstrumentKind::Gauge, NumberType::F64, "g", "", "")
            .unwrap();
        let keys: Vec<String> = (0..16).map(|i| format!("key.{i}")).collect();
        let values: Vec<String> = (0..16).map(|i| format!("value-{i}")).collect();
        let sixteen: Vec<KeyValue<'_>> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| KeyValue::str(k, v))
            .collect();
        let three = [
            KeyValue::str("route", "/api/items"),
            KeyValue::i64("status", 200),
            KeyValue::bool("ok", true),
        ];
        let reversed: Vec<KeyValue<'_>> = three.iter().rev().copied().collect();
        let bound = counter.bind(&three).unwrap();
        let record_all = || {
            for i in 0..100 {
                counter.add_i64(1, &[]).unwrap();
                counter.add_i64(i, &three).unwrap();
                counter.add_i64(i, &reversed).unwrap();
                counter.add_i64(i, &sixteen).unwrap();
                histogram.record_f64(i as f64, &three).unwrap();
                gauge.record_f64(i as f64, &sixteen).unwrap();
                bound.add_i64(1).unwrap();
            }
        };
        // First sight of each set allocates its series.
        record_all();
        assert_eq!(allocations(record_all), 0);
        // After a collection (delta: series reset, not forgotten, as they had data).
        pipeline.collect();
        assert_eq!(allocations(record_all), 0);
        // A set idle for a whole interval is forgotten under delta; the sets that were
        // recorded in that interval are not.
        counter
            .add_i64(1, &[KeyValue::str("idle", "soon")])
            .unwrap();
        pipeline.collect();
        record_all();
        pipeline.collect();
        assert_eq!(allocations(record_all), 0);
        assert_eq!(allocations(|| bound.add_i64(1).unwrap()), 0);
    }
}

/// Delta for counters and histograms, as the `delta` preference says.
fn delta() -> Selections {
    Selections::resolve(
        TemporalityPreference::Delta,
        HistogramPreference::ExplicitBucket,
        None,
        None,
    )
    .unwrap()
}

/// The same through the C ABI: converting C attributes costs no allocation either for up
/// to 16 attributes (they are converted on the stack).
#[test]
fn recording_through_the_c_abi_allocates_nothing_for_seen_sets() {
    use otlpmetric::ffi::*;
    use std::ffi::CString;
    use std::ptr::{null, null_mut};

    unsafe {
        let config = otlpmetric_config_new();
        assert_eq!(
            otlpmetric_config_set_export_interval_ms(config, 0),
            otlpmetric_status::OTLPMETRIC_OK
        );
        let mut provider = null_mut();
        assert_eq!(
            otlpmetric_meter_provider_new(config, &mut provider),
            otlpmetric_status::OTLPMETRIC_OK
        );
        otlpmetric_config_free(config);
        let mut meter = null_mut();
        assert_eq!(
            otlpmetric_meter_provider_meter(provider, c"alloc".as_ptr(), null(), &mut meter),
            otlpmetric_status::OTLPMETRIC_OK
        );
        let mut counter = null_mut();
        let mut histogram = null_mut();
        for (kind, number, name, out) in [(1, 1, c"c", &mut counter), (3, 2, c"h", &mut histogram)]
        {
            assert_eq!(
                otlpmetric_meter_instrument(
                    meter,
                    kind,
                    number,
                    name.as_ptr(),
                    null(),
                    null(),
                    out
                ),
                otlpmetric_status::OTLPMETRIC_OK
            );
        }
        let text: Vec<(CString, CString)> = (0..16)
            .map(|i| {
                (
                    CString::new(format!("key.{i}")).unwrap(),
                    CString::new(format!("value-{i}")).unwrap(),
                )
            })
            .collect();
        let attribute =
            |key: &CString, r#type, string_value: *const std::ffi::c_char, int_value| {
                otlpmetric_attribute {
                    key: key.as_ptr(),
                    r#type,
                    string_value,
                    int_value,
                    double_value: 0.5,
                }
            };
        let sixteen: Vec<otlpmetric_attribute> = text
            .iter()
            .map(|(k, v)| attribute(k, 1, v.as_ptr(), 0))
            .collect();
        let three = [
            attribute(&text[0].0, 1, text[0].1.as_ptr(), 0),
            attribute(&text[1].0, 2, null(), 1),
            attribute(&text[2].0, 3, null(), 200),
        ];
        let mut bound = null_mut();
        assert_eq!(
            otlpmetric_instrument_bind(counter, three.as_ptr(), 3, &mut bound),
            otlpmetric_status::OTLPMETRIC_OK
        );
        let record_all = || {
            for i in 0..100 {
                let ok = otlpmetric_status::OTLPMETRIC_OK;
                assert_eq!(otlpmetric_instrument_add_i64(counter, 1, null(), 0), ok);
                assert_eq!(
                    otlpmetric_instrument_add_i64(counter, i, three.as_ptr(), 3),
                    ok
                );
                assert_eq!(
                    otlpmetric_instrument_add_i64(counter, i, sixteen.as_ptr(), 16),
                    ok
                );
                assert_eq!(
                    otlpmetric_instrument_record_f64(histogram, i as f64, three.as_ptr(), 3),
                    ok
                );
                assert_eq!(otlpmetric_bound_add_i64(bound, 1), ok);
            }
        };
        record_all();
        assert_eq!(allocations(record_all), 0);
        let mut buffer = otlpmetric_buffer {
            data: null_mut(),
            len: 0,
        };
        assert_eq!(
            otlpmetric_meter_provider_collect(provider, &mut buffer),
            otlpmetric_status::OTLPMETRIC_OK
        );
        assert!(buffer.len > 0);
        otlpmetric_buffer_free(&mut buffer);
        assert!(buffer.data.is_null());
        assert_eq!(allocations(record_all), 0);
        otlpmetric_bound_free(bound);
        // Nothing listens at the default endpoint: the last export is not waited for.
        otlpmetric_meter_provider_shutdown(provider, 1);
        otlpmetric_meter_provider_free(provider);
    }
}
