//! `rk-cli`: a ZooKeeper shell in the spirit of zkCli.sh.
//!
//! ```text
//! rk-cli [-server host:port[,host:port...]] [-timeout ms]            interactive
//! rk-cli -server host:port -c "ls /"                                 one command
//! rk-cli -server host:port ls /                                      one command
//! ```
//! In one-shot mode the exit code tells what happened (see `docs/cli.md`): 0 ok,
//! 1 usage, 2 connection, 3 no node, 4 node exists, 5 bad version, 6 not empty,
//! 7 auth, 8 session, 9 refused by the server, 10 server failure.

use std::io::Write;
use std::sync::mpsc;

use ringkeeper_tools::cli::format::event_line;
use ringkeeper_tools::cli::{ExitClass, Flow, Shell, SESSION_TIMEOUT_MS_DEFAULT};
use rustyline::config::Configurer;
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

const USAGE: &str = "usage: rk-cli [-server host:port[,host:port...]] [-timeout ms] \
                     [-c \"command\" | command args...]";

/// How many lines the history file keeps.
const HISTORY_LINES_MAX: usize = 1000;

struct Options {
    server: String,
    timeout_ms: i32,
    command: Option<String>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut opts = Options {
        server: "localhost:2181".to_string(),
        timeout_ms: SESSION_TIMEOUT_MS_DEFAULT,
        command: None,
    };
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-server" => {
                i += 1;
                opts.server = args.get(i).ok_or("-server needs host:port")?.clone();
            }
            "-timeout" => {
                i += 1;
                let v = args.get(i).ok_or("-timeout needs milliseconds")?;
                opts.timeout_ms = v
                    .parse()
                    .map_err(|_| format!("-timeout needs milliseconds, got {v:?}"))?;
            }
            "-c" => {
                i += 1;
                opts.command = Some(args.get(i).ok_or("-c needs a command")?.clone());
            }
            "-h" | "--help" => return Err(String::new()),
            _ => {
                // The rest is the command, quoted back so that the shell's tokenizer sees
                // each argument as one word.
                let words: Vec<String> = args[i..].iter().map(|w| quote(w)).collect();
                opts.command = Some(words.join(" "));
                break;
            }
        }
        i += 1;
    }
    Ok(opts)
}

/// Quotes a word for the shell's tokenizer.
fn quote(word: &str) -> String {
    let escaped = word.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

fn one_shot(opts: &Options, command: &str) -> i32 {
    // Nobody reads watch events in one-shot mode: the receiver is dropped at once.
    let (tx, _) = mpsc::channel();
    let mut shell = Shell::new(tx, opts.timeout_ms);
    if let Err(e) = shell.connect(&opts.server) {
        eprintln!("{e}");
        return e.class.code();
    }
    let mut out = std::io::stdout().lock();
    let code = match shell.execute(command, &mut out) {
        Ok(_) => ExitClass::Ok.code(),
        Err(e) => {
            let _ = out.flush();
            eprintln!("{e}");
            e.class.code()
        }
    };
    let _ = out.flush();
    shell.close();
    code
}

fn history_path() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".rk_cli_history"))
}

fn interactive(opts: &Options) -> i32 {
    let (tx, rx) = mpsc::channel();
    // Watch events print as they arrive, between prompts, in zkCli's layout.
    std::thread::spawn(move || {
        for ev in rx {
            let line = event_line(&ev);
            if ev.event_type == -1 {
                println!("\n{line}");
            } else {
                println!("\nWATCHER::\n\n{line}");
            }
        }
    });
    let mut shell = Shell::new(tx, opts.timeout_ms);
    println!("Connecting to {}", opts.server);
    if let Err(e) = shell.connect(&opts.server) {
        eprintln!("{e}");
    }
    let mut editor = match DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("rk-cli: cannot start the line editor: {e}");
            return ExitClass::Usage.code();
        }
    };
    let _ = editor.set_max_history_size(HISTORY_LINES_MAX);
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let mut n = 0;
    loop {
        match editor.readline(&shell.prompt(n)) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                    n += 1;
                }
                let mut out = std::io::stdout().lock();
                match shell.execute(&line, &mut out) {
                    Ok(Flow::Quit) => break,
                    Ok(Flow::Continue) => {}
                    Err(e) => {
                        let _ = out.flush();
                        eprintln!("{e}");
                    }
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("rk-cli: reading input: {e}");
                break;
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    shell.close();
    ExitClass::Ok.code()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_options(&args) {
        Ok(o) => o,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("rk-cli: {why}");
            }
            eprintln!("{USAGE}");
            std::process::exit(ExitClass::Usage.code());
        }
    };
    let code = match &opts.command {
        Some(command) => one_shot(&opts, command),
        None => interactive(&opts),
    };
    std::process::exit(code);
}
