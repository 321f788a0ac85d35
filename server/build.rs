//! Records when the binary was built, for the `, built on <date>` that Apache prints after
//! its version in `srvr`, `stat`, `mntr` and `envi` (clients such as go-zookeeper parse it).
//! `SOURCE_DATE_EPOCH` (reproducible-builds.org) overrides the clock, so a rebuild from the
//! same sources can produce the same binary.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // A new build of changed sources gets a new date; an unchanged tree keeps its binary.
    println!("cargo:rerun-if-changed=src");
    let epoch_s = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value.trim().parse::<u64>().unwrap_or_else(|_| {
            panic!("SOURCE_DATE_EPOCH must be whole seconds since 1970, not {value:?}")
        }),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    println!("cargo:rustc-env=RINGKEEPER_BUILD_EPOCH_S={epoch_s}");
}
