//! The accept loop the admin server and the metrics port share: one thread
//! accepts, each request runs on its own thread, and at most a fixed number
//! run at once (the rest are turned away at once by the service).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The flag and counter an accept loop keeps for its service.
#[derive(Debug, Default)]
pub struct Gate {
    stopping: AtomicBool,
    in_flight: AtomicUsize,
}

impl Gate {
    /// True once `stop` was called.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Makes the accept loop end at its next connection.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }
}

/// What an accept loop serves.
pub trait Service: Send + Sync + 'static {
    fn gate(&self) -> &Gate;
    /// Answers one connection, on its own thread.
    fn serve(&self, stream: &mut TcpStream);
    /// Turns a connection away because too many are in flight, on the
    /// accept thread: it must be quick.
    fn busy(&self, stream: &mut TcpStream);
}

/// A bound port with its accept thread.
pub struct Running<S: Service> {
    local_addr: SocketAddr,
    service: Arc<S>,
    thread: Option<JoinHandle<()>>,
}

/// Binds `listen` and starts the accept thread; at most `in_flight_max`
/// connections are served at once.
pub fn start<S: Service>(
    listen: SocketAddr,
    service: S,
    in_flight_max: usize,
    thread_name: &str,
) -> std::io::Result<Running<S>> {
    let socket = TcpListener::bind(listen)?;
    let local_addr = socket.local_addr()?;
    let service = Arc::new(service);
    let accepting = Arc::clone(&service);
    let request_thread_name = format!("{thread_name}-req");
    let thread = std::thread::Builder::new()
        .name(thread_name.to_owned())
        .spawn(move || accept_loop(socket, accepting, in_flight_max, request_thread_name))?;
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

fn accept_loop<S: Service>(
    listener: TcpListener,
    service: Arc<S>,
    in_flight_max: usize,
    request_thread_name: String,
) {
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
        if gate.in_flight.fetch_add(1, Ordering::AcqRel) >= in_flight_max {
            gate.in_flight.fetch_sub(1, Ordering::AcqRel);
            service.busy(&mut stream);
            continue;
        }
        let worker = Arc::clone(&service);
        let spawned = std::thread::Builder::new()
            .name(request_thread_name.clone())
            .spawn(move || {
                let _slot = Slot(&worker.gate().in_flight);
                worker.serve(&mut stream);
            });
        if spawned.is_err() {
            gate.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Gives a connection slot back when a request thread ends, however it ends.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
