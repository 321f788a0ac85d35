//! Leader election, after ZooKeeper's FastLeaderElection: looking peers exchange votes in
//! numbered rounds, each adopts the best vote it hears (newest epoch, then newest zxid, then
//! highest id) and decides once a quorum agrees. A peer that is already leading answers a
//! looking one, so that a restarted server joins the established leader at once.

use super::{Peer, State};
use crate::command::Role;
use crate::config::MEMBERS_MAX;
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
    /// A vote named a candidate none of our configurations knows: ours is older than some
    /// voter's, so "every voter agrees" may count the wrong voters, and the decision waits.
    unknown_candidate: bool,
}

impl Peer {
    pub(super) fn become_looking(&mut self) {
        self.stats.elections += 1;
        self.round += 1;
        let mut looking = Looking {
            last_sent: self.now,
            ..Looking::default()
        };
        if self.can_vote() || self.config.is_observer() {
            // An observer's "vote" only carries its asking (state Observing) and counts for
            // nothing anywhere.
            let vote = self.self_vote();
            looking.vote = Some(vote);
            looking.received.insert(self.config.id, vote);
        }
        // A server that does not vote in its own configurations (a joiner, a removed server)
        // never puts itself forward: it has no vote until it adopts another's.
        self.state = State::Looking(looking);
        self.set_role(Role::Looking);
        self.broadcast_vote();
        // A single-voter ensemble has its quorum already.
        self.check_decision();
    }

    /// What a looking peer says of itself: a voter votes, an observer only asks for the
    /// leader (voters never count it, and only a leader answers it).
    fn looking_state(&self) -> VoterState {
        // A joiner (a member of no configuration it knows) takes part like a voter: a
        // configuration it has not heard of yet may count its vote, and it adopts better
        // votes so that one can reach a quorum; it never decides by itself (`check_decision`).
        if self.config.is_observer() {
            VoterState::Observing
        } else {
            VoterState::Looking
        }
    }

    fn broadcast_vote(&mut self) {
        let state = self.looking_state();
        let mine = self.self_vote();
        if let State::Looking(l) = &mut self.state {
            l.last_sent = self.now;
            // Without a vote of our own yet (a server that does not vote in its own
            // configurations), we ask for the leader as an observer does.
            let (vote, state) = match l.vote {
                Some(vote) => (vote, state),
                None => (mine, VoterState::Observing),
            };
            let message = Message::Vote {
                round: self.round,
                vote,
                state,
            };
            self.broadcast(message);
        }
    }

    pub(super) fn on_vote(&mut self, from: ServerId, round: u64, vote: Vote, state: VoterState) {
        let looking = matches!(self.state, State::Looking(_));
        if looking && state == VoterState::Leading && vote.leader == from {
            // An established (or establishing) leader answered: join it, whatever our
            // configuration says of it (the sync brings its configuration). Its own checks
            // in discovery keep this safe even if it is about to lose its quorum.
            self.become_follower(from);
            return;
        }
        if looking
            && state == VoterState::Following
            && vote.leader != self.config.id
            && (!self.can_vote() || !self.votes(vote.leader))
        {
            // A follower names a leader we would not find by ourselves (we do not vote, or
            // our configuration is older than the ensemble's): ask it.
            self.ask_leader(vote.leader);
            return;
        }
        if state == VoterState::Observing {
            // An observer, or a server no configuration of ours lets vote (a joiner, a
            // removed server), asks for the leader; it counts for nothing in an election.
            self.answer_asker(from);
            return;
        }
        if !self.votes(from) {
            // A vote from a server that does not vote in any configuration we know: it may
            // hold a configuration we lack (one that counts us), or we one it lacks. While
            // looking we take part (its vote counts for nothing in our quorums, but its
            // candidate may be one we should adopt) and answer it directly, since our own
            // broadcast does not reach it; otherwise we say where the leader is.
            let room =
                matches!(&self.state, State::Looking(l) if l.received.len() < 2 * MEMBERS_MAX);
            if state == VoterState::Looking && room && !self.config.is_observer() {
                self.on_looking_vote(from, round, vote);
                self.answer_stranger(from);
            } else {
                self.stats.stale_messages += 1;
                if state == VoterState::Looking {
                    self.answer_asker(from);
                }
            }
            return;
        }
        if self.config.is_observer() && state == VoterState::Looking {
            // A voter counts us as a voter: its configuration is older than the committed
            // one that made us an observer (which is pending in its log, so its quorums
            // need a majority of that one too). Echo its vote, so that it can decide; we
            // stand for nothing and keep no election state.
            if vote.leader != self.config.id && matches!(self.state, State::Looking(_)) {
                let message = Message::Vote {
                    round,
                    vote,
                    state: VoterState::Looking,
                };
                self.send(from, message);
            }
            return;
        }
        if self.config.observers.contains(&vote.leader) && !self.votes(vote.leader) {
            // Never a vote for an observer. A candidate our configurations do not know is
            // taken: only a server that votes in its own configurations puts itself
            // forward, so it holds a configuration we have not heard of yet.
            self.stats.stale_messages += 1;
            return;
        }
        match (&self.state, state) {
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
            // The peer we chose is still voting, for another: our configuration is older
            // than its (we counted the wrong voters), or we decided on a vote it left.
            (State::Following(f), VoterState::Looking)
                if f.leader == from && f.discovering() && vote.leader != from =>
            {
                self.stats.wrong_leader_choices += 1;
                self.become_looking();
            }
            // A looking voter whose configuration may not know our leader (Apache's
            // followers answer every looking notification with their leader).
            (State::Following(_), VoterState::Looking) => self.answer_asker(from),
            _ => {}
        }
    }

    /// Sends our current vote to a looking server outside our configurations.
    fn answer_stranger(&mut self, to: ServerId) {
        let state = self.looking_state();
        if let State::Looking(Looking {
            vote: Some(vote), ..
        }) = &self.state
        {
            let message = Message::Vote {
                round: self.round,
                vote: *vote,
                state,
            };
            self.send(to, message);
        }
    }

    /// Asks `leader` directly, as an observer asks: only a leader answers.
    fn ask_leader(&mut self, leader: ServerId) {
        let message = Message::Vote {
            round: self.round,
            vote: self.self_vote(),
            state: VoterState::Observing,
        };
        self.send(leader, message);
    }

    /// Tells a server that asks where the leader is: a leader (established or not) says it
    /// leads; a follower that serves names its leader, so that a server whose configuration
    /// lists none of the current voters still finds it (Apache's followers answer every
    /// looking notification the same way). A looking server says nothing.
    fn answer_asker(&mut self, to: ServerId) {
        let answer = match &self.state {
            State::Leading(_) => Some((self.self_vote(), VoterState::Leading)),
            State::Following(f) if matches!(self.role, Role::Following { .. }) => Some((
                Vote {
                    leader: f.leader,
                    ..self.self_vote()
                },
                VoterState::Following,
            )),
            _ => None,
        };
        if let Some((vote, state)) = answer {
            let message = Message::Vote {
                round: self.round,
                vote,
                state,
            };
            self.send(to, message);
        }
    }

    /// Answers a peer that took us for its leader with what we are doing: the vote we hold
    /// while looking, or the leader we follow.
    pub(super) fn answer_with_own_state(&mut self, to: ServerId) {
        let mine = self.self_vote();
        let (vote, state) = match &self.state {
            State::Looking(l) => match l.vote {
                Some(vote) => (vote, self.looking_state()),
                // A server that does not vote and has adopted no vote yet has nothing to say.
                None => return,
            },
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
        let own_id = self.config.id;
        if self.config.observers.contains(&vote.leader) && !self.votes(vote.leader) {
            // Never a vote for an observer of ours.
            self.stats.stale_messages += 1;
            return;
        }
        // Our own candidacy, if we may stand (see `become_looking`).
        let mine = self.can_vote().then(|| self.self_vote());
        if mine.is_none() && vote.leader == own_id {
            // Someone counts us as a voter (a configuration we have not heard of yet), but we
            // cannot lead under ours.
            self.stats.stale_messages += 1;
            return;
        }
        let known = self.votes(vote.leader);
        let State::Looking(l) = &mut self.state else {
            return;
        };
        l.unknown_candidate |= !known;
        let current = l.vote.or(mine);
        let mut changed = false;
        if round > self.round {
            // A newer round: forget the old one's votes and start over from the better of
            // our own history and the sender's candidate.
            self.round = round;
            l.received.clear();
            l.agreed = None;
            let best = mine.map_or(vote, |m| m.max(vote));
            l.vote = Some(best);
            l.received.insert(own_id, best);
            changed = true;
        } else if round < self.round && mine.is_none() {
            // We have no candidacy of our own, so our round means nothing to anyone: join
            // the sender's, or a voter that counts us could wait for our vote forever.
            self.round = round;
            l.received.clear();
            l.agreed = None;
            l.vote = Some(vote);
            changed = true;
        } else if round < self.round {
            // The sender is behind; tell it where the election is.
            if let Some(current) = current {
                let message = Message::Vote {
                    round: self.round,
                    vote: current,
                    state: VoterState::Looking,
                };
                self.send(from, message);
            }
            return;
        } else if current.is_none_or(|c| vote > c) {
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

    /// A voter that registers with us while we look, voting for ourselves, supports our
    /// vote. Returns whether that made us decide to lead.
    pub(super) fn count_follower_as_vote(&mut self, from: ServerId) -> bool {
        let own_id = self.config.id;
        if !self.votes(from) || !self.can_vote() {
            return false;
        }
        let State::Looking(l) = &mut self.state else {
            return false;
        };
        let Some(vote) = l.vote.filter(|v| v.leader == own_id) else {
            return false;
        };
        l.received.insert(from, vote);
        self.check_decision();
        matches!(self.state, State::Leading(_))
    }

    fn check_decision(&mut self) {
        if !self.can_vote() {
            // An observer (or a joiner) never decides an election: it joins whichever leader
            // answers it.
            return;
        }
        let voters = self.all_voters();
        let now = self.now;
        let State::Looking(l) = &self.state else {
            return;
        };
        let Some(vote) = l.vote else {
            return;
        };
        let support: Vec<ServerId> = l
            .received
            .iter()
            .filter(|(_, v)| **v == vote)
            .map(|(id, _)| *id)
            .collect();
        let quorum = self.is_quorum(&support);
        let State::Looking(l) = &mut self.state else {
            // Found looking above, and nothing since changed the state: a bug here.
            unreachable!("invariant: an election step found the peer not looking anymore");
        };
        if !quorum {
            l.agreed = None;
            return;
        }
        let decide = if !l.unknown_candidate && voters.iter().all(|v| support.contains(v)) {
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
