//! Feeds arbitrary bytes to the zoo.cfg loader as a configuration file: it must answer a
//! `Config` or a `ConfigError`, never panic. The bytes go through a real file because the
//! loader's public entry takes a path, exactly as the server's command line does.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use ringkeeper_server::config::Config;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("rk-fuzz-zoo-{}.cfg", std::process::id()));
    let Ok(mut file) = std::fs::File::create(&path) else {
        return;
    };
    if file.write_all(data).is_err() {
        return;
    }
    drop(file);
    let _ = Config::load(["ringkeeper".into(), path.clone().into_os_string()]);
});
