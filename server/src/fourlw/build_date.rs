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
    let days = epoch_s / 86_400;
    let minute_of_day = (epoch_s % 86_400) / 60;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
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
