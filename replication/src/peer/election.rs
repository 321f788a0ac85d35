//! Leader election, after ZooKeeper's FastLeaderElection: looking peers exchange votes in
//! numbered rounds, each adopts the best vote it hears (newest epoch, then newest zxid, then
//! highest id) and decides once a quorum agrees. A peer that is already leading answers a
//! looking one, so that a restarted server joins the established leader at once.

use super::{Peer, State};
use crate::command::Role;
use crate::message::{Message, Vote, VoterState};
use crate::ServerId;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(super) struct Looking {
    vote: Option<Vote>,
    received: BTreeMap<ServerId, Vote>,
    /// The vote a quorum agreed on and the tick it happened; the decision waits one tick for
    /// a better vote, like FastLeaderElection's finalizeWait, unless every voter agrees.
    agreed: Option<(Vote, u64)>,
    last_sent: u64,
}

impl Peer {
    pub(super) fn become_looking(&mut self) {
        self.stats.elections += 1;
        self.round += 1;
        let vote = self.self_vote();
        let mut looking = Looking {
            vote: Some(vote),
            last_sent: self.now,
            ..Looking::default()
        };
        looking.received.insert(self.config.id, vote);
        self.state = State::Looking(looking);
        self.set_role(Role::Looking);
        self.broadcast_vote();
        // A single-voter ensemble has its quorum already.
        self.check_decision();
    }

    /// What a looking peer says of itself: a voter votes, an observer only asks for the
    /// leader (voters never count it, and only a leader answers it).
    fn looking_state(&self) -> VoterState {
        if self.config.is_observer() {
            VoterState::Observing
        } else {
            VoterState::Looking
        }
    }

    fn broadcast_vote(&mut self) {
        let state = self.looking_state();
        if let State::Looking(l) = &mut self.state {
            if let Some(vote) = l.vote {
                l.last_sent = self.now;
                let message = Message::Vote {
                    round: self.round,
                    vote,
                    state,
                };
                self.broadcast(message);
            }
        }
    }

    pub(super) fn on_vote(&mut self, from: ServerId, round: u64, vote: Vote, state: VoterState) {
        let from_observer = self.config.observers.contains(&from);
        if from_observer != (state == VoterState::Observing) {
            // Only observers ask, and an observer never votes: its notification counts for
            // nothing in an election.
            self.stats.stale_messages += 1;
            return;
        }
        if from_observer {
            self.answer_observer(from);
            return;
        }
        if self.config.is_observer() && state == VoterState::Looking {
            // Voters' election traffic is not for us; only a leader's answer is.
            return;
        }
        if !self.config.voters.contains(&vote.leader) {
            self.stats.stale_messages += 1;
            return;
        }
        match (&self.state, state) {
            // An established (or establishing) leader answered: join it. Its own checks in
            // discovery keep this safe even if it is about to lose its quorum.
            (State::Looking(_), VoterState::Leading) if vote.leader == from => {
                self.become_follower(from);
            }
            (State::Looking(_), VoterState::Looking) => self.on_looking_vote(from, round, vote),
            (State::Leading(_), VoterState::Looking) => {
                let message = Message::Vote {
                    round: self.round,
                    vote: self.self_vote(),
                    state: VoterState::Leading,
                };
                self.send(from, message);
            }
            // The peer we chose follows another: we lost an election race. A leader that was
            // already answering us (phase 2 or 3) is not second-guessed by a vote that may be
            // older than its leadership; its own messages and timeouts decide there.
            (State::Following(f), VoterState::Following)
                if f.leader == from && f.discovering() && vote.leader != from =>
            {
                self.stats.wrong_leader_choices += 1;
                self.become_looking();
            }
            _ => {}
        }
    }

    /// A leader tells an observer that asks where the leader is; nobody else answers, so an
    /// observer keeps asking until an established or establishing leader does.
    fn answer_observer(&mut self, to: ServerId) {
        if matches!(self.state, State::Leading(_)) {
            let message = Message::Vote {
                round: self.round,
                vote: self.self_vote(),
                state: VoterState::Leading,
            };
            self.send(to, message);
        }
    }

    /// Answers a peer that took us for its leader with what we are doing: the vote we hold
    /// while looking, or the leader we follow.
    pub(super) fn answer_with_own_state(&mut self, to: ServerId) {
        let mine = self.self_vote();
        let (vote, state) = match &self.state {
            State::Looking(l) => (l.vote.unwrap_or(mine), self.looking_state()),
            State::Following(f) => (
                Vote {
                    leader: f.leader,
                    ..mine
                },
                VoterState::Following,
            ),
            State::Leading(_) => return,
        };
        let message = Message::Vote {
            round: self.round,
            vote,
            state,
        };
        self.send(to, message);
    }

    fn on_looking_vote(&mut self, from: ServerId, round: u64, vote: Vote) {
        let mine = self.self_vote();
        let own_id = self.config.id;
        let State::Looking(l) = &mut self.state else {
            return;
        };
        let current = l.vote.unwrap_or(mine);
        let mut changed = false;
        if round > self.round {
            // A newer round: forget the old one's votes and start over from the better of
            // our own history and the sender's candidate.
            self.round = round;
            l.received.clear();
            l.agreed = None;
            let best = mine.max(vote);
            l.vote = Some(best);
            l.received.insert(own_id, best);
            changed = true;
        } else if round < self.round {
            // The sender is behind; tell it where the election is.
            let message = Message::Vote {
                round: self.round,
                vote: current,
                state: VoterState::Looking,
            };
            self.send(from, message);
            return;
        } else if vote > current {
            l.vote = Some(vote);
            l.received.insert(own_id, vote);
            changed = true;
        }
        l.received.insert(from, vote);
        if changed {
            self.broadcast_vote();
        }
        self.check_decision();
    }

    fn check_decision(&mut self) {
        if self.config.is_observer() {
            // An observer never decides an election: it joins whichever leader answers it.
            return;
        }
        let quorum = self.quorum;
        let voters = self.config.voters.len();
        let now = self.now;
        let State::Looking(l) = &mut self.state else {
            return;
        };
        let Some(vote) = l.vote else {
            return;
        };
        let support = l.received.values().filter(|v| **v == vote).count();
        if support < quorum {
            l.agreed = None;
            return;
        }
        let decide = if support == voters {
            true
        } else {
            match l.agreed {
                Some((agreed, since)) if agreed == vote => now > since,
                _ => {
                    l.agreed = Some((vote, now));
                    false
                }
            }
        };
        if decide {
            if vote.leader == self.config.id {
                self.become_leader();
            } else {
                self.become_follower(vote.leader);
            }
        }
    }

    pub(super) fn on_looking_tick(&mut self) {
        self.check_decision();
        let retry = self.config.election_retry_ticks as u64;
        if let State::Looking(l) = &self.state {
            if self.now - l.last_sent >= retry {
                self.broadcast_vote();
            }
        }
    }
}
