//! The default [`CryptoProvider`], on [aws-lc-rs](https://docs.rs/aws-lc-rs) (AWS-LC,
//! built from source: no system OpenSSL). Chosen because it covers everything JOSE
//! needs in one well-maintained crate that rustls also defaults to: constant-time RSA
//! signing (unlike the pure-Rust `rsa` crate, RUSTSEC-2023-0071), RSA key generation
//! (which *ring* lacks), ECDSA P-256 and Ed25519.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair,
    VerificationAlgorithm,
};

use super::{Algorithm, CryptoProvider, JoseError, Jwk, JwsAlgorithm, SigningKey, VerifyingKey};

/// RSA keys under this many bytes of modulus (2048 bits) are refused.
const MIN_RSA_MODULUS: usize = 256;

/// Every algorithm of [`Algorithm`], on aws-lc-rs.
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        algorithms: vec![&RS256, &PS256, &ES256, &EDDSA],
    }
}

/// RS256 on aws-lc-rs.
pub static RS256: Rsa = Rsa(Algorithm::Rs256);
/// PS256 on aws-lc-rs.
pub static PS256: Rsa = Rsa(Algorithm::Ps256);
/// ES256 on aws-lc-rs.
pub static ES256: Es256 = Es256(());
/// EdDSA (Ed25519) on aws-lc-rs.
pub static EDDSA: EdDsa = EdDsa(());

fn key_error(what: &str) -> impl FnOnce(aws_lc_rs::error::KeyRejected) -> JoseError + '_ {
    move |e| JoseError::Key(format!("{what}: {e}"))
}

/// RS256 or PS256 (use [`RS256`] or [`PS256`]).
#[derive(Debug)]
pub struct Rsa(Algorithm);

impl Rsa {
    fn encoding(&self) -> &'static dyn signature::RsaEncoding {
        match self.0 {
            Algorithm::Ps256 => &signature::RSA_PSS_SHA256,
            _ => &signature::RSA_PKCS1_SHA256,
        }
    }

    fn parameters(&self) -> &'static signature::RsaParameters {
        match self.0 {
            Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            _ => &signature::RSA_PKCS1_2048_8192_SHA256,
        }
    }

    fn wrap(&self, pair: RsaKeyPair) -> Result<Box<dyn SigningKey>, JoseError> {
        if pair.public_modulus_len() < MIN_RSA_MODULUS {
            return Err(JoseError::Key(
                "RSA keys must have at least 2048 bits".into(),
            ));
        }
        Ok(Box::new(RsaKey {
            algorithm: self.0,
            encoding: self.encoding(),
            pair,
        }))
    }
}

impl JwsAlgorithm for Rsa {
    fn algorithm(&self) -> Algorithm {
        self.0
    }

    fn generate(&self) -> Result<Box<dyn SigningKey>, JoseError> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| JoseError::Key("RSA key generation failed".into()))?;
        self.wrap(pair)
    }

    fn load(&self, pkcs8_der: &[u8]) -> Result<Box<dyn SigningKey>, JoseError> {
        let pair = RsaKeyPair::from_pkcs8(pkcs8_der).map_err(key_error("not an RSA key"))?;
        self.wrap(pair)
    }

    fn verifying_key(&self, jwk: &Jwk) -> Result<Box<dyn VerifyingKey>, JoseError> {
        expect_type(jwk, "RSA", None)?;
        let n = jwk.decode("n")?;
        let e = jwk.decode("e")?;
        // Base64urlUInt is the minimal encoding (RFC 7518 §2): a leading zero octet
        // would pad a short modulus past the size check below, and give one key two
        // thumbprints.
        if [&n, &e].iter().any(|v| v.first().is_none_or(|b| *b == 0)) {
            return Err(JoseError::Key(
                "RSA \"n\" and \"e\" must be minimal big-endian integers (no leading zero octet)"
                    .into(),
            ));
        }
        if n.len() < MIN_RSA_MODULUS {
            return Err(JoseError::Key(
                "RSA keys must have at least 2048 bits".into(),
            ));
        }
        let key = PublicKeyComponents { n, e }
            .to_parsed_public_key(self.parameters())
            .map_err(key_error("not a valid RSA public key"))?;
        Ok(Box::new(Verifier {
            algorithm: self.0,
            key,
        }))
    }
}

/// An RSA private key.
struct RsaKey {
    algorithm: Algorithm,
    encoding: &'static dyn signature::RsaEncoding,
    pair: RsaKeyPair,
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKey")
            .field("algorithm", &self.algorithm)
            .field("bits", &(self.pair.public_modulus_len() * 8))
            .finish_non_exhaustive()
    }
}

impl SigningKey for RsaKey {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        // aws-lc-rs ignores this generator (AWS-LC draws PSS salts itself); the API
        // only keeps it for compatibility with ring.
        let unused = aws_lc_rs::rand::SystemRandom::new();
        self.pair
            .sign(self.encoding, &unused, message, &mut signature)
            .map_err(|_| JoseError::Key("RSA signing failed".into()))?;
        Ok(signature)
    }

    fn public_jwk(&self) -> Jwk {
        let components = PublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        Jwk::rsa(&components.n, &components.e)
    }

    fn to_pkcs8_der(&self) -> Result<Vec<u8>, JoseError> {
        let der: Pkcs8V1Der<'static> = self
            .pair
            .as_der()
            .map_err(|_| JoseError::Key("cannot export the RSA key".into()))?;
        Ok(der.as_ref().to_vec())
    }
}

/// ES256 (use [`ES256`]).
#[derive(Debug)]
pub struct Es256(());

impl JwsAlgorithm for Es256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::Es256
    }

    fn generate(&self) -> Result<Box<dyn SigningKey>, JoseError> {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| JoseError::Key("P-256 key generation failed".into()))?;
        Ok(Box::new(EcKey(pair)))
    }

    fn load(&self, pkcs8_der: &[u8]) -> Result<Box<dyn SigningKey>, JoseError> {
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8_der)
            .map_err(key_error("not a P-256 key"))?;
        Ok(Box::new(EcKey(pair)))
    }

    fn verifying_key(&self, jwk: &Jwk) -> Result<Box<dyn VerifyingKey>, JoseError> {
        expect_type(jwk, "EC", Some("P-256"))?;
        let (x, y) = (jwk.decode("x")?, jwk.decode("y")?);
        if x.len() != 32 || y.len() != 32 {
            return Err(JoseError::Key("P-256 coordinates must be 32 bytes".into()));
        }
        let mut point = Vec::with_capacity(65);
        point.push(0x04);
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        verifier(
            Algorithm::Es256,
            &signature::ECDSA_P256_SHA256_FIXED,
            &point,
        )
    }
}

/// A P-256 private key.
struct EcKey(EcdsaKeyPair);

impl fmt::Debug for EcKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcKey").finish_non_exhaustive()
    }
}

impl SigningKey for EcKey {
    fn algorithm(&self) -> Algorithm {
        Algorithm::Es256
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        let unused = aws_lc_rs::rand::SystemRandom::new();
        let signature = self
            .0
            .sign(&unused, message)
            .map_err(|_| JoseError::Key("ECDSA signing failed".into()))?;
        Ok(signature.as_ref().to_vec())
    }

    fn public_jwk(&self) -> Jwk {
        // The uncompressed point: 0x04, x, y.
        let point = self.0.public_key().as_ref();
        Jwk::p256(&point[1..33], &point[33..65])
    }

    fn to_pkcs8_der(&self) -> Result<Vec<u8>, JoseError> {
        let der = self
            .0
            .to_pkcs8v1()
            .map_err(|_| JoseError::Key("cannot export the P-256 key".into()))?;
        Ok(der.as_ref().to_vec())
    }
}

/// EdDSA on Ed25519 (use [`EDDSA`]).
#[derive(Debug)]
pub struct EdDsa(());

impl JwsAlgorithm for EdDsa {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDsa
    }

    fn generate(&self) -> Result<Box<dyn SigningKey>, JoseError> {
        let pair = Ed25519KeyPair::generate()
            .map_err(|_| JoseError::Key("Ed25519 key generation failed".into()))?;
        Ok(Box::new(EdKey(pair)))
    }

    fn load(&self, pkcs8_der: &[u8]) -> Result<Box<dyn SigningKey>, JoseError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8_der)
            .map_err(key_error("not an Ed25519 key"))?;
        Ok(Box::new(EdKey(pair)))
    }

    fn verifying_key(&self, jwk: &Jwk) -> Result<Box<dyn VerifyingKey>, JoseError> {
        expect_type(jwk, "OKP", Some("Ed25519"))?;
        let x = jwk.decode("x")?;
        if x.len() != signature::ED25519_PUBLIC_KEY_LEN {
            return Err(JoseError::Key("Ed25519 public keys are 32 bytes".into()));
        }
        if weak_ed25519(&x) {
            return Err(JoseError::Key(
                "not a valid Ed25519 public key (a point of small order, or not canonical)".into(),
            ));
        }
        verifier(Algorithm::EdDsa, &signature::ED25519, &x)
    }
}

/// The `y` coordinates (little-endian, sign bit clear) of the Ed25519 points of order
/// 1, 2, 4 and 8. AWS-LC imports a raw public key without checking it, and with such
/// a key one signature verifies for any message.
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    // (±√-1, 0), order 4
    [0; 32],
    // (0, 1), the identity
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    // order 8
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    // order 8
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    // (0, -1), order 2: p - 1
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// Whether `x`, an encoded Ed25519 point, is one of small order (whatever its sign
/// bit) or a non-canonical encoding (`y` ≥ 2²⁵⁵ − 19, RFC 8032 §5.1.3).
fn weak_ed25519(x: &[u8]) -> bool {
    let mut y = [0u8; 32];
    y.copy_from_slice(x);
    y[31] &= 0x7f;
    // y ≥ p = 2^255 - 19: the top 31 bytes at their maximum and the lowest ≥ 0xed.
    let non_canonical = y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff) && y[0] >= 0xed;
    non_canonical || SMALL_ORDER_Y.contains(&y)
}

/// An Ed25519 private key.
struct EdKey(Ed25519KeyPair);

impl fmt::Debug for EdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdKey").finish_non_exhaustive()
    }
}

impl SigningKey for EdKey {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDsa
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        Ok(self.0.sign(message).as_ref().to_vec())
    }

    fn public_jwk(&self) -> Jwk {
        Jwk::ed25519(self.0.public_key().as_ref())
    }

    fn to_pkcs8_der(&self) -> Result<Vec<u8>, JoseError> {
        let der = self
            .0
            .to_pkcs8v1()
            .map_err(|_| JoseError::Key("cannot export the Ed25519 key".into()))?;
        Ok(der.as_ref().to_vec())
    }
}

/// Refuses a JWK of another `kty` or `crv`.
fn expect_type(jwk: &Jwk, kty: &str, crv: Option<&str>) -> Result<(), JoseError> {
    if jwk.kty != kty || jwk.crv.as_deref() != crv {
        return Err(JoseError::Key(format!(
            "expected a {kty}{} key, found {}{}",
            crv.map(|c| format!(" {c}")).unwrap_or_default(),
            jwk.kty,
            jwk.crv
                .as_deref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default(),
        )));
    }
    Ok(())
}

fn verifier(
    algorithm: Algorithm,
    verification: &'static dyn VerificationAlgorithm,
    public_key: &[u8],
) -> Result<Box<dyn VerifyingKey>, JoseError> {
    let key = ParsedPublicKey::new(verification, public_key)
        .map_err(key_error("not a valid public key"))?;
    Ok(Box::new(Verifier { algorithm, key }))
}

/// A parsed public key and the one algorithm it verifies.
struct Verifier {
    algorithm: Algorithm,
    key: ParsedPublicKey,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey for Verifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}
