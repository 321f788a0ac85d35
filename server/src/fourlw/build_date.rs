//! The version line as Apache's `Version.getFullVersion()` words it:
//! `<version>, built on <yyyy-MM-dd HH:mm> UTC`, with the build date `build.rs` recorded.

/// Seconds since 1970 when the binary was built (or `SOURCE_DATE_EPOCH`).
const BUILD_EPOCH_S: &str = env!("RINGKEEPER_BUILD_EPOCH_S");

/// `version` followed by the build date, as `srvr`, `stat`, `mntr` and `envi` print it.
pub fn full_version(version: &str) -> String {
    // build.rs writes a whole number, so the fallback is never taken.
    let epoch_s = BUILD_EPOCH_S.parse().unwrap_or(0);
    format!("{version}, built on {}", utc_minutes(epoch_s))
}

/// `yyyy-MM-dd HH:mm UTC`, Apache's build-date layout since 3.7.
fn utc_minutes(epoch_s: u64) -> String {
    let epoch_s = i64::try_from(epoch_s).unwrap_or(i64::MAX);
    let minute_of_day = epoch_s.rem_euclid(86_400) / 60;
    let (year, month, day) = super::java::civil_from_days(epoch_s.div_euclid(86_400));
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_apache_prints_them() {
        assert_eq!(utc_minutes(0), "1970-01-01 00:00 UTC");
        // The build date of Debian's Apache 3.8 package, as its srvr prints it.
        assert_eq!(utc_minutes(1_735_494_840), "2024-12-29 17:54 UTC");
        assert_eq!(utc_minutes(951_782_400 + 59), "2000-02-29 00:00 UTC");
        assert_eq!(utc_minutes(4_107_542_399), "2100-02-28 23:59 UTC");
        assert_eq!(utc_minutes(1_709_251_199), "2024-02-29 23:59 UTC");
    }

    #[test]
    fn the_full_version_ends_with_the_build_date() {
        let full = full_version("3.8.4-ringkeeper-0.1.0");
        let date = full
            .strip_prefix("3.8.4-ringkeeper-0.1.0, built on ")
            .expect("Apache's layout");
        assert_eq!(date.len(), "yyyy-MM-dd HH:mm UTC".len(), "{date}");
        assert!(date.ends_with(" UTC"), "{date}");
    }
}
