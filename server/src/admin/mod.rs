//! The admin HTTP server: `/health` and `/ready` for load balancers and
//! orchestrators, `/metrics` for Prometheus, and `<commandURL>/<name>` for
//! the four-letter words as JSON, after Apache ZooKeeper's AdminServer.
//!
//! It runs on plain std threads, away from the executors: it is not on the
//! request path and must never slow it. It learns what the four-letter
//! words say the way any operator would, by asking the server's own client
//! port over loopback, so it needs no shared state with the shards beyond
//! the process-wide shutdown flag and a "serving" flag set by `main`.
//!
//! Limits: `connections::CONNECTIONS_MAX` connections open (a new one
//! evicts the oldest idle one rather than being refused, so idle and slow
//! clients cannot starve `/health`; see `connections`), of which
//! `connections::WORKING_MAX` may ask four-letter words at once; one request
//! per connection, request heads of at most `http::REQUEST_BYTES_MAX` bytes
//! read within `http::REQUEST_TIMEOUT`, and four-letter-word answers bounded
//! by `probe::ANSWER_BYTES_MAX` and `probe::ANSWER_TIMEOUT`.

pub mod commands;
pub mod connections;
pub mod http;
pub mod json;
pub mod listener;
pub mod probe;
pub mod prometheus;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use commands::{AdminCommand, Refused};
use connections::Ticket;
use http::{Request, RequestError, Response};
use json::Json;

/// Where the admin server listens and what it asks.
#[derive(Clone, Debug)]
pub struct AdminSettings {
    /// The HTTP address (`admin.serverAddress:admin.serverPort`).
    pub listen: SocketAddr,
    /// The prefix of command URLs (`admin.commandURL`), starting with `/`
    /// and without a trailing `/`.
    pub command_url: String,
    /// The server's client port, asked the four-letter words.
    pub client_addr: SocketAddr,
    /// Proves the asks come from this process, so every word answers whatever
    /// `4lw.commands.whitelist` says, as Apache's AdminServer ignores it.
    pub probe_token: crate::fourlw::internal::ProbeToken,
}

/// State the accept thread and the request threads share: flags and
/// counters, and the connection table.
struct Shared {
    settings: AdminSettings,
    serving: AtomicBool,
    gate: listener::Gate,
    requests: AtomicU64,
}

/// A running admin server. Dropping it leaves the thread running until the
/// process exits, which is what the binary wants; `stop` ends it.
pub struct AdminServer(listener::Running<Shared>);

/// Binds the admin address and starts the accept thread.
pub fn start(settings: AdminSettings) -> std::io::Result<AdminServer> {
    let listen = settings.listen;
    let shared = Shared {
        settings,
        serving: AtomicBool::new(false),
        gate: listener::Gate::default(),
        requests: AtomicU64::new(0),
    };
    listener::start(listen, shared, "rk-admin").map(AdminServer)
}

impl AdminServer {
    /// The bound HTTP address (useful when the port was chosen by the OS).
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    /// Marks the server as serving clients: `/ready` answers 200 from now
    /// on, until shutdown is requested.
    pub fn mark_serving(&self) {
        self.0.service().serving.store(true, Ordering::Relaxed);
    }

    /// Stops accepting and waits for the accept thread (requests in flight
    /// finish on their own threads).
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

/// How long a request thread lingers over a finished connection.
const LINGER: Duration = Duration::from_millis(500);

fn too_busy() -> Response {
    Response::text(503, "too many admin requests in flight\n")
}

fn serve(stream: &mut TcpStream, shared: &Shared, ticket: &Ticket) {
    if let Some(response) = answer(stream, shared, ticket) {
        let head_only = response.1;
        http::write_response(stream, &response.0, head_only);
        ticket.finishing();
        http::finish(stream, LINGER);
    }
}

/// Reads the request and works out the answer, and whether it is for a
/// `HEAD` (no body); `None` when the client went away.
fn answer(stream: &mut TcpStream, shared: &Shared, ticket: &Ticket) -> Option<(Response, bool)> {
    let request = match http::read_request(stream) {
        Ok(r) => r,
        Err(RequestError::Gone) => return None,
        Err(RequestError::TooLarge) => {
            return Some((Response::text(431, "request head too large\n"), false))
        }
        Err(RequestError::Malformed) => return Some((Response::text(400, "bad request\n"), false)),
    };
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let head_only = request.method == "HEAD";
    let response = if request.method == "GET" || head_only {
        route(&request, shared, ticket)
    } else {
        Response::text(405, "only GET and HEAD are served\n")
    };
    Some((response, head_only))
}

/// Routes a request. `/health` and `/ready` are answered from flags, so
/// they never wait for a working place; what asks the client port does.
fn route(request: &Request, shared: &Shared, ticket: &Ticket) -> Response {
    let prefix = shared.settings.command_url.as_str();
    let work = |job: &dyn Fn() -> Response| {
        if ticket.start_work() {
            job()
        } else {
            too_busy()
        }
    };
    match request.path.as_str() {
        "/health" => Response::text(200, "ok\n"),
        "/ready" => ready(shared),
        "/metrics" => work(&|| metrics(shared)),
        path => match path.strip_prefix(prefix) {
            Some("") | Some("/") => command_list(),
            Some(rest) => match rest.strip_prefix('/') {
                Some(name) if !name.contains('/') => work(&|| command(name, shared)),
                _ => not_found(),
            },
            None => not_found(),
        },
    }
}

fn not_found() -> Response {
    Response::text(
        404,
        "not found; try /health, /ready, /metrics or the command URL\n",
    )
}

fn is_ready(shared: &Shared) -> Result<(), &'static str> {
    if shared.gate.stopping() || crate::shutdown::requested() {
        Err("stopping")
    } else if !shared.serving.load(Ordering::Relaxed) {
        Err("starting")
    } else if !crate::replica::role::serving() {
        // An ensemble member without a quorum serves no client.
        Err("no quorum")
    } else {
        Ok(())
    }
}

fn ready(shared: &Shared) -> Response {
    match is_ready(shared) {
        Ok(()) => Response::text(200, "ready\n"),
        Err(state) => Response::text(503, format!("{state}\n")),
    }
}

fn command_list() -> Response {
    let names = commands::COMMANDS
        .iter()
        .map(|c| Json::Str(c.primary.to_owned()))
        .collect();
    let mut o = Json::object();
    o.push("commands", Json::Array(names));
    Response::json(200, o.render())
}

/// Runs one command and shapes the answer as Apache's `CommandResponse`:
/// `command` (the primary name), `error` (null on success), then the data.
fn command(name: &str, shared: &Shared) -> Response {
    let Some(cmd) = commands::find(name) else {
        let mut o = Json::object();
        o.push("command", Json::Str(name.to_owned()));
        o.push("error", Json::Str(format!("Unknown command: {name}")));
        return Response::json(404, o.render());
    };
    match probe::ask(
        shared.settings.client_addr,
        &shared.settings.probe_token,
        cmd.word,
    ) {
        Err(e) => failed(
            cmd,
            503,
            format!(
                "cannot ask the client port {}: {e}",
                shared.settings.client_addr
            ),
        ),
        Ok(text) => match commands::refusal(cmd, &text) {
            Some(Refused::NotWhitelisted(message)) => failed(cmd, 403, message),
            Some(Refused::NotServing) => failed(cmd, 503, crate::fourlw::NOT_SERVING.to_owned()),
            None => succeeded(cmd, cmd.convert(&text)),
        },
    }
}

fn failed(cmd: &AdminCommand, status: u16, error: String) -> Response {
    let mut o = Json::object();
    o.push("command", Json::Str(cmd.primary.to_owned()));
    o.push("error", Json::Str(error));
    Response::json(status, o.render())
}

fn succeeded(cmd: &AdminCommand, data: Json) -> Response {
    let mut error = Json::Null;
    let mut o = Json::object();
    o.push("command", Json::Str(cmd.primary.to_owned()));
    let mut rest = Vec::new();
    if let Json::Object(members) = data {
        for (key, value) in members {
            if key == "error" {
                error = value;
            } else {
                rest.push((key, value));
            }
        }
    }
    let status = if error == Json::Null { 200 } else { 502 };
    o.push("error", error);
    for (key, value) in rest {
        o.push(key, value);
    }
    Response::json(status, o.render())
}

fn metrics(shared: &Shared) -> Response {
    let started = Instant::now();
    let mut out = String::new();
    let mntr = probe::ask(
        shared.settings.client_addr,
        &shared.settings.probe_token,
        "mntr",
    );
    let mntr_ok = match &mntr {
        Ok(text) if text.starts_with("zk_") => {
            prometheus::render_mntr(text, &mut out);
            true
        }
        _ => false,
    };
    prometheus::gauge(
        &mut out,
        "ringkeeper_admin_mntr_up",
        "1 if the mntr four-letter word answered this scrape.",
        u8::from(mntr_ok),
    );
    prometheus::gauge(
        &mut out,
        "ringkeeper_ready",
        "1 while the server serves clients (what /ready reports).",
        u8::from(is_ready(shared).is_ok()),
    );
    prometheus::counter(
        &mut out,
        "ringkeeper_admin_requests_total",
        "HTTP requests the admin server has parsed.",
        shared.requests.load(Ordering::Relaxed),
    );
    prometheus::gauge(
        &mut out,
        "ringkeeper_admin_scrape_duration_seconds",
        "Time taken to gather this scrape.",
        format!("{:.6}", started.elapsed().as_secs_f64()),
    );
    Response {
        status: 200,
        content_type: prometheus::CONTENT_TYPE,
        body: out,
    }
}

#[cfg(test)]
mod tests;
