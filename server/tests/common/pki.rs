//! Certificates made at test time (rcgen): a CA, and certificates it signs for TLS clients
//! (`tls.rs`) and ensemble members (`ensemble_secure.rs`), as PEM in a directory removed on drop.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA and certificates it signed, as PEM, in a directory removed on drop.
pub struct Pki {
    pub dir: PathBuf,
    pub ca_pem: String,
    pub ca: rcgen::Certificate,
    pub ca_key: KeyPair,
}

/// A client identity: certificate chain and key, in DER for rustls.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Pki {
    pub fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("rk-tls-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "ringkeeper test CA");
        let ca = params.self_signed(&ca_key).unwrap();
        Pki {
            dir,
            ca_pem: ca.pem(),
            ca,
            ca_key,
        }
    }

    /// A certificate signed by the CA; `dn` lists (type, value) from the first RDN on.
    pub fn issue(&self, dn: &[(DnType, &str)], ip: Option<Ipv4Addr>) -> (String, String, Identity) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in dn {
            params.distinguished_name.push(t.clone(), *v);
        }
        if let Some(ip) = ip {
            params
                .subject_alt_names
                .push(rcgen::SanType::IpAddress(ip.into()));
        }
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let identity = Identity {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        };
        (cert.pem(), key.serialize_pem(), identity)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A member's PEM key store (key, then certificate) in `dir`, for a certificate whose
    /// subject alternative names are `ips`; returns its path.
    pub fn member_key_store(&self, name: &str, ips: &[Ipv4Addr], dir: &Path) -> PathBuf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        for ip in ips {
            params
                .subject_alt_names
                .push(rcgen::SanType::IpAddress((*ip).into()));
        }
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
        path
    }

    pub fn client(&self, dn: &[(DnType, &str)]) -> Identity {
        self.issue(dn, None).2
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
