//! Hand-built session scenarios with explicit times (no wall clock), each checking one rule
//! of SessionTrackerImpl / ExpiryQueue / ZooKeeperServer as ringkeeper adopts it.

use super::*;

const SECRET: &[u8] = b"ensemble secret for tests";

fn tracker(server_id: ServerId, now_ms: i64) -> SessionTracker {
    tracker_with(
        server_id,
        now_ms,
        SessionSettings {
            tick_time_ms: 2000,
            sessions_max: 100,
        },
    )
}

fn tracker_with(server_id: ServerId, now_ms: i64, settings: SessionSettings) -> SessionTracker {
    SessionTracker::new(server_id, now_ms, SECRET, settings).expect("valid settings")
}

fn checked(t: &SessionTracker) {
    if let Err(e) = t.check_invariants() {
        panic!("invariant broken: {e}");
    }
}

#[test]
fn initial_id_puts_server_id_on_top_and_time_below() {
    // SessionTrackerImpl.initializeNextSessionId: ((now << 24) >>> 8) | (sid << 56).
    let now = 0x0123_4567_89ab_i64;
    let id = initial_session_id(3, now);
    assert_eq!(id as u64 >> 56, 3);
    assert_eq!(
        (id >> 16) & 0xff_ffff_ffff,
        now & 0xff_ffff_ffff,
        "40 bits of time"
    );
    assert_eq!(id & 0xffff, 0, "low 16 bits start at zero");
    // The top byte stays the server id even for ids above 127, whose sessions are negative.
    assert_eq!(initial_session_id(200, now) as u64 >> 56, 200);
    // Ids above 255 are not clamped: as Apache's `id << 56`, their low byte shows.
    assert_eq!(initial_session_id(300, now) as u64 >> 56, 300 & 0xff);
    // The container marker is never produced.
    assert_eq!(initial_session_id(0x80, 0), CONTAINER_OWNER + 1);
}

#[test]
fn ids_count_up_from_the_initial_one_and_skip_reserved_values() {
    let mut t = tracker(1, 5_000);
    let first = initial_session_id(1, 5_000);
    let (a, _) = t.create(4000, 5_000).unwrap();
    let (b, _) = t.create(4000, 5_000).unwrap();
    assert_eq!((a, b), (first, first + 1));

    // Server 0 at time 0 would start at id 0, which means "new session" on the wire.
    let mut t = tracker(0, 0);
    let (a, _) = t.create(4000, 0).unwrap();
    assert_eq!(a, 1);
}

#[test]
fn passwords_are_deterministic_per_id_and_secret() {
    let mut t = tracker(1, 0);
    let (id, pw) = t.create(4000, 0).unwrap();
    assert_eq!(pw.len(), 16);
    assert_eq!(t.password(id), pw);
    assert!(t.check_password(id, &pw));
    let mut wrong = pw;
    wrong[15] ^= 1;
    assert!(!t.check_password(id, &wrong));
    assert!(!t.check_password(id, &pw[..15]));
    assert!(!t.check_password(id + 1, &pw));
    assert!(
        !t.check_password(0, &t.password(0)),
        "id 0 never matches, as Apache"
    );

    // Another server of the same ensemble validates it; a different secret does not.
    let peer = tracker(2, 0);
    assert!(peer.check_password(id, &pw));
    let stranger = SessionTracker::new(1, 0, b"other", SessionSettings::default()).unwrap();
    assert!(!stranger.check_password(id, &pw));
}

#[test]
fn a_legacy_secret_is_accepted_but_never_used_to_make_a_password() {
    let before = SessionTracker::new(1, 0, b"old key", SessionSettings::default()).unwrap();
    let mut after = tracker(1, 0);
    let (id, _) = after.create(4000, 0).unwrap();
    let old_pw = before.password(id);
    assert!(
        !after.check_password(id, &old_pw),
        "not without the legacy key"
    );
    after.accept_legacy_secret(b"old key");
    assert!(after.check_password(id, &old_pw));
    assert!(after.check_password(id, &after.password(id)));
    assert_ne!(
        after.password(id),
        old_pw,
        "new passwords use the current key"
    );
    let mut wrong = old_pw;
    wrong[0] ^= 1;
    assert!(!after.check_password(id, &wrong));
    assert!(
        !after.check_password(0, &before.password(0)),
        "id 0 never matches"
    );
}

#[test]
fn timeout_negotiation_clamps_like_apache() {
    assert_eq!(negotiate_timeout(10_000, 4000, 40_000), 10_000);
    assert_eq!(negotiate_timeout(100, 4000, 40_000), 4000);
    assert_eq!(negotiate_timeout(-5, 4000, 40_000), 4000);
    assert_eq!(negotiate_timeout(99_999, 4000, 40_000), 40_000);
    assert_eq!(
        negotiate_timeout(100, 5000, 3000),
        3000,
        "min > max: max wins, as Apache"
    );
}

#[test]
fn deadline_is_rounded_up_to_the_next_tick() {
    // ExpiryQueue.update: roundToNextInterval(now + timeout) with tick 2000.
    let mut t = tracker(1, 0);
    let (id, _) = t.create(4000, 100).unwrap();
    assert_eq!(t.get(id).unwrap().expires_at_ms, 6000);
    let (id2, _) = t.create(4000, 0).unwrap();
    assert_eq!(
        t.get(id2).unwrap().expires_at_ms,
        6000,
        "a boundary rounds to the next"
    );
    assert_eq!(t.next_expiry_ms(), Some(6000));
    assert_eq!(t.expiry_buckets(), vec![(6000, vec![id, id2])]);
    checked(&t);
}

#[test]
fn expiry_reports_each_session_once_after_its_deadline() {
    let mut t = tracker(1, 0);
    let (a, _) = t.create(4000, 0).unwrap(); // bucket 6000
    let (b, _) = t.create(10_000, 0).unwrap(); // bucket 12000
    assert!(
        t.expired(4001).is_empty(),
        "past now+timeout but before the bucket"
    );
    assert!(t.expired(5999).is_empty());
    assert_eq!(t.expired(6000), vec![a]);
    assert!(t.get(a).unwrap().closing);
    assert!(t.expired(7000).is_empty(), "reported once");
    assert_eq!(t.expired(50_000), vec![b]);
    assert_eq!(t.len(), 2, "still in the table until close");
    checked(&t);
    assert!(t.close(a).is_some());
    assert!(t.close(b).is_some());
    assert!(t.close(b).is_none());
    assert!(t.is_empty());
    checked(&t);
}

#[test]
fn touch_moves_the_deadline_and_refuses_dead_sessions() {
    let mut t = tracker(1, 0);
    let (id, _) = t.create(4000, 0).unwrap();
    assert!(t.touch(id, 3000));
    assert_eq!(t.get(id).unwrap().expires_at_ms, 8000);
    assert!(t.expired(6000).is_empty(), "the touch saved it");
    checked(&t);
    assert!(
        !t.touch(id, 8000),
        "past its deadline: expired even before `expired` runs"
    );
    assert_eq!(t.expired(8000), vec![id], "and still reported");
    assert!(!t.touch(id, 8001), "closing");
    assert!(!t.touch(12345, 0), "unknown");
}

#[test]
fn client_close_marks_closing_without_a_later_expiry_report() {
    let mut t = tracker(1, 0);
    let (id, _) = t.create(4000, 0).unwrap();
    assert_eq!(t.check_session(id, 9), Ok(()));
    assert!(t.mark_closing(id));
    assert!(!t.mark_closing(id));
    checked(&t);
    assert_eq!(t.check_session(id, 9), Err(ErrorCode::SessionExpired));
    assert!(!t.touch(id, 10));
    assert!(t.expired(100_000).is_empty());
    assert_eq!(t.close(id).map(|s| s.closing), Some(true));
    assert!(!t.mark_closing(id));
}

#[test]
fn owners_follow_check_session_and_set_owner() {
    let mut t = tracker(1, 0);
    let (id, _) = t.create(4000, 0).unwrap();
    assert_eq!(t.check_session(404, 1), Err(ErrorCode::UnknownSession));
    assert_eq!(t.check_session(id, 1), Ok(()), "the first owner takes it");
    assert_eq!(t.check_session(id, 1), Ok(()));
    assert_eq!(t.check_session(id, 2), Err(ErrorCode::SessionMoved));
    assert_eq!(t.set_owner(id, 2), Ok(()), "a reconnect moves it");
    assert_eq!(t.get(id).unwrap().owner, Some(2));
    assert_eq!(t.check_session(id, 1), Err(ErrorCode::SessionMoved));
    assert_eq!(t.set_owner(404, 2), Err(ErrorCode::SessionExpired));
    t.mark_closing(id);
    assert_eq!(t.set_owner(id, 3), Err(ErrorCode::SessionExpired));
}

#[test]
fn the_session_limit_refuses_new_sessions_until_one_closes() {
    let mut t = tracker_with(
        1,
        0,
        SessionSettings {
            tick_time_ms: 1000,
            sessions_max: 2,
        },
    );
    let (a, _) = t.create(4000, 0).unwrap();
    t.create(4000, 0).unwrap();
    assert_eq!(
        t.create(4000, 0),
        Err(SessionError::TooManySessions { limit: 2 })
    );
    t.mark_closing(a);
    assert!(
        t.create(4000, 0).is_err(),
        "a closing session still holds its slot"
    );
    t.close(a);
    assert!(t.create(4000, 0).is_ok());
}

#[test]
fn restore_tracks_recovered_sessions_and_never_reuses_their_ids() {
    let mut t = tracker(1, 0);
    let next = initial_session_id(1, 0);
    // A session this server created before a restart whose clock then went backwards.
    let old = next + 5;
    assert!(t.restore(old, 6000, 1000));
    assert_eq!(t.get(old).unwrap().expires_at_ms, 8000);
    assert!(
        !t.restore(old, 6000, 3000),
        "already tracked: only the deadline moves"
    );
    assert_eq!(t.get(old).unwrap().expires_at_ms, 10_000);
    let (fresh, _) = t.create(4000, 3000).unwrap();
    assert_eq!(fresh, old + 1);
    // Another server's session and a huge timeout are accepted without panicking.
    assert!(t.restore(initial_session_id(7, 99), i32::MAX, i64::MAX - 5));
    assert_eq!(
        t.get(initial_session_id(7, 99)).unwrap().expires_at_ms,
        i64::MAX
    );
    // Restore ignores the limit: recovery must not drop sessions.
    let mut full = tracker_with(
        1,
        0,
        SessionSettings {
            tick_time_ms: 1000,
            sessions_max: 0,
        },
    );
    assert!(full.restore(42, 4000, 0));
    checked(&t);
    checked(&full);
}

#[test]
fn iteration_is_ordered_by_id_for_cons_and_dump() {
    let mut t = tracker(1, 0);
    t.restore(30, 4000, 0);
    t.restore(10, 8000, 0);
    t.restore(20, 4000, 0);
    let ids: Vec<SessionId> = t.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![10, 20, 30]);
    assert_eq!(
        t.expiry_buckets(),
        vec![(6000, vec![20, 30]), (10_000, vec![10])]
    );
}

#[test]
fn zero_tick_time_is_a_configuration_error() {
    let bad = SessionSettings {
        tick_time_ms: 0,
        sessions_max: 1,
    };
    assert_eq!(
        SessionTracker::new(1, 0, SECRET, bad).err(),
        Some(SessionError::InvalidTickTime(0))
    );
}
