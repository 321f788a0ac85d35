//! The shell behind `rk-cli`: parses one command line, runs it over a [`Client`] and
//! prints what zkCli would. The binary adds line editing, history and one-shot mode; all
//! behaviour lives here so that tests can drive it.

pub mod errors;
pub mod format;
pub mod parse;

use std::io::Write;
use std::sync::mpsc::Sender;

use ringkeeper_engine::jute::records::{
    CreateRequest, CreateTtlRequest, DeleteRequest, ExistsRequest, GetAclRequest,
    GetChildren2Request, GetChildrenRequest, GetDataRequest, Request, Response, SetAclRequest,
    SetDataRequest, SyncRequest,
};
use ringkeeper_engine::{Acl, CreateMode, ErrorCode};

use crate::client::{Client, ClientError, Event};
pub use errors::{CliError, ExitClass};
use format::{children_list, data_text, write_acl, write_stat};
use parse::{parse_acl, parse_args, tokenize, Args};

/// The session timeout rk-cli asks for unless told otherwise (zkCli's default).
pub const SESSION_TIMEOUT_MS_DEFAULT: i32 = 30_000;

/// What the caller does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// The commands and their usage lines, shown by `help` and after a usage error.
pub const COMMANDS: &[(&str, &str)] = &[
    ("addauth", "addauth scheme auth"),
    ("close", "close"),
    ("connect", "connect host:port[,host:port...]"),
    ("create", "create [-s] [-e] [-c] [-t ttl] path [data] [acl]"),
    ("delete", "delete [-v version] path"),
    ("deleteall", "deleteall path"),
    ("get", "get [-s] [-w] path"),
    ("getAcl", "getAcl [-s] path"),
    ("help", "help"),
    ("ls", "ls [-s] [-w] [-R] path"),
    ("quit", "quit"),
    ("set", "set [-s] [-v version] path data"),
    ("setAcl", "setAcl [-s] [-v version] [-R] path acl"),
    ("stat", "stat [-w] path"),
    ("sync", "sync path"),
];

fn usage_of(cmd: &str) -> String {
    COMMANDS
        .iter()
        .find(|(c, _)| *c == cmd)
        .map(|(_, u)| format!("usage: {u}"))
        .unwrap_or_else(|| format!("unknown command {cmd:?}; `help` lists the commands"))
}

/// An rk-cli session: the connection (if any) and where watch events go.
pub struct Shell {
    client: Option<Client>,
    events: Sender<Event>,
    session_timeout_ms: i32,
}

fn io_err(e: std::io::Error) -> CliError {
    CliError {
        class: ExitClass::Usage,
        message: format!("writing output: {e}"),
    }
}

impl Shell {
    /// A shell with no connection yet. Watch events and connection changes go to `events`.
    pub fn new(events: Sender<Event>, session_timeout_ms: i32) -> Self {
        Shell {
            client: None,
            events,
            session_timeout_ms,
        }
    }

    /// Opens a session to `connect_string`, closing the current one.
    pub fn connect(&mut self, connect_string: &str) -> Result<(), CliError> {
        if let Some(mut old) = self.client.take() {
            old.close();
        }
        let client = Client::connect(connect_string, self.session_timeout_ms, self.events.clone())
            .map_err(|e| CliError::from_client(&e, ""))?;
        self.client = Some(client);
        Ok(())
    }

    /// The prompt zkCli shows: `[zk: host:port(CONNECTED) n] `.
    pub fn prompt(&self, n: usize) -> String {
        match self.client.as_ref().and_then(Client::server) {
            Some(server) => format!("[rk: {server}(CONNECTED) {n}] "),
            None => format!("[rk: (DISCONNECTED) {n}] "),
        }
    }

    fn client(&mut self) -> Result<&mut Client, CliError> {
        self.client.as_mut().ok_or(CliError {
            class: ExitClass::Connection,
            message: "Not connected: use `connect host:port`".to_string(),
        })
    }

    fn call(&mut self, req: Request, path: &str) -> Result<Response, CliError> {
        self.client()?
            .call(&req)
            .map_err(|e| CliError::from_client(&e, path))
    }

    /// Runs one command line, writing its output to `out`.
    pub fn execute(&mut self, line: &str, out: &mut dyn Write) -> Result<Flow, CliError> {
        let words = tokenize(line).map_err(CliError::usage)?;
        let Some((cmd, rest)) = words.split_first() else {
            return Ok(Flow::Continue);
        };
        let spec = |allowed: &str, with_value: &str, min: usize, max: usize| {
            let args = parse_args(rest, allowed, with_value)
                .map_err(|e| CliError::usage(format!("{e}\n{}", usage_of(cmd))))?;
            if args.positional.len() < min || args.positional.len() > max {
                return Err(CliError::usage(usage_of(cmd)));
            }
            Ok(args)
        };
        match cmd.as_str() {
            "quit" | "exit" => return Ok(Flow::Quit),
            "help" => {
                for (_, u) in COMMANDS {
                    writeln!(out, "\t{u}").map_err(io_err)?;
                }
            }
            "connect" => {
                let a = spec("", "", 1, 1)?;
                self.connect(&a.positional[0])?;
            }
            "close" => {
                spec("", "", 0, 0)?;
                if let Some(mut c) = self.client.take() {
                    c.close();
                }
            }
            "ls" => self.ls(&spec("swR", "", 1, 1)?, out)?,
            "get" => self.get(&spec("sw", "", 1, 1)?, out)?,
            "set" => self.set(&spec("s", "v", 2, 2)?, out)?,
            "create" => self.create(&spec("sec", "t", 1, 3)?, out)?,
            "delete" => {
                let a = spec("", "v", 1, 1)?;
                let version = a.number::<i32>('v').map_err(CliError::usage)?;
                self.delete(&a.positional[0], version.unwrap_or(-1))?;
            }
            "deleteall" => {
                let a = spec("", "", 1, 1)?;
                self.delete_all(&a.positional[0])?;
            }
            "stat" => {
                let a = spec("w", "", 1, 1)?;
                let path = &a.positional[0];
                let req = Request::Exists(ExistsRequest {
                    path: path.clone(),
                    watch: a.has('w'),
                });
                if let Response::Exists(r) = self.call(req, path)? {
                    write_stat(out, &r.stat).map_err(io_err)?;
                }
            }
            "getAcl" => {
                let a = spec("s", "", 1, 1)?;
                let path = &a.positional[0];
                let req = Request::GetAcl(GetAclRequest { path: path.clone() });
                if let Response::GetAcl(r) = self.call(req, path)? {
                    write_acl(out, &r.acl).map_err(io_err)?;
                    if a.has('s') {
                        write_stat(out, &r.stat).map_err(io_err)?;
                    }
                }
            }
            "setAcl" => self.set_acl(&spec("sR", "v", 2, 2)?, out)?,
            "addauth" => {
                let a = spec("", "", 1, 2)?;
                let auth = a.positional.get(1).map(String::as_bytes).unwrap_or(b"");
                let scheme = a.positional[0].clone();
                self.client()?
                    .add_auth(&scheme, auth)
                    .map_err(|e| CliError::from_client(&e, ""))?;
            }
            "sync" => {
                let a = spec("", "", 1, 1)?;
                let path = &a.positional[0];
                let req = Request::Sync(SyncRequest { path: path.clone() });
                self.call(req, path)?;
                writeln!(out, "Sync is OK").map_err(io_err)?;
            }
            other => return Err(CliError::usage(usage_of(other))),
        }
        Ok(Flow::Continue)
    }

    fn ls(&mut self, a: &Args, out: &mut dyn Write) -> Result<(), CliError> {
        let path = &a.positional[0];
        if a.has('R') {
            // Breadth-first, parents before children, as Apache's visitSubTreeDFS prints.
            let mut queue = vec![path.clone()];
            let mut i = 0;
            while i < queue.len() {
                let p = queue[i].clone();
                i += 1;
                let req = Request::GetChildren(GetChildrenRequest {
                    path: p.clone(),
                    watch: a.has('w'),
                });
                let mut children = match self.call(req, &p)? {
                    Response::GetChildren(r) => r.children,
                    _ => Vec::new(),
                };
                children.sort();
                writeln!(out, "{p}").map_err(io_err)?;
                let base = if p == "/" { "" } else { p.as_str() };
                queue.extend(children.iter().map(|c| format!("{base}/{c}")));
            }
            return Ok(());
        }
        let req = Request::GetChildren2(GetChildren2Request {
            path: path.clone(),
            watch: a.has('w'),
        });
        if let Response::GetChildren2(r) = self.call(req, path)? {
            writeln!(out, "{}", children_list(&r.children)).map_err(io_err)?;
            if a.has('s') {
                write_stat(out, &r.stat).map_err(io_err)?;
            }
        }
        Ok(())
    }

    fn get(&mut self, a: &Args, out: &mut dyn Write) -> Result<(), CliError> {
        let path = &a.positional[0];
        let req = Request::GetData(GetDataRequest {
            path: path.clone(),
            watch: a.has('w'),
        });
        if let Response::GetData(r) = self.call(req, path)? {
            writeln!(out, "{}", data_text(r.data.as_deref())).map_err(io_err)?;
            if a.has('s') {
                write_stat(out, &r.stat).map_err(io_err)?;
            }
        }
        Ok(())
    }

    fn set(&mut self, a: &Args, out: &mut dyn Write) -> Result<(), CliError> {
        let path = &a.positional[0];
        let version = a.number::<i32>('v').map_err(CliError::usage)?;
        let req = Request::SetData(SetDataRequest {
            path: path.clone(),
            data: Some(a.positional[1].as_bytes().to_vec()),
            version: version.unwrap_or(-1),
        });
        if let Response::SetData(r) = self.call(req, path)? {
            if a.has('s') {
                write_stat(out, &r.stat).map_err(io_err)?;
            }
        }
        Ok(())
    }

    fn create(&mut self, a: &Args, out: &mut dyn Write) -> Result<(), CliError> {
        let path = a.positional[0].clone();
        let ttl = a.number::<i64>('t').map_err(CliError::usage)?;
        let (seq, eph, container) = (a.has('s'), a.has('e'), a.has('c'));
        let mode = match (eph, container, ttl.is_some(), seq) {
            (false, false, false, false) => CreateMode::Persistent,
            (false, false, false, true) => CreateMode::PersistentSequential,
            (true, false, false, false) => CreateMode::Ephemeral,
            (true, false, false, true) => CreateMode::EphemeralSequential,
            (false, true, false, false) => CreateMode::Container,
            (false, false, true, false) => CreateMode::PersistentWithTtl,
            (false, false, true, true) => CreateMode::PersistentSequentialWithTtl,
            _ => {
                return Err(CliError::usage(
                    "-e, -c and -t exclude each other, and -c excludes -s",
                ))
            }
        };
        // zkCli creates a node without data argument with null data.
        let data = a.positional.get(1).map(|d| d.as_bytes().to_vec());
        let acl = match a.positional.get(2) {
            Some(text) => parse_acl(text).map_err(CliError::usage)?,
            None => Acl::open_unsafe(),
        };
        let flags = mode.flags();
        let req = match (mode, ttl) {
            (_, Some(ttl)) => Request::CreateTtl(CreateTtlRequest {
                path: path.clone(),
                data,
                acl,
                flags,
                ttl,
            }),
            (CreateMode::Container, None) => Request::CreateContainer(CreateRequest {
                path: path.clone(),
                data,
                acl,
                flags,
            }),
            _ => Request::Create(CreateRequest {
                path: path.clone(),
                data,
                acl,
                flags,
            }),
        };
        let created = match self.call(req, &path)? {
            Response::Create(r) => r.path,
            Response::Create2(r) => r.path,
            _ => path,
        };
        writeln!(out, "Created {created}").map_err(io_err)
    }

    fn delete(&mut self, path: &str, version: i32) -> Result<(), CliError> {
        let req = Request::Delete(DeleteRequest {
            path: path.to_string(),
            version,
        });
        self.call(req, path).map(|_| ())
    }

    /// Deletes `path` and everything below it, deepest first. A node that vanished in
    /// between (someone else deleted it) is not an error.
    fn delete_all(&mut self, path: &str) -> Result<(), CliError> {
        let mut order = vec![path.to_string()];
        let mut i = 0;
        while i < order.len() {
            let p = order[i].clone();
            i += 1;
            let req = Request::GetChildren(GetChildrenRequest {
                path: p.clone(),
                watch: false,
            });
            let children = match self.client()?.call(&req) {
                Ok(Response::GetChildren(r)) => r.children,
                Ok(_) => Vec::new(),
                Err(ClientError::Server(ErrorCode::NoNode)) if p != path => Vec::new(),
                Err(e) => return Err(CliError::from_client(&e, &p)),
            };
            let base = if p == "/" { "" } else { p.as_str() };
            order.extend(children.iter().map(|c| format!("{base}/{c}")));
        }
        for p in order.iter().rev() {
            if p == "/" {
                continue;
            }
            let req = Request::Delete(DeleteRequest {
                path: p.clone(),
                version: -1,
            });
            match self.client()?.call(&req) {
                Ok(_) => {}
                Err(ClientError::Server(ErrorCode::NoNode)) if p != path => {}
                Err(e) => return Err(CliError::from_client(&e, p)),
            }
        }
        Ok(())
    }

    fn set_acl(&mut self, a: &Args, out: &mut dyn Write) -> Result<(), CliError> {
        let path = a.positional[0].clone();
        let acl = parse_acl(&a.positional[1]).map_err(CliError::usage)?;
        let version = a.number::<i32>('v').map_err(CliError::usage)?.unwrap_or(-1);
        let mut targets = vec![path.clone()];
        if a.has('R') {
            let mut i = 0;
            while i < targets.len() {
                let p = targets[i].clone();
                i += 1;
                let req = Request::GetChildren(GetChildrenRequest {
                    path: p.clone(),
                    watch: false,
                });
                if let Response::GetChildren(r) = self.call(req, &p)? {
                    let base = if p == "/" { "" } else { p.as_str() };
                    targets.extend(r.children.iter().map(|c| format!("{base}/{c}")));
                }
            }
        }
        for p in targets {
            let req = Request::SetAcl(SetAclRequest {
                path: p.clone(),
                acl: acl.clone(),
                version,
            });
            if let Response::SetAcl(r) = self.call(req, &p)? {
                if a.has('s') && p == path {
                    write_stat(out, &r.stat).map_err(io_err)?;
                }
            }
        }
        Ok(())
    }

    /// Closes the session, if any.
    pub fn close(&mut self) {
        if let Some(mut c) = self.client.take() {
            c.close();
        }
    }
}
