//! PKCS#8 keys encrypted with PKCS#12's password-based encryption (RFC 7292 appendix B and
//! C): `pbeWithSHAAnd3-KeyTripleDES-CBC`, the scheme `openssl pkcs8 -topk8 -v1
//! PBE-SHA1-3DES` writes and Java's `EncryptedPrivateKeyInfo` (so Apache's PemReader)
//! opens. The pkcs8 crate reads only PBES2; the key derivation is the pkcs12 crate's.

use cbc::cipher::{block_padding::Pkcs7, BlockModeDecrypt, KeyIvInit};
use pkcs12::kdf::{derive_key_utf8, Pkcs12KeyType};
use pkcs12::pbe_params::{EncryptedPrivateKeyInfo, Pkcs12PbeParams};
use pkcs8::der::oid::ObjectIdentifier;
use pkcs8::der::Decode;

const PBE_SHA1_3DES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");
const KEY_BYTES: usize = 24;
const IV_BYTES: usize = 8;
/// The most key derivation rounds accepted: tools write 2048 (OpenSSL) to 10000 (Java);
/// a larger count could only stall start-up.
pub const ITERATIONS_MAX: i32 = 10_000_000;

/// What became of an `EncryptedPrivateKeyInfo`.
pub enum Decrypted {
    /// Another scheme encrypted it.
    OtherScheme,
    WrongPassword,
    /// The PKCS#8 key.
    Key(Vec<u8>),
}

/// Opens `der` if PBE-SHA1-3DES encrypted it; `Err` for a damaged one.
pub fn decrypt(der: &[u8], password: &str) -> Result<Decrypted, String> {
    let Ok(info) = EncryptedPrivateKeyInfo::from_der(der) else {
        return Ok(Decrypted::OtherScheme);
    };
    if info.encryption_algorithm.oid != PBE_SHA1_3DES {
        return Ok(Decrypted::OtherScheme);
    }
    let params: Pkcs12PbeParams = info
        .encryption_algorithm
        .parameters
        .as_ref()
        .ok_or("PBE-SHA1-3DES without parameters")?
        .decode_as()
        .map_err(|e| format!("unreadable PBE-SHA1-3DES parameters: {e}"))?;
    if !(1..=ITERATIONS_MAX).contains(&params.iterations) {
        return Err(format!(
            "PBE-SHA1-3DES with {} iterations; at most {ITERATIONS_MAX} are accepted",
            params.iterations
        ));
    }
    let salt = params.salt.as_bytes();
    let derive = |kind, len| {
        derive_key_utf8::<sha1::Sha1>(password, salt, kind, params.iterations, len)
            .map_err(|e| format!("key derivation: {e}"))
    };
    let key = derive(Pkcs12KeyType::EncryptionKey, KEY_BYTES)?;
    let iv = derive(Pkcs12KeyType::Iv, IV_BYTES)?;
    let cipher = cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
        .map_err(|_| "3DES key or IV of the wrong length".to_string())?;
    // A wrong password shows as bad padding or, rarely, as padding that happens to fit
    // around bytes that are no PKCS#8 key.
    Ok(
        match cipher.decrypt_padded_vec::<Pkcs7>(info.encrypted_data.as_bytes()) {
            Ok(plain) if pkcs8::PrivateKeyInfoRef::from_der(&plain).is_ok() => {
                Decrypted::Key(plain)
            }
            _ => Decrypted::WrongPassword,
        },
    )
}
