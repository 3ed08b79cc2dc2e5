//! Kinesis partition keys (`partitionKeyOption`).
//!
//! `RANDOM` mimics the agent's `Double.toString(nextDouble(1e6))` look (e.g.
//! `841329.3884345018`); nothing depends on the exact digits. `DETERMINISTIC` is the
//! documented intent of the agent, the MD5 of the record bytes as 32 lower-case hex
//! characters, not its bug (which hashed the whole parser buffer).

use md5::{Digest, Md5};
use rand::Rng;

/// Kinesis allows 1 to 256 characters in a partition key.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// How to pick a partition key for a record that has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PartitionKeyPolicy {
    /// A random decimal in [0, 1e6): spreads records over all shards.
    #[default]
    Random,
    /// MD5 of the record data, hex: equal records go to the same shard.
    Deterministic,
}

impl PartitionKeyPolicy {
    /// The key for a record with these bytes.
    pub fn key_for(self, data: &[u8]) -> String {
        match self {
            PartitionKeyPolicy::Random => random_key(&mut rand::thread_rng()),
            PartitionKeyPolicy::Deterministic => deterministic_key(data),
        }
    }
}

/// True when Kinesis would accept `key` as a partition key.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty() && key.chars().count() <= MAX_PARTITION_KEY_CHARS
}

/// A random key in the agent's format.
pub fn random_key(rng: &mut impl Rng) -> String {
    java_double_string(rng.gen_range(0.0..1_000_000.0))
}

/// MD5 of `data` as 32 lower-case hex characters.
pub fn deterministic_key(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Md5::digest(data);
    let mut key = String::with_capacity(32);
    for byte in digest {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    key
}

/// Formats a non-negative double below 1e7 the way Java's `Double.toString` does: the
/// shortest round-trip digits, always with a fractional part, and scientific notation
/// with a capital `E` below 1e-3.
fn java_double_string(value: f64) -> String {
    if value == 0.0 || value >= 1e-3 {
        let mut text = value.to_string();
        if !text.contains('.') {
            text.push_str(".0");
        }
        text
    } else {
        let text = format!("{value:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((text.as_str(), "0"));
        let fraction = if mantissa.contains('.') { "" } else { ".0" };
        format!("{mantissa}{fraction}E{exponent}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn deterministic_key_is_md5_hex_of_the_data() {
        assert_eq!(deterministic_key(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            deterministic_key(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        assert_eq!(
            PartitionKeyPolicy::Deterministic.key_for(b"x"),
            deterministic_key(b"x")
        );
    }

    #[test]
    fn random_keys_look_like_java_doubles() {
        assert_eq!(java_double_string(841329.3884345018), "841329.3884345018");
        assert_eq!(java_double_string(5.0), "5.0");
        assert_eq!(java_double_string(0.0), "0.0");
        assert_eq!(java_double_string(1.23456e-4), "1.23456E-4");
        assert_eq!(java_double_string(1e-4), "1.0E-4");
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let key = random_key(&mut rng);
            assert!(is_valid_key(&key) && key.len() <= 24, "{key}");
            let value: f64 = key.replace('E', "e").parse().unwrap();
            assert!((0.0..1e6).contains(&value));
        }
    }

    #[test]
    fn key_validity_follows_the_kinesis_limits() {
        assert!(!is_valid_key(""));
        assert!(is_valid_key(&"é".repeat(256)));
        assert!(!is_valid_key(&"a".repeat(257)));
    }
}
