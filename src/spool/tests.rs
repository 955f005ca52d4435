use super::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "otlpmetric-spool-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn options(dir: &Path, max_bytes: u64) -> SpoolOptions {
    SpoolOptions {
        directory: dir.to_path_buf(),
        max_bytes,
        durability: Durability::Never,
        full_policy: FullPolicy::DropOldest,
    }
}

fn payload(i: usize) -> Vec<u8> {
    format!("record {i:04} {}", "x".repeat(i % 40)).into_bytes()
}

/// Reads and acknowledges everything left.
fn drain(spool: &Spool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(record) = spool.next().unwrap() {
        spool.acknowledge(&record).unwrap();
        out.push(record.payload);
    }
    out
}

#[test]
fn records_come_back_in_order_across_segments_and_reopen() {
    let dir = scratch("order");
    let spool = Spool::open(options(&dir, 64 * 1024)).unwrap();
    for i in 0..300 {
        spool.append(&payload(i)).unwrap();
    }
    let first: Vec<_> = (0..100).map(|_| spool.next().unwrap().unwrap()).collect();
    // `next` without an acknowledgement returns the same record again.
    assert_eq!(first[0].payload, first[99].payload);
    for _ in 0..100 {
        let record = spool.next().unwrap().unwrap();
        spool.acknowledge(&record).unwrap();
    }
    drop(spool);
    let spool = Spool::open(options(&dir, 64 * 1024)).unwrap();
    let rest = drain(&spool);
    assert_eq!(rest, (100..300).map(payload).collect::<Vec<_>>());
    assert_eq!(spool.counters().pending_bytes.load(Relaxed), 0);
    let segments = fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count();
    assert_eq!(segments, 0, "read segments are deleted");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_spool_on_a_locked_directory_is_refused_until_the_first_is_gone() {
    let dir = scratch("lock");
    let first = Spool::open(options(&dir, 64 * 1024)).unwrap();
    let err = Spool::open(options(&dir, 64 * 1024)).err().unwrap();
    assert!(err.contains("in use"), "{err}");
    drop(first);
    Spool::open(options(&dir, 64 * 1024)).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn full_spool_drops_the_oldest_or_refuses_new_and_counts_it() {
    let dir = scratch("full");
    let spool = Spool::open(options(&dir, 8192)).unwrap();
    for i in 0..2000 {
        spool.append(&payload(i)).unwrap();
    }
    let kept = drain(&spool);
    let dropped = spool.counters().dropped.load(Relaxed);
    assert_eq!(kept.len() as u64 + dropped, 2000);
    assert_eq!(kept.last().unwrap(), &payload(1999), "the newest is kept");
    assert!(dropped > 0);
    drop(spool);
    fs::remove_dir_all(&dir).unwrap();

    let mut refuse = options(&dir, 8192);
    refuse.full_policy = FullPolicy::RefuseNew;
    let spool = Spool::open(refuse).unwrap();
    let mut accepted = 0;
    for i in 0..2000 {
        match spool.append(&payload(i)) {
            Ok(_) => accepted += 1,
            Err(AppendError::Full(_)) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    let kept = drain(&spool);
    assert_eq!(
        kept,
        (0..accepted).map(payload).collect::<Vec<_>>(),
        "the oldest are kept"
    );
    assert_eq!(
        spool.counters().dropped.load(Relaxed),
        2000 - accepted as u64
    );
    assert!(matches!(
        spool.append(&vec![0; 9000]),
        Err(AppendError::Full(_))
    ));
    drop(spool);
    fs::remove_dir_all(&dir).unwrap();
}

/// Writes `n` records into one segment and returns its path and bytes.
fn one_segment(dir: &Path, n: usize) -> (PathBuf, Vec<u8>) {
    let spool = Spool::open(options(dir, 1 << 20)).unwrap();
    for i in 0..n {
        spool.append(&payload(i)).unwrap();
    }
    drop(spool);
    let path = segment_path(dir, 1);
    let bytes = fs::read(&path).unwrap();
    (path, bytes)
}

#[test]
fn bit_flips_at_every_position_skip_only_the_damaged_record() {
    let dir = scratch("flip");
    let n = 6;
    let (path, pristine) = one_segment(&dir, n);
    for position in 0..pristine.len() {
        for bit in [0x01u8, 0x80] {
            let mut damaged = pristine.clone();
            damaged[position] ^= bit;
            fs::write(&path, &damaged).unwrap();
            let _ = fs::remove_file(dir.join(ACK_FILE));
            let spool = Spool::open(options(&dir, 1 << 20)).unwrap();
            let got = drain(&spool);
            let skipped = spool.counters().skipped.load(Relaxed);
            assert_eq!(skipped, 1, "flip at {position}");
            assert_eq!(got.len(), n - 1, "flip at {position}");
            for record in &got {
                assert!((0..n).any(|i| payload(i) == *record), "flip at {position}");
            }
            drop(spool);
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncation_at_every_length_keeps_every_whole_record() {
    let dir = scratch("truncate");
    let n = 6;
    let (path, pristine) = one_segment(&dir, n);
    let ends: Vec<usize> = (0..n)
        .scan(0, |at, i| {
            *at += HEADER_LEN + payload(i).len();
            Some(*at)
        })
        .collect();
    for len in 0..=pristine.len() {
        fs::write(&path, &pristine[..len]).unwrap();
        let _ = fs::remove_file(dir.join(ACK_FILE));
        let spool = Spool::open(options(&dir, 1 << 20)).unwrap();
        let got = drain(&spool);
        let whole = ends.iter().filter(|end| **end <= len).count();
        assert_eq!(
            got,
            (0..whole).map(payload).collect::<Vec<_>>(),
            "cut at {len}"
        );
        let torn = u64::from(!ends.contains(&len) && len != 0);
        assert_eq!(spool.counters().skipped.load(Relaxed), torn, "cut at {len}");
        drop(spool);
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_damaged_ack_file_means_everything_is_read_again() {
    let dir = scratch("ack");
    let spool = Spool::open(options(&dir, 1 << 20)).unwrap();
    for i in 0..3 {
        spool.append(&payload(i)).unwrap();
    }
    let record = spool.next().unwrap().unwrap();
    spool.acknowledge(&record).unwrap();
    drop(spool);
    fs::write(dir.join(ACK_FILE), b"garbage").unwrap();
    let spool = Spool::open(options(&dir, 1 << 20)).unwrap();
    assert_eq!(drain(&spool).len(), 3);
    drop(spool);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unwritable_directory_is_an_error_not_a_panic() {
    let err = Spool::open(options(Path::new("/proc/otlpmetric-spool"), 1 << 20))
        .err()
        .unwrap();
    assert!(err.contains("/proc/otlpmetric-spool"), "{err}");
}
