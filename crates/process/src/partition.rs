//! Kinesis partition keys (`partitionKeyOption`).
//!
//! DETERMINISTIC is the md5 hex of the record as firetail sends it. (The agent hashes its
//! whole parser buffer for records it did not convert; firetail hashes the record, see
//! docs/compatibility.md.) RANDOM mimics the agent's
//! `Double.toString(ThreadLocalRandom.nextDouble(1000000))`.

use md5::{Digest, Md5};
use rand::Rng;

use firetail_agent::java::double_to_string;

/// Lower-case hex md5 of `data`.
pub fn deterministic_partition_key(data: &[u8]) -> String {
    let digest = Md5::digest(data);
    let mut key = String::with_capacity(32);
    for b in digest {
        key.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        key.push(char::from(b"0123456789abcdef"[usize::from(b & 0xF)]));
    }
    key
}

/// A random key in [0, 1 000 000) printed like Java's `Double.toString`, e.g. `841329.3884345018`.
pub fn random_partition_key<R: Rng + ?Sized>(rng: &mut R) -> String {
    let v: f64 = rng.gen::<f64>() * 1_000_000.0;
    double_to_string(v.min(999_999.999_999_999_9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_hex() {
        assert_eq!(
            deterministic_partition_key(b""),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
    }

    #[test]
    fn random_looks_like_java_double() {
        let mut rng = rand::thread_rng();
        for _ in 0..100 {
            let k = random_partition_key(&mut rng);
            let v: f64 = k.parse().unwrap();
            assert!((0.0..1e6).contains(&v), "{k}");
            assert!(k.contains('.'));
        }
    }
}
