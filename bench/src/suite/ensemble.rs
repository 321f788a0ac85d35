//! Ensembles on loopback: starting N members of one implementation, waiting for a leader,
//! and the leader-failover scenario.
//!
//! Each member gets its own directory, zoo.cfg (with a `server.I=IP:QPORT:EPORT` line for
//! every member) and `myid`, its own 127.0.0.x client address, and is judged by its `srvr`
//! answer: `Mode: leader`, `Mode: follower` or `Mode: observer` when serving. A build that does not
//! replicate runs each member standalone; that is reported as "no leader elected", never
//! waited on forever.

use super::server::{four_letter, free_port, pick_addr, srvr_mode, Launch, Server, ServerKind};
use super::snapshot::Spread;
use crate::session::{self, reply_header};
use ringkeeper_engine::jute::records::{Request, SetDataRequest};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the members may take to elect a leader, at start and after a kill.
pub const ELECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// How often `srvr` is asked while waiting for a leader.
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// How long one write of the failover load may take before its writer moves on.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the write load runs before the kill, to be sure it is flowing.
pub const LOAD_BEFORE_KILL: Duration = Duration::from_secs(1);
/// Parent of the failover writers' keys.
pub const FAILOVER_ROOT: &str = "/rk-failover";

/// A running ensemble of one implementation.
pub struct Ensemble {
    /// The members, index i holding `server.(i+1)`.
    pub members: Vec<Server>,
}

impl Ensemble {
    /// Client addresses of every member, for a connect string.
    pub fn hosts(&self) -> Vec<String> {
        self.members.iter().map(|m| m.addr.clone()).collect()
    }

    /// Writes the members' configurations under `dir`, starts all of them and waits until
    /// one leads and the others follow.
    pub fn start(
        kind: &ServerKind,
        dir: &Path,
        size: usize,
        salt: u32,
        timeout: Duration,
    ) -> Result<Ensemble, String> {
        Ensemble::start_with(kind, dir, size, salt, timeout, &[])
    }

    /// [`Ensemble::start`] with extra command-line arguments for every member
    /// ([`Launch::args`]).
    pub fn start_with(
        kind: &ServerKind,
        dir: &Path,
        size: usize,
        salt: u32,
        timeout: Duration,
        args: &[String],
    ) -> Result<Ensemble, String> {
        let shape = Shape {
            voters: size,
            observers: 0,
        };
        Ensemble::start_shaped(kind, dir, shape, salt, timeout, args)
    }

    /// [`Ensemble::start_with`] with `shape.observers` more members after the voters, each
    /// `server.N=...:observer` and with `peerType=observer` in its own zoo.cfg.
    pub fn start_shaped(
        kind: &ServerKind,
        dir: &Path,
        shape: Shape,
        salt: u32,
        timeout: Duration,
        args: &[String],
    ) -> Result<Ensemble, String> {
        let size = shape.voters + shape.observers;
        let _ = std::fs::remove_dir_all(dir);
        let mut addrs = Vec::new();
        let mut lines = String::new();
        for i in 0..size {
            let addr = pick_addr(salt + i as u32).map_err(|e| format!("pick address: {e}"))?;
            let ip = addr.rsplit_once(':').map_or("", |(ip, _)| ip).to_string();
            let q = free_port(&ip).map_err(|e| format!("pick port: {e}"))?;
            let mut e = free_port(&ip).map_err(|e| format!("pick port: {e}"))?;
            while e == q {
                e = free_port(&ip).map_err(|e| format!("pick port: {e}"))?;
            }
            let role = if i < shape.voters { "" } else { ":observer" };
            lines.push_str(&format!("server.{}={ip}:{q}:{e}{role}\n", i + 1));
            addrs.push(addr);
        }
        let mut ensemble = Ensemble {
            members: Vec::new(),
        };
        for (i, addr) in addrs.iter().enumerate() {
            let own = if i < shape.voters {
                ""
            } else {
                "peerType=observer\n"
            };
            let launch = Launch {
                extra_cfg: format!("{lines}{own}"),
                myid: Some(i as u32 + 1),
                args: args.to_vec(),
            };
            let member_dir = dir.join(format!("m{}", i + 1));
            ensemble
                .members
                .push(Server::spawn(kind.clone(), &member_dir, addr, &launch)?);
        }
        ensemble.wait_for_leader(None, timeout)?;
        Ok(ensemble)
    }

    /// The members' modes as `srvr` reports them (`None`: no answer).
    pub fn modes(&self, skip: Option<usize>) -> Vec<Option<String>> {
        self.members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if Some(i) == skip {
                    None
                } else {
                    four_letter(&m.addr, "srvr").and_then(|s| srvr_mode(&s))
                }
            })
            .collect()
    }

    /// Waits until one member (other than `skip`) reports `leader` and every other one
    /// (other than `skip`) `follower`; returns the leader's index.
    pub fn wait_for_leader(
        &mut self,
        skip: Option<usize>,
        timeout: Duration,
    ) -> Result<usize, String> {
        let t0 = Instant::now();
        loop {
            for (i, m) in self.members.iter_mut().enumerate() {
                if Some(i) != skip && !m.running() {
                    return Err(format!(
                        "{} member {} exited; see {}",
                        m.kind.name(),
                        i + 1,
                        m.dir.join("server.log").display()
                    ));
                }
            }
            let modes = self.modes(skip);
            if let Some(leader) = settled(&modes, skip) {
                return Ok(leader);
            }
            // A member that serves standalone will never join a quorum.
            let standalone = modes
                .iter()
                .position(|m| m.as_deref() == Some("standalone"));
            if standalone.is_some() || t0.elapsed() > timeout {
                return Err(format!(
                    "no leader elected within {:.1} s on the {}-member {} ensemble ({}){}",
                    t0.elapsed().as_secs_f64(),
                    self.members.len(),
                    self.members[0].kind.name(),
                    describe(&modes),
                    if standalone.is_some() {
                        ": members run standalone, so this build does not replicate"
                    } else {
                        ""
                    }
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

/// How many members of each kind an ensemble has.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub voters: usize,
    pub observers: usize,
}

/// Index of the leader if exactly one member leads and every other polled one follows (or
/// observes).
pub fn settled(modes: &[Option<String>], skip: Option<usize>) -> Option<usize> {
    let mut leader = None;
    for (i, m) in modes.iter().enumerate() {
        if Some(i) == skip {
            continue;
        }
        match m.as_deref() {
            Some("leader") if leader.is_none() => leader = Some(i),
            Some("follower") | Some("observer") => {}
            _ => return None,
        }
    }
    leader
}

fn describe(modes: &[Option<String>]) -> String {
    modes
        .iter()
        .enumerate()
        .map(|(i, m)| format!("server.{}: {}", i + 1, m.as_deref().unwrap_or("no answer")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One failover: the leader killed under a write load.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FailoverRound {
    /// `server.N` id of the member killed.
    pub killed: u32,
    /// `server.N` id of the new leader.
    pub new_leader: u32,
    /// From SIGKILL to the first reply to a write sent after it.
    pub write_ms: f64,
    /// From SIGKILL to a survivor's `srvr` saying `Mode: leader` (the rest following).
    pub leader_ms: f64,
    /// Writes acknowledged in the second before the kill (the load was running).
    pub writes_before: u64,
}

/// The failover scenario on one implementation.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FailoverRow {
    /// Target name.
    pub target: String,
    /// Members.
    pub members: usize,
    /// Concurrent writers (one serial setData stream each).
    pub writers: usize,
    /// Each round.
    pub rounds: Vec<FailoverRound>,
    /// Spread of `write_ms`.
    pub write_ms: Option<Spread>,
    /// Spread of `leader_ms`.
    pub leader_ms: Option<Spread>,
}

/// What the writers share with the scenario.
struct Shared {
    stop: AtomicBool,
    acks: AtomicU64,
    /// When the leader was killed and the first write sent after it was acknowledged.
    kill: Mutex<(Option<Instant>, Option<Instant>)>,
}

/// One writer: serial setData of its own key, moving to the next member whenever a
/// connection fails, a request times out or a member refuses the session.
async fn writer(id: usize, hosts: Vec<String>, shared: Arc<Shared>) {
    let path = format!("{FAILOVER_ROOT}/w{id}");
    let value = vec![b'f'; 100];
    let mut host = id;
    while !shared.stop.load(Ordering::Relaxed) {
        let addr = &hosts[host % hosts.len()];
        host += 1;
        let Ok(mut sess) = session::connect(addr, 10_000, WRITE_TIMEOUT).await else {
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        };
        let mut xid = 1;
        while !shared.stop.load(Ordering::Relaxed) {
            let req = Request::SetData(SetDataRequest {
                path: path.clone(),
                data: Some(value.clone()),
                version: -1,
            });
            let sent = Instant::now();
            if session::write_request(&mut sess.writer, xid, &req)
                .await
                .is_err()
            {
                break;
            }
            let reply =
                tokio::time::timeout(WRITE_TIMEOUT, session::read_frame(&mut sess.reader)).await;
            let Ok(Ok(frame)) = reply else { break };
            let Ok((h, _)) = reply_header(&frame) else {
                break;
            };
            xid += 1;
            if h.err != 0 {
                // An error reply (e.g. ConnectionLoss while the member has no leader) is
                // not an acknowledged write.
                break;
            }
            let at = Instant::now();
            shared.acks.fetch_add(1, Ordering::Relaxed);
            let mut k = shared.kill.lock().unwrap_or_else(|e| e.into_inner());
            // Only a write sent after the kill proves the ensemble writable again: one sent
            // before may have been committed by the old leader.
            if matches!(k.0, Some(kill) if sent > kill) && k.1.is_none() {
                k.1 = Some(at);
            }
        }
    }
}

/// Kills the leader `rounds` times under a write load of `writers` serial writers spread
/// over the members; restarts the old leader between rounds.
pub async fn failover(
    ens: &mut Ensemble,
    writers: usize,
    rounds: usize,
    timeout: Duration,
) -> Result<FailoverRow, String> {
    let name = ens.members[0].kind.name().to_string();
    let hosts = ens.hosts();
    let paths: Vec<String> = std::iter::once(FAILOVER_ROOT.to_string())
        .chain((0..writers).map(|i| format!("{FAILOVER_ROOT}/w{i}")))
        .collect();
    crate::populate::create_all(&hosts[0], paths.into_iter(), 100, 1).await?;
    let mut out = Vec::new();
    for round in 0..rounds {
        let leader = ens.wait_for_leader(None, timeout)?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            acks: AtomicU64::new(0),
            kill: Mutex::new((None, None)),
        });
        let tasks: Vec<_> = (0..writers)
            .map(|i| tokio::spawn(writer(i, hosts.clone(), shared.clone())))
            .collect();
        tokio::time::sleep(LOAD_BEFORE_KILL).await;
        let writes_before = shared.acks.load(Ordering::Relaxed);
        let result = if writes_before == 0 {
            Err(format!(
                "no write acknowledged by the {name} ensemble in {LOAD_BEFORE_KILL:?} before the kill"
            ))
        } else {
            let killed_at = Instant::now();
            shared.kill.lock().unwrap_or_else(|e| e.into_inner()).0 = Some(killed_at);
            ens.members[leader].kill();
            eprintln!(
                "suite: failover round {} on {name}: killed leader server.{}",
                round + 1,
                leader + 1
            );
            let probe = {
                // srvr polling blocks; it runs beside the writers, not on their threads.
                let addrs = hosts.clone();
                tokio::task::spawn_blocking(move || {
                    let probe = ProbeEnsemble { addrs };
                    probe.wait(leader, killed_at, timeout)
                })
            };
            let elected = probe.await.map_err(|e| format!("probe: {e}"))?;
            let acked = wait_ack(&shared, killed_at, timeout).await;
            match (elected, acked) {
                (Ok((new_leader, leader_ms)), Some(write_ms)) => Ok(FailoverRound {
                    killed: leader as u32 + 1,
                    new_leader: new_leader as u32 + 1,
                    write_ms,
                    leader_ms,
                    writes_before,
                }),
                (Err(e), _) => Err(e),
                (Ok(_), None) => Err(format!(
                    "no write acknowledged within {:.0} s of killing the {name} leader",
                    timeout.as_secs_f64()
                )),
            }
        };
        shared.stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        // The old leader comes back as a follower before the next round (and before the
        // next scenario): every round starts from a full ensemble.
        if !ens.members[leader].running() {
            ens.members[leader].respawn()?;
        }
        out.push(result?);
    }
    ens.wait_for_leader(None, timeout)?;
    let w: Vec<f64> = out.iter().map(|r| r.write_ms).collect();
    let l: Vec<f64> = out.iter().map(|r| r.leader_ms).collect();
    Ok(FailoverRow {
        target: name,
        members: ens.members.len(),
        writers,
        write_ms: Spread::of(&w),
        leader_ms: Spread::of(&l),
        rounds: out,
    })
}

async fn wait_ack(shared: &Shared, killed_at: Instant, timeout: Duration) -> Option<f64> {
    while killed_at.elapsed() < timeout {
        let k = *shared.kill.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = k.1 {
            return Some(at.saturating_duration_since(killed_at).as_secs_f64() * 1e3);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// The survivors' addresses, polled without owning the processes.
struct ProbeEnsemble {
    addrs: Vec<String>,
}

impl ProbeEnsemble {
    fn wait(
        &self,
        killed: usize,
        killed_at: Instant,
        timeout: Duration,
    ) -> Result<(usize, f64), String> {
        loop {
            let modes: Vec<Option<String>> = self
                .addrs
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    if i == killed {
                        None
                    } else {
                        four_letter(a, "srvr").and_then(|s| srvr_mode(&s))
                    }
                })
                .collect();
            if let Some(l) = settled(&modes, Some(killed)) {
                return Ok((l, killed_at.elapsed().as_secs_f64() * 1e3));
            }
            if killed_at.elapsed() > timeout {
                return Err(format!(
                    "no leader elected within {:.0} s of killing server.{} ({})",
                    timeout.as_secs_f64(),
                    killed + 1,
                    describe(&modes)
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &[&str]) -> Vec<Option<String>> {
        s.iter()
            .map(|x| (!x.is_empty()).then(|| x.to_string()))
            .collect()
    }

    #[test]
    fn settled_needs_one_leader_and_only_followers() {
        assert_eq!(
            settled(&m(&["follower", "leader", "follower"]), None),
            Some(1)
        );
        assert_eq!(settled(&m(&["leader", "leader", "follower"]), None), None);
        assert_eq!(
            settled(&m(&["follower", "follower", "follower"]), None),
            None
        );
        assert_eq!(
            settled(&m(&["standalone", "leader", "follower"]), None),
            None
        );
        assert_eq!(
            settled(&m(&["not serving", "leader", "follower"]), None),
            None
        );
        assert_eq!(settled(&m(&["", "leader", "follower"]), None), None);
        assert_eq!(settled(&m(&["", "leader", "follower"]), Some(0)), Some(1));
        assert_eq!(
            settled(&m(&["follower", "leader", "follower", "observer"]), None),
            Some(1)
        );
    }

    #[test]
    fn srvr_answers_give_the_mode() {
        use super::super::server::srvr_mode;
        let srvr = "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: follower\nNode count: 5\n";
        assert_eq!(srvr_mode(srvr).as_deref(), Some("follower"));
        assert_eq!(
            srvr_mode("This ZooKeeper instance is not currently serving requests").as_deref(),
            Some("not serving")
        );
        assert_eq!(srvr_mode("garbage"), None);
    }
}
