//! The metrics port: what Apache ZooKeeper's `PrometheusMetricsProvider`
//! serves on `metricsProvider.httpPort`, under Apache's metric names and
//! types, so that existing dashboards and alerts keep working. ringkeeper's
//! own metrics sit beside them, every one named `ringkeeper_*`.
//!
//! Like the admin server it runs on plain std threads away from the
//! executors, and learns the server's numbers by asking `mntr` on the
//! client port over loopback, with the process's probe token so that
//! `4lw.commands.whitelist` does not apply (`fourlw::internal`), as Apache's
//! provider reads its numbers in-process whatever the whitelist. The few values
//! `mntr` cannot carry come from process-wide cells: elections from `quorum`,
//! written when the serving role changes, and snapshot and start-up times
//! from `timings`.
//!
//! Limits: the connection table of `admin::connections` (idle connections
//! are evicted rather than new ones refused; at most `WORKING_MAX` scrapes at
//! once, more are answered 503), one request per connection, the admin server's request head limits
//! (`admin::http`), and `admin::probe`'s bounds on the `mntr` answer.

pub mod apache;
pub mod exposition;
pub mod quorum;
pub mod timings;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::admin::connections::Ticket;
use crate::admin::http::{self, RequestError, Response};
use crate::admin::{listener, probe};
use crate::fourlw::internal::ProbeToken;

/// How long a finished connection is drained before it is closed.
const LINGER: Duration = Duration::from_millis(200);

/// Where the metrics port listens and whom it asks.
#[derive(Clone, Debug)]
pub struct MetricsSettings {
    /// `metricsProvider.httpHost:metricsProvider.httpPort`.
    pub listen: SocketAddr,
    /// The server's client port, asked `mntr`.
    pub client_addr: SocketAddr,
    /// Proves the asks come from this process (`fourlw::internal`).
    pub probe_token: ProbeToken,
}

struct Shared {
    client_addr: SocketAddr,
    probe_token: ProbeToken,
    gate: listener::Gate,
}

/// A running metrics port; `stop` ends it.
pub struct MetricsServer(listener::Running<Shared>);

/// Binds the metrics address and starts the accept thread.
pub fn start(settings: MetricsSettings) -> std::io::Result<MetricsServer> {
    let shared = Shared {
        client_addr: settings.client_addr,
        probe_token: settings.probe_token,
        gate: listener::Gate::default(),
    };
    listener::start(settings.listen, shared, "rk-metrics").map(MetricsServer)
}

impl MetricsServer {
    /// The bound address (useful when the port was chosen by the OS).
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    /// Stops accepting and waits for the accept thread.
    pub fn stop(self) {
        self.0.stop();
    }
}

impl listener::Service for Shared {
    fn gate(&self) -> &listener::Gate {
        &self.gate
    }
    fn serve(&self, stream: &mut TcpStream, ticket: &Ticket) {
        serve(stream, self, ticket);
    }
    fn too_busy(&self) -> Response {
        too_busy()
    }
}

fn too_busy() -> Response {
    Response::text(503, "too many scrapes in flight\n")
}

fn serve(stream: &mut TcpStream, shared: &Shared, ticket: &Ticket) {
    let (response, head_only) = match http::read_request(stream) {
        Err(RequestError::Gone) => return,
        Err(RequestError::TooLarge) => (Response::text(431, "request head too large\n"), false),
        Err(RequestError::Malformed) => (Response::text(400, "bad request\n"), false),
        Ok(r) if r.method != "GET" && r.method != "HEAD" => {
            (Response::text(405, "only GET and HEAD are served\n"), false)
        }
        // Apache's exporter answers `/metrics` only.
        Ok(r) if r.path != "/metrics" => (Response::text(404, "not found; try /metrics\n"), false),
        Ok(r) if !ticket.start_work() => (too_busy(), r.method == "HEAD"),
        Ok(r) => (
            Response {
                status: 200,
                content_type: exposition::CONTENT_TYPE,
                body: scrape(shared.client_addr, &shared.probe_token),
            },
            r.method == "HEAD",
        ),
    };
    http::write_response(stream, &response, head_only);
    ticket.finishing();
    http::finish(stream, LINGER);
}

/// One scrape: Apache's families, then ringkeeper's own.
pub fn scrape(client_addr: SocketAddr, probe_token: &ProbeToken) -> String {
    let started = Instant::now();
    let mntr = probe::ask(client_addr, probe_token, "mntr")
        .ok()
        .filter(|text| text.starts_with("zk_"));
    let values = mntr.as_deref().map(apache::parse_mntr).unwrap_or_default();
    let mut out = String::new();
    apache::render(&values, &mut out);
    quorum::render(&mut out);
    timings::render(&mut out);
    apache::render_own(&values, &mut out);
    exposition::gauge(
        &mut out,
        "ringkeeper_metrics_mntr_up",
        "1 if the mntr four-letter word answered this scrape.",
        u8::from(mntr.is_some()),
    );
    exposition::gauge(
        &mut out,
        "ringkeeper_metrics_scrape_duration_seconds",
        "Time taken to gather this scrape.",
        format!("{:.6}", started.elapsed().as_secs_f64()),
    );
    out
}
