//! The metrics provider keys (`metricsProvider.*`), read the way Apache's
//! `MetricsProviderBootstrap` and `PrometheusMetricsProvider` read them.
//!
//! Apache loads the class named by `metricsProvider.className`; ringkeeper
//! has one built-in equivalent, the Prometheus exporter, chosen by Apache's
//! class name so that an Apache zoo.cfg keeps working unchanged.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::keys;
use super::settings::Settings;
use super::ConfigError;

/// The class name that selects Apache's (and ringkeeper's) Prometheus exporter.
pub const PROMETHEUS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";
/// Apache's providers that export nothing over HTTP: the default one (its
/// values reach `mntr` only, as ringkeeper's always do) and the null one.
const PROVIDERS_WITHOUT_PORT: [&str; 2] = [
    "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider",
    "org.apache.zookeeper.metrics.impl.NullMetricsProvider",
];
/// `PrometheusMetricsProvider`'s default `httpPort`.
pub const DEFAULT_METRICS_PORT: u16 = 7000;

/// Whether and where the Prometheus exporter listens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `metricsProvider.httpHost:metricsProvider.httpPort` when the
    /// Prometheus provider is configured; `None` otherwise.
    pub prometheus: Option<SocketAddr>,
}

impl MetricsConfig {
    /// Reads the keys. An unknown provider class is not an error, unlike in
    /// Apache (which fails to start): ringkeeper cannot load Java classes,
    /// and a monitoring setting must not keep clients from being served. It
    /// is reported as a warning instead.
    pub(super) fn from_settings(
        settings: &Settings,
        warnings: &mut Vec<String>,
    ) -> Result<MetricsConfig, ConfigError> {
        let Some(class) = settings.get(keys::METRICS_CLASS_NAME) else {
            return Ok(MetricsConfig::default());
        };
        let class_name = class.value.trim();
        if class_name != PROMETHEUS_PROVIDER {
            if !PROVIDERS_WITHOUT_PORT.contains(&class_name) {
                warnings.push(format!(
                    "{}={class_name} ({}): ringkeeper has no such metrics provider; only {PROMETHEUS_PROVIDER} serves metrics, so no metrics port is opened",
                    keys::METRICS_CLASS_NAME,
                    class.origin
                ));
            }
            return Ok(MetricsConfig::default());
        }
        let port = settings
            .port(keys::METRICS_HTTP_PORT)?
            .unwrap_or(DEFAULT_METRICS_PORT);
        let address = match settings.get(keys::METRICS_HTTP_HOST) {
            Some(host) => super::resolve_host(host.value.trim(), port)
                .map_err(|reason| host.invalid(reason))?,
            // Apache's default: every interface.
            None => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        };
        Ok(MetricsConfig {
            prometheus: Some(address),
        })
    }
}
