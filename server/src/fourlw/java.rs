//! How Java prints the values that appear in four-letter-word answers, so
//! that scripts written against Apache ZooKeeper parse ours unchanged.

use std::net::{IpAddr, SocketAddr};

/// `Double.toString`: always a decimal point, scientific notation (`1.0E7`)
/// outside [10^-3, 10^7).
pub fn double(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .to_owned();
    }
    let magnitude = value.abs();
    if (1e-3..1e7).contains(&magnitude) {
        let text = format!("{value}");
        if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        }
    } else {
        let text = format!("{value:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_owned()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exponent}")
    }
}

/// `Long.toHexString`: lowercase, no leading zeros, negatives as their
/// 64-bit two's complement.
pub fn hex(value: i64) -> String {
    format!("{:x}", value as u64)
}

/// `InetSocketAddress.toString` for an address without a host name:
/// `/127.0.0.1:2181`, or `/[0:0:0:0:0:0:0:1]:2181` for IPv6 (Java writes
/// every group, without `::` compression). IPv4-mapped IPv6 addresses are
/// printed as IPv4, since Java converts them when it accepts a connection.
pub fn socket_address(addr: &SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => format!("/{ip}:{}", addr.port()),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => format!("/{v4}:{}", addr.port()),
            None => {
                let groups: Vec<String> = ip.segments().iter().map(|g| format!("{g:x}")).collect();
                format!("/[{}]:{}", groups.join(":"), addr.port())
            }
        },
    }
}

/// `Date.toString` in UTC, e.g. `Thu Jan 01 00:00:00 UTC 1970`, from
/// milliseconds since the Unix epoch.
pub fn date_utc(epoch_ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let seconds = epoch_ms.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = DAYS[days.rem_euclid(7) as usize];
    format!(
        "{weekday} {} {day:02} {:02}:{:02}:{:02} UTC {year}",
        MONTHS[(month - 1) as usize],
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month,
/// day), with Howard Hinnant's era-based algorithm (exact for all i64 days
/// that fit a year in i64).
pub(super) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Apache's `AvgMinMaxCounter.getAvg` rounding: four decimals, half up.
pub fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_like_java() {
        assert_eq!(double(0.0), "0.0");
        assert_eq!(double(2.0), "2.0");
        assert_eq!(double(0.7561), "0.7561");
        assert_eq!(double(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(double(12_345_678.0), "1.2345678E7");
        assert_eq!(double(1e7), "1.0E7");
        assert_eq!(double(0.0001), "1.0E-4");
        assert_eq!(double(-2.5), "-2.5");
        assert_eq!(double(f64::NAN), "NaN");
    }

    #[test]
    fn hex_like_long_to_hex_string() {
        assert_eq!(hex(0), "0");
        assert_eq!(hex(0x1_0000_0005), "100000005");
        assert_eq!(hex(-1), "ffffffffffffffff");
    }

    #[test]
    fn socket_addresses_like_inet_socket_address() {
        assert_eq!(
            socket_address(&"127.0.0.1:40512".parse().unwrap()),
            "/127.0.0.1:40512"
        );
        assert_eq!(
            socket_address(&"[::1]:2181".parse().unwrap()),
            "/[0:0:0:0:0:0:0:1]:2181"
        );
        assert_eq!(
            socket_address(&"[::ffff:10.0.0.1]:5".parse().unwrap()),
            "/10.0.0.1:5"
        );
        assert_eq!(
            socket_address(&"[fe80::1:2]:7".parse().unwrap()),
            "/[fe80:0:0:0:0:0:1:2]:7"
        );
    }

    #[test]
    fn dates_like_java_date_in_utc() {
        assert_eq!(date_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
        // 2024-02-29T12:34:56.789Z, a leap day and a Thursday.
        assert_eq!(date_utc(1_709_210_096_789), "Thu Feb 29 12:34:56 UTC 2024");
        assert_eq!(date_utc(-1), "Wed Dec 31 23:59:59 UTC 1969");
        // 2000-03-01, just after a 400-year leap day.
        assert_eq!(date_utc(951_868_800_000), "Wed Mar 01 00:00:00 UTC 2000");
    }

    #[test]
    fn averages_round_to_four_places() {
        assert_eq!(round4(1.0 / 3.0), 0.3333);
        assert_eq!(round4(2.0 / 3.0), 0.6667);
        assert_eq!(round4(5.0), 5.0);
    }
}
