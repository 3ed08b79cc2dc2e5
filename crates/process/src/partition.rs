//! Kinesis partition keys (`partitionKeyOption`).
//!
//! DETERMINISTIC is the md5 hex of the record as firetail sends it. (The agent hashes its
//! whole parser buffer for records it did not convert; firetail hashes the record, see
//! docs/compatibility.md.) RANDOM mimics the agent's
//! `Double.toString(ThreadLocalRandom.nextDouble(1000000))`.

use md5::{Digest, Md5};
use rand::Rng;

use std::fmt::Write;

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

/// A random key in [0, 1 000 000) shaped like the agent's Java `Double.toString` of
/// `nextDouble(1000000)`, e.g. `841329.3884345018`: an integer part and up to ten
/// fraction digits, trailing zeros dropped (at least one kept). Kinesis hashes the key
/// with MD5, so only its randomness matters; it is built from one 64-bit draw with
/// integer formatting because printing a float per record cost 10 % of a Kinesis flow's
/// CPU. (Java prints more fraction digits for small integer parts; the spread of keys
/// over shards is the same.)
pub fn random_partition_key<R: Rng + ?Sized>(rng: &mut R) -> String {
    const FRACTION: u64 = 10_000_000_000;
    let draw = rng.gen_range(0..1_000_000 * FRACTION);
    let (whole, mut fraction, mut digits) = (draw / FRACTION, draw % FRACTION, 10);
    while digits > 1 && fraction % 10 == 0 {
        fraction /= 10;
        digits -= 1;
    }
    let mut key = String::with_capacity(17);
    // Writing to a String cannot fail.
    let _ = write!(key, "{whole}.{fraction:0digits$}");
    key
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
            let fraction = k.split('.').nth(1).unwrap();
            assert!((1..=10).contains(&fraction.len()), "{k}");
            assert!(fraction == "0" || !fraction.ends_with('0'), "{k}");
        }
    }
}
