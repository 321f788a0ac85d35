//! The accept loop the admin server and the metrics port share: one thread
//! accepts, each connection runs on its own thread, and each port's
//! connection table (`connections`) decides who is admitted: a new
//! connection evicts the oldest idle one rather than being refused, so idle
//! or slow clients cannot deny a probe, and at most
//! `connections::WORKING_MAX` connections do real work at once.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::connections::{Connections, Ticket};

/// The stop flag and the connection table an accept loop keeps for its
/// service.
#[derive(Default)]
pub struct Gate {
    stopping: AtomicBool,
    connections: Arc<Connections>,
}

impl Gate {
    /// True once `stop` was called.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// The connection table of this port.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Makes the accept loop end at its next connection.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }
}

/// How long the accept thread lingers over a connection it turns away; it
/// serves no one meanwhile, so this stays short.
const BUSY_LINGER: Duration = Duration::from_millis(50);

/// What an accept loop serves.
pub trait Service: Send + Sync + 'static {
    fn gate(&self) -> &Gate;
    /// Answers one connection, on its own thread; `ticket` is its place in
    /// the connection table (claim a working place with `start_work`).
    fn serve(&self, stream: &mut TcpStream, ticket: &Ticket);
    /// The answer to a connection that cannot be served now (503); the accept
    /// loop sends it to a connection it cannot admit (out of descriptors).
    fn too_busy(&self) -> super::http::Response;
}

/// A bound port with its accept thread.
pub struct Running<S: Service> {
    local_addr: SocketAddr,
    service: Arc<S>,
    thread: Option<JoinHandle<()>>,
}

/// Binds `listen` and starts the accept thread.
pub fn start<S: Service>(
    listen: SocketAddr,
    service: S,
    thread_name: &str,
) -> std::io::Result<Running<S>> {
    let socket = TcpListener::bind(listen)?;
    let local_addr = socket.local_addr()?;
    let service = Arc::new(service);
    let accepting = Arc::clone(&service);
    let request_thread_name = format!("{thread_name}-req");
    let thread = std::thread::Builder::new()
        .name(thread_name.to_owned())
        .spawn(move || accept_loop(socket, accepting, request_thread_name))?;
    Ok(Running {
        local_addr,
        service,
        thread: Some(thread),
    })
}

impl<S: Service> Running<S> {
    /// The bound address (useful when the port was chosen by the OS).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn service(&self) -> &S {
        &self.service
    }

    /// Tells the service to stop, wakes the accept thread blocked in
    /// accept(2) with one connection so that it sees it, and waits for it.
    /// Requests in flight finish on their own threads.
    pub fn stop(mut self) {
        self.service.gate().stop();
        let _ = TcpStream::connect_timeout(
            &super::probe::loopback_for(self.local_addr),
            Duration::from_secs(1),
        );
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop<S: Service>(listener: TcpListener, service: Arc<S>, request_thread_name: String) {
    for stream in listener.incoming() {
        let gate = service.gate();
        if gate.stopping() {
            return;
        }
        let Ok(mut stream) = stream else {
            // Out of descriptors or an aborted handshake: pause briefly
            // rather than spin, then keep serving.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let Some(ticket) = Connections::admit(&gate.connections, &stream) else {
            super::http::write_response(&mut stream, &service.too_busy(), false);
            super::http::finish(&mut stream, BUSY_LINGER);
            continue;
        };
        let worker = Arc::clone(&service);
        // A failed spawn drops the closure, and with it the ticket and the
        // socket: the client sees the connection close.
        let _ = std::thread::Builder::new()
            .name(request_thread_name.clone())
            .spawn(move || worker.serve(&mut stream, &ticket));
    }
}
