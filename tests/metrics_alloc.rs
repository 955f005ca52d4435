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
