//! Kinesis partition keys (`partitionKeyOption`, spec §3.8).
//!
//! RANDOM is shaped like the agent's `Double.toString(ThreadLocalRandom.nextDouble(1000000))`.
//! DETERMINISTIC is the md5 hex of the record as firetail sends it: the agent's documented
//! intent, not its bug (it hashes its whole parser buffer for records it did not convert;
//! see docs/compatibility.md).
//!
//! A key is picked once per record, before the record is cut to its limit, because the key
//! counts against Kinesis's 1 MiB record limit; a retry keeps its key, as the agent's does.

use compact_str::CompactString;
use md5::{Digest, Md5};
use rand::Rng;

use crate::limits::KINESIS_MAX_PARTITION_KEY_CHARS;

/// A record's partition key. Held inline up to 24 bytes: RANDOM keys (at most 17) cost
/// no allocation, where a `String` per record was most of the extra malloc and free that
/// made a Kinesis flow dearer than a Firehose one (11 % of its CPU against 5 %).
pub type PartitionKey = CompactString;

/// `partitionKeyOption` of a Kinesis flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PartitionKeyOption {
    /// `RANDOM` (the agent's default): spreads records over all shards.
    #[default]
    Random,
    /// `DETERMINISTIC`: equal records go to the same shard.
    Deterministic,
}

impl PartitionKeyOption {
    /// The name used in agent.json.
    pub fn as_str(self) -> &'static str {
        match self {
            PartitionKeyOption::Random => "RANDOM",
            PartitionKeyOption::Deterministic => "DETERMINISTIC",
        }
    }

    /// Parses an agent.json name (case-sensitive, as the agent's `Enum.valueOf`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RANDOM" => Some(PartitionKeyOption::Random),
            "DETERMINISTIC" => Some(PartitionKeyOption::Deterministic),
            _ => None,
        }
    }

    /// The key for a record whose bytes (as sent) are `data`.
    pub fn key_for(self, data: &[u8]) -> PartitionKey {
        self.key_with(data, &mut rand::thread_rng())
    }

    /// [`PartitionKeyOption::key_for`] drawing RANDOM keys from `rng`: a caller keying
    /// many records takes the thread's generator once, not once per record.
    pub fn key_with<R: Rng + ?Sized>(self, data: &[u8], rng: &mut R) -> PartitionKey {
        match self {
            PartitionKeyOption::Random => random_partition_key(rng),
            PartitionKeyOption::Deterministic => deterministic_partition_key(data),
        }
    }
}

/// Lower-case hex md5 of `data` (32 characters).
pub fn deterministic_partition_key(data: &[u8]) -> PartitionKey {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Md5::digest(data);
    let mut key = PartitionKey::with_capacity(32);
    for b in digest {
        key.push(char::from(HEX[usize::from(b >> 4)]));
        key.push(char::from(HEX[usize::from(b & 0xF)]));
    }
    key
}

/// A random key in [0, 1 000 000) shaped like the agent's Java `Double.toString` of
/// `nextDouble(1000000)`, e.g. `841329.3884345018`: an integer part and up to ten
/// fraction digits, trailing zeros dropped (at least one kept). Kinesis hashes the key
/// with MD5, so only its randomness matters; it is built from one 64-bit draw printed as
/// two integers, because printing a float per record cost 10 % of a Kinesis flow's CPU
/// (and `write!` of the integers still 4 %: see `key_from_draw`). (Java prints more fraction digits
/// for small integer parts; the spread of keys over shards is the same.)
pub fn random_partition_key<R: Rng + ?Sized>(rng: &mut R) -> PartitionKey {
    key_from_draw(rng.gen_range(0..1_000_000 * KEY_FRACTION))
}

/// Fraction digits of a RANDOM key, as a power of ten.
const KEY_FRACTION: u64 = 10_000_000_000;

/// `draw / 10^10` printed with its fraction's trailing zeros dropped (one kept).
fn key_from_draw(draw: u64) -> PartitionKey {
    // Every digit is written into one buffer from a two-digit table, then the leading
    // zeros of the integer part and the trailing zeros of the fraction are sliced off:
    // `itoa` and pushing its pieces onto the key one by one were 3 % of a Kinesis flow's
    // CPU. At most 17 characters: the key stays inline.
    let (whole, fraction) = (draw / KEY_FRACTION, draw % KEY_FRACTION);
    // [0..6]: the integer part, zero-padded; [6]: '.'; [7..17]: the fraction.
    let mut buf = [b'0'; 17];
    buf[6] = b'.';
    write_digit_pairs(&mut buf[..6], whole);
    write_digit_pairs(&mut buf[7..], fraction);
    let first = buf[..5].iter().position(|&b| b != b'0').unwrap_or(5);
    let last = buf[8..]
        .iter()
        .rposition(|&b| b != b'0')
        .map_or(8, |i| i + 9);
    // Only ASCII digits and '.' were written.
    let text = std::str::from_utf8(&buf[first..last]).unwrap_or_default();
    PartitionKey::new(text)
}

/// The last `out.len()` (even) decimal digits of `n`, zero-padded, two per step.
fn write_digit_pairs(out: &mut [u8], mut n: u64) {
    const PAIRS: &[u8; 200] = b"\
        0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    for pair in out.rchunks_exact_mut(2) {
        let i = (n % 100) as usize * 2;
        n /= 100;
        pair.copy_from_slice(&PAIRS[i..i + 2]);
    }
}

/// True when Kinesis would accept `key` as a partition key: 1 to 256 characters.
pub fn is_valid_key(key: &str) -> bool {
    // No more bytes than the limit means no more characters: skip the count.
    !key.is_empty()
        && (key.len() <= KINESIS_MAX_PARTITION_KEY_CHARS
            || key.chars().count() <= KINESIS_MAX_PARTITION_KEY_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn deterministic_keys_are_the_md5_hex_of_the_data() {
        assert_eq!(
            deterministic_partition_key(b""),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            deterministic_partition_key(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        assert_eq!(
            PartitionKeyOption::Deterministic.key_for(b"x"),
            deterministic_partition_key(b"x")
        );
    }

    #[test]
    fn random_keys_look_like_java_doubles() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let key = random_partition_key(&mut rng);
            assert!(is_valid_key(&key) && key.len() <= 24, "{key}");
            assert!(key.contains('.'), "{key}");
            let fraction = key.split('.').nth(1).unwrap_or_default();
            assert!((1..=10).contains(&fraction.len()), "{key}");
            assert!(fraction == "0" || !fraction.ends_with('0'), "{key}");
            let value: f64 = key.replace('E', "e").parse().unwrap();
            assert!((0.0..1e6).contains(&value), "{key}");
        }
    }

    #[test]
    fn random_keys_print_the_draw_like_format_would() {
        let expected = |draw: u64| {
            let fraction = format!("{:010}", draw % KEY_FRACTION);
            let fraction = fraction.trim_end_matches('0');
            let fraction = if fraction.is_empty() { "0" } else { fraction };
            format!("{}.{fraction}", draw / KEY_FRACTION)
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..10_000 {
            let draw = rng.gen_range(0..1_000_000 * KEY_FRACTION);
            assert_eq!(key_from_draw(draw), expected(draw));
        }
        for (draw, key) in [
            (0, "0.0"),
            (KEY_FRACTION, "1.0"),
            (KEY_FRACTION + 5_000_000_000, "1.5"),
            (7, "0.0000000007"),
            (1_000_000 * KEY_FRACTION - 1, "999999.9999999999"),
        ] {
            assert_eq!(key_from_draw(draw), key);
            assert_eq!(key_from_draw(draw), expected(draw));
        }
    }

    #[test]
    fn key_validity_follows_the_kinesis_limits() {
        assert!(!is_valid_key(""));
        assert!(is_valid_key(&"é".repeat(256)));
        assert!(!is_valid_key(&"a".repeat(257)));
    }

    #[test]
    fn option_names_are_case_sensitive() {
        for option in [
            PartitionKeyOption::Random,
            PartitionKeyOption::Deterministic,
        ] {
            assert_eq!(PartitionKeyOption::from_name(option.as_str()), Some(option));
        }
        assert_eq!(PartitionKeyOption::from_name("random"), None);
    }
}
