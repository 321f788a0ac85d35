use super::*;

const K: &str = "/k";

fn op(client: u32, invoke_ns: u64, complete_ns: Option<u64>, action: Action) -> Op {
    Op {
        client,
        invoke_ns,
        complete_ns,
        action,
    }
}

fn write(client: u32, t: (u64, u64), expected: Option<i32>, token: u64, version: i32) -> Op {
    op(
        client,
        t.0,
        Some(t.1),
        Action::Write {
            key: K.into(),
            expected_version: expected,
            token,
            outcome: WriteOutcome::Applied { version },
        },
    )
}

fn unanswered_write(client: u32, sent: u64, expected: Option<i32>, token: u64) -> Op {
    op(
        client,
        sent,
        None,
        Action::Write {
            key: K.into(),
            expected_version: expected,
            token,
            outcome: WriteOutcome::Unknown,
        },
    )
}

fn read(client: u32, t: (u64, u64), synced: bool, version: i32, token: Option<u64>) -> Op {
    op(
        client,
        t.0,
        Some(t.1),
        Action::Read {
            key: K.into(),
            synced_from_ns: synced.then_some(t.0),
            observed: Some(Observed { version, token }),
        },
    )
}

fn create(client: u32, t: (u64, u64), sequence: Option<i64>) -> Op {
    op(
        client,
        t.0,
        sequence.map(|_| t.1),
        Action::Create {
            parent: "/seq".into(),
            outcome: sequence.map_or(CreateOutcome::Unknown, |sequence| CreateOutcome::Created {
                sequence,
            }),
        },
    )
}

fn history(ops: Vec<Op>) -> History {
    History {
        ops,
        initial_versions: [(K.to_string(), 0)].into_iter().collect(),
        final_sequences: BTreeMap::new(),
    }
}

fn kinds(h: &History) -> Vec<ViolationKind> {
    let mut k: Vec<ViolationKind> = check(h).violations.iter().map(|v| v.kind).collect();
    k.sort();
    k.dedup();
    k
}

#[test]
fn a_concurrent_history_that_zookeeper_could_produce_passes() {
    let mut h = history(vec![
        write(1, (10, 50), Some(0), 101, 1),
        // Overlaps the first write and saw the state before it: fine, it may go first.
        read(2, (20, 40), true, 0, None),
        write(2, (60, 90), None, 201, 2),
        // A plain read may lag behind other sessions' writes, not behind its own session.
        read(3, (100, 110), false, 1, Some(101)),
        read(2, (100, 120), true, 2, Some(201)),
        create(1, (10, 20), Some(0)),
        create(2, (30, 40), Some(1)),
        create(3, (35, 80), None),
    ]);
    h.final_sequences.insert("/seq".into(), vec![0, 1, 2]);
    let r = check(&h);
    assert!(r.passed(), "{:?}", r.violations);
    assert_eq!((r.keys, r.parents, r.ops), (1, 1, 8));
}

#[test]
fn stale_read_after_sync_is_rejected() {
    let h = history(vec![
        write(1, (10, 20), None, 101, 1),
        read(2, (30, 40), true, 0, None),
    ]);
    assert_eq!(kinds(&h), vec![ViolationKind::StaleRead]);
    // Without the sync the same read is allowed: ZooKeeper reads may lag.
    let h = history(vec![
        write(1, (10, 20), None, 101, 1),
        read(2, (30, 40), false, 0, None),
    ]);
    assert!(check(&h).passed());
}

#[test]
fn a_read_seeing_a_newer_version_fixes_the_order_for_later_synced_reads() {
    // The second write has no reply yet, but a read saw it: a later synced read must too.
    let h = history(vec![
        write(1, (10, 20), None, 101, 1),
        write(1, (30, 500), None, 102, 2),
        read(2, (40, 50), true, 2, Some(102)),
        read(3, (60, 70), true, 1, Some(101)),
    ]);
    assert_eq!(kinds(&h), vec![ViolationKind::StaleRead]);
}

#[test]
fn lost_write_is_rejected() {
    // Acknowledged at version 1, then a later read sees version 1 holding another value.
    let h = history(vec![
        write(1, (10, 20), None, 101, 1),
        read(2, (30, 40), true, 1, Some(999)),
    ]);
    assert_eq!(kinds(&h), vec![ViolationKind::UnknownValue]);
    let h = history(vec![
        write(1, (10, 20), None, 101, 1),
        unanswered_write(2, 15, None, 201),
        read(2, (30, 40), true, 1, Some(201)),
    ]);
    assert!(
        kinds(&h).contains(&ViolationKind::DuplicateVersion),
        "{:?}",
        kinds(&h)
    );
}

#[test]
fn two_writes_with_the_same_version_are_rejected() {
    let h = history(vec![
        write(1, (10, 20), Some(0), 101, 1),
        write(2, (12, 22), Some(0), 201, 1),
    ]);
    assert_eq!(kinds(&h), vec![ViolationKind::DuplicateVersion]);
}

#[test]
fn duplicate_sequence_number_is_rejected() {
    let h = history(vec![
        create(1, (10, 20), Some(4)),
        create(2, (11, 21), Some(4)),
    ]);
    assert_eq!(kinds(&h), vec![ViolationKind::DuplicateSequence]);
}

#[test]
fn lost_and_phantom_creates_are_rejected() {
    let mut h = history(vec![
        create(1, (10, 20), Some(0)),
        create(2, (11, 21), Some(1)),
    ]);
    h.final_sequences.insert("/seq".into(), vec![0]);
    assert_eq!(kinds(&h), vec![ViolationKind::LostCreate]);
    h.final_sequences.insert("/seq".into(), vec![0, 1, 2]);
    assert_eq!(kinds(&h), vec![ViolationKind::PhantomCreate]);
    h.ops.push(create(3, (12, 0), None));
    assert!(check(&h).passed());
}

#[test]
fn sequence_numbers_must_follow_real_time() {
    let h = history(vec![
        create(1, (10, 20), Some(5)),
        create(2, (30, 40), Some(3)),
    ]);
    assert_eq!(kinds(&h), vec![ViolationKind::SequenceOrder]);
}

#[test]
fn writes_must_follow_real_time() {
    let h = history(vec![
        write(1, (10, 20), None, 101, 2),
        write(2, (30, 40), None, 201, 1),
    ]);
    assert_eq!(kinds(&h), vec![ViolationKind::WriteOrder]);
}

#[test]
fn reads_cannot_see_the_future_or_go_back_in_a_session() {
    let h = history(vec![
        read(2, (1, 5), false, 1, Some(101)),
        write(1, (10, 20), None, 101, 1),
    ]);
    assert_eq!(kinds(&h), vec![ViolationKind::FutureRead]);
    let h = history(vec![
        write(1, (10, 20), None, 101, 1),
        read(1, (30, 40), false, 0, None),
    ]);
    assert_eq!(kinds(&h), vec![ViolationKind::SessionOrder]);
}

#[test]
fn conditional_writes_are_checked_both_ways() {
    let h = history(vec![write(1, (10, 20), Some(3), 101, 1)]);
    assert_eq!(kinds(&h), vec![ViolationKind::WrongConditionalVersion]);
    // The key had version 0 throughout, so BADVERSION for version 0 is wrong ...
    let refused = |t: (u64, u64)| {
        op(
            2,
            t.0,
            Some(t.1),
            Action::Write {
                key: K.into(),
                expected_version: Some(0),
                token: 201,
                outcome: WriteOutcome::BadVersion,
            },
        )
    };
    assert_eq!(
        kinds(&history(vec![refused((10, 20))])),
        vec![ViolationKind::WrongBadVersion]
    );
    // ... but not when a write that made version 1 overlapped it.
    let h = history(vec![write(1, (15, 30), None, 101, 1), refused((10, 20))]);
    assert!(check(&h).passed());
}

#[test]
fn unanswered_writes_explain_gaps_and_reads_place_them() {
    let h = history(vec![
        unanswered_write(1, 5, None, 101),
        write(2, (10, 20), None, 201, 2),
        read(3, (30, 40), true, 2, Some(201)),
    ]);
    let r = check(&h);
    assert!(r.passed(), "{:?}", r.violations);
    assert_eq!(r.keys_searched, 1);
    let h = history(vec![
        write(2, (10, 20), None, 201, 2),
        read(3, (30, 40), true, 2, Some(201)),
    ]);
    assert_eq!(kinds(&h), vec![ViolationKind::VersionGap]);
    // Seen by a read: placed at the version read, no search needed.
    let h = history(vec![
        unanswered_write(1, 5, None, 101),
        read(3, (30, 40), true, 1, Some(101)),
    ]);
    let r = check(&h);
    assert!(r.passed(), "{:?}", r.violations);
    assert_eq!(r.keys_searched, 0);
}

#[test]
fn a_gap_needs_an_unanswered_write_sent_before_the_next_version() {
    // One unanswered write could fill the gap at version 1 by number, but it was sent after
    // version 2 was acknowledged, so it cannot have come before it.
    let late = history(vec![
        write(2, (10, 20), None, 201, 2),
        unanswered_write(1, 100, None, 101),
    ]);
    assert_eq!(
        kinds(&late),
        vec![ViolationKind::NotLinearizable, ViolationKind::VersionGap]
    );
    // A conditional one only fills the version after the one it named.
    let elsewhere = history(vec![
        write(2, (10, 20), None, 201, 2),
        write(2, (30, 40), None, 202, 4),
        unanswered_write(1, 5, Some(0), 101),
        unanswered_write(1, 6, Some(0), 102),
    ]);
    assert!(kinds(&elsewhere).contains(&ViolationKind::VersionGap));
    let fitting = history(vec![
        write(2, (10, 20), None, 201, 2),
        write(2, (30, 40), None, 202, 4),
        unanswered_write(1, 5, Some(0), 101),
        unanswered_write(1, 25, Some(2), 102),
    ]);
    assert!(check(&fitting).passed(), "{:?}", check(&fitting).violations);
}

#[test]
fn the_search_rejects_what_the_fast_check_cannot_see() {
    // The BADVERSION reply needs the unanswered write to have happened by 20 ns, and the
    // synced read at 30 ns then needs it not to have happened: no order fits, but each
    // rule alone is satisfied.
    let refused = op(
        2,
        10,
        Some(20),
        Action::Write {
            key: K.into(),
            expected_version: Some(0),
            token: 201,
            outcome: WriteOutcome::BadVersion,
        },
    );
    let h = history(vec![
        unanswered_write(1, 5, Some(0), 101),
        refused,
        read(3, (30, 40), true, 0, None),
    ]);
    let r = check(&h);
    assert_eq!(kinds(&h), vec![ViolationKind::NotLinearizable]);
    assert_eq!(r.keys_searched, 1);
}

#[test]
fn a_key_without_initial_version_is_reported() {
    let mut h = history(vec![read(1, (1, 2), false, 0, None)]);
    h.initial_versions.clear();
    assert_eq!(kinds(&h), vec![ViolationKind::NoInitialVersion]);
}

/// A small seeded generator (no unseeded randomness in tests).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// A history made by running writes and synced reads one after another at points 100 ns
/// apart, each request's interval stretched around its point by up to 150 ns either way.
fn generated(rng: &mut Lcg, n: usize) -> History {
    let mut ops = Vec::new();
    let (mut version, mut token) = (0, None);
    for i in 0..n {
        let point = 1_000 + 100 * i as u64;
        let t = (point - rng.below(150), point + rng.below(150));
        // One session per request: overlapping requests of one session would break the
        // session's own order, which real sessions keep.
        let client = i as u32;
        if rng.below(2) == 0 {
            let expected = (rng.below(2) == 0).then_some(version);
            version += 1;
            token = Some(i as u64 + 1);
            ops.push(write(client, t, expected, i as u64 + 1, version));
        } else {
            ops.push(read(client, t, true, version, token));
        }
    }
    history(ops)
}

#[test]
fn the_fast_check_agrees_with_the_search_on_small_histories() {
    let mut rng = Lcg(42);
    let mut rejected = 0;
    for _ in 0..400 {
        let mut h = generated(&mut rng, 10);
        assert!(check(&h).passed(), "{h:?}");
        let refs: Vec<&Op> = h.ops.iter().collect();
        assert!(brute::linearizable(0, &refs), "{h:?}");
        // Point one read at another version's value: the verdicts must still agree.
        let written: Vec<(i32, u64)> = h
            .ops
            .iter()
            .filter_map(|o| match o.action {
                Action::Write {
                    token,
                    outcome: WriteOutcome::Applied { version },
                    ..
                } => Some((version, token)),
                _ => None,
            })
            .collect();
        let Some(i) = h
            .ops
            .iter()
            .position(|o| matches!(o.action, Action::Read { .. }))
        else {
            continue;
        };
        if written.is_empty() {
            continue;
        }
        let (v, t) = written[rng.below(written.len() as u64) as usize];
        if let Action::Read { observed, .. } = &mut h.ops[i].action {
            *observed = Some(Observed {
                version: v,
                token: Some(t),
            });
        }
        let refs: Vec<&Op> = h.ops.iter().collect();
        let fast = check(&h).passed();
        assert_eq!(fast, brute::linearizable(0, &refs), "{h:?}");
        rejected += usize::from(!fast);
    }
    // The mutation must produce rejections, or this test checks nothing.
    assert!(
        rejected > 50,
        "only {rejected} mutated histories were rejected"
    );
}

#[test]
fn a_large_history_is_checked_without_quadratic_work() {
    // 60k writes and 60k BADVERSION replies on one key: a scan of the later versions per
    // reply is about 2 billion steps; the suffix minimum and binary search are 60k each.
    let mut ops = Vec::new();
    for i in 0..60_000u64 {
        let t = 1_000 + 10 * i;
        ops.push(write(1, (t, t + 5), None, i + 1, i as i32 + 1));
        ops.push(op(
            2,
            t + 6,
            Some(t + 8),
            Action::Write {
                key: K.into(),
                expected_version: Some(i as i32),
                token: 1_000_000 + i,
                outcome: WriteOutcome::BadVersion,
            },
        ));
        ops.push(read(3, (t + 6, t + 9), true, i as i32 + 1, Some(i + 1)));
    }
    let started = std::time::Instant::now();
    let r = check(&history(ops));
    assert!(r.passed(), "{:?}", r.violations.first());
    assert_eq!(r.ops, 180_000);
    // Generous for a loaded debug build; quadratic work would need far longer.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}
