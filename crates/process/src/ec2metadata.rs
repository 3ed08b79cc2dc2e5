//! `ADDEC2METADATA`: appends EC2 instance facts to a JSON-object record.
//!
//! The record must be a JSON object (typically LOGTOJSON output); anything else is a
//! conversion error, so the chain sends the raw record. The object's keys keep their order,
//! then `privateIp`, `availabilityZone`, `instanceId`, `instanceType`, `accountId`, `amiId`,
//! `region`, `metadataTimestamp` and `tags` are put (a colliding key keeps its position and
//! takes the new value, like Java's `LinkedHashMap.putAll`). Metadata is fetched through an
//! [`InstanceMetadataSource`] at the first record and again when it is older than
//! `metadataTTL` seconds. While none is available the input passes through unchanged,
//! whatever it is: the agent checks for metadata before parsing, so a previous converter's
//! output is kept and not replaced by the raw record.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::addmetadata::utc_fields;
use crate::config::{OptionReader, ProcessConfigError};
use crate::json::{JsonFormat, JsonWriter};
use crate::logtojson::{LogToJson, LOG_FORMATS};
use firetail_agent::utf8;

/// What the agent takes from the IMDS identity document and `ec2:DescribeTags`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ec2Metadata {
    pub private_ip: Option<String>,
    pub availability_zone: Option<String>,
    pub instance_id: Option<String>,
    pub instance_type: Option<String>,
    pub account_id: Option<String>,
    pub ami_id: Option<String>,
    pub region: Option<String>,
    /// Tag key (as returned; lower-cased on output) and value; `None` when DescribeTags failed,
    /// which omits the `tags` key.
    pub tags: Option<Vec<(String, String)>>,
}

/// Where instance metadata comes from (IMDSv2 in production, a fake in tests).
pub trait InstanceMetadataSource: Send + Sync {
    fn fetch(&self) -> Result<Ec2Metadata, String>;
}

/// The agent's TTL when `metadataTTL` is absent or unusable: one hour.
const DEFAULT_TTL_SECS: i64 = 3600;

#[derive(Debug)]
struct Cached {
    fetched_at_millis: i64,
    metadata: Option<Ec2Metadata>,
}

#[derive(Debug)]
pub struct AddEc2Metadata {
    ttl_millis: i64,
    json: JsonFormat,
    cache: Mutex<Option<Cached>>,
}

impl AddEc2Metadata {
    pub(crate) fn from_option(opt: &OptionReader<'_>) -> Result<Self, ProcessConfigError> {
        // The agent validates logFormat (and its customFieldNames / matchPattern) although
        // the converter never uses them.
        let format = opt.required_enumeration("logFormat", LOG_FORMATS)?;
        LogToJson::build(
            opt.index,
            format,
            opt.string_list("customFieldNames")?,
            opt.string("matchPattern")?.as_deref(),
            JsonFormat::Compact,
            false,
        )?;
        let ttl_secs = ttl_secs(opt);
        Ok(AddEc2Metadata {
            ttl_millis: ttl_secs.saturating_mul(1000),
            json: opt.json_format()?,
            cache: Mutex::new(None),
        })
    }

    fn current(
        &self,
        now_millis: i64,
        source: Option<&dyn InstanceMetadataSource>,
    ) -> Option<(Ec2Metadata, i64)> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let stale = match &*cache {
            None => true,
            Some(c) => now_millis > c.fetched_at_millis.saturating_add(self.ttl_millis),
        };
        if stale {
            let metadata = match source.map(|s| s.fetch()) {
                Some(Ok(m)) => Some(m),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "ADDEC2METADATA: unable to fetch instance metadata");
                    None
                }
                None => None,
            };
            *cache = Some(Cached {
                fetched_at_millis: now_millis,
                metadata,
            });
        }
        let c = cache.as_ref()?;
        Some((c.metadata.clone()?, c.fetched_at_millis))
    }

    /// Writes the enriched record, or the unchanged input when no metadata is available; fails
    /// when there is metadata and the record is not a JSON object.
    pub fn convert(
        &self,
        input: &[u8],
        out: &mut Vec<u8>,
        now_millis: i64,
        source: Option<&dyn InstanceMetadataSource>,
    ) -> Result<(), String> {
        // Before parsing, as the agent does: without metadata any input is passed on as a
        // successful conversion, so `[SINGLELINE, ADDEC2METADATA]` still sends SINGLELINE's
        // output for a non-JSON line instead of falling back to the raw record.
        let Some((meta, fetched_at)) = self.current(now_millis, source) else {
            tracing::debug!("Unable to append metadata, no metadata found");
            out.extend_from_slice(input);
            return Ok(());
        };
        let text = utf8::decode(input);
        let mut record: Map<String, Value> = serde_json::Deserializer::from_str(&text)
            .into_iter::<Map<String, Value>>()
            .next()
            .ok_or_else(|| "empty record".to_owned())?
            .map_err(|e| format!("record is not a JSON object: {e}"))?;
        let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        record.insert("privateIp".into(), opt(&meta.private_ip));
        record.insert("availabilityZone".into(), opt(&meta.availability_zone));
        record.insert("instanceId".into(), opt(&meta.instance_id));
        record.insert("instanceType".into(), opt(&meta.instance_type));
        record.insert("accountId".into(), opt(&meta.account_id));
        record.insert("amiId".into(), opt(&meta.ami_id));
        record.insert("region".into(), opt(&meta.region));
        record.insert(
            "metadataTimestamp".into(),
            Value::String(format_offset_seconds(fetched_at)),
        );
        if let Some(tags) = &meta.tags {
            let tags: Map<String, Value> = tags
                .iter()
                .map(|(k, v)| (k.to_lowercase(), Value::String(v.clone())))
                .collect();
            record.insert("tags".into(), Value::Object(tags));
        }
        JsonWriter::new(out, self.json).value(&Value::Object(record));
        out.push(b'\n');
        Ok(())
    }
}

/// `metadataTTL` in seconds. The agent wraps `readInteger("metadataTTL")` in a try/catch that
/// logs `Error converting metadataTTL, ignoring` and keeps one hour, so a value it cannot read
/// (not an integer, or outside the Java `int` range) is a warning here too, not a startup
/// error.
fn ttl_secs(opt: &OptionReader<'_>) -> i64 {
    let value = opt.raw("metadataTTL");
    match opt.long("metadataTTL") {
        Ok(None) => DEFAULT_TTL_SECS,
        Ok(Some(n)) if i32::try_from(n).is_ok() => n,
        _ => {
            let shown = value.map_or_else(String::new, Value::to_string);
            tracing::warn!(
                "dataProcessingOptions[{}]: ADDEC2METADATA: Error converting metadataTTL, ignoring: {shown} is not a Java int; the default of {DEFAULT_TTL_SECS} s is kept",
                opt.index
            );
            DEFAULT_TTL_SECS
        }
    }
}

/// `yyyy-MM-dd'T'HH:mm:ssZ` in UTC (`+0000`): firetail runs with the zone fixed to UTC.
fn format_offset_seconds(epoch_millis: i64) -> String {
    let ((y, mo, d), h, mi, s, _) = utc_fields(epoch_millis);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+0000")
}

/// A shared source handle, as stored by the chain.
pub type SharedMetadataSource = Arc<dyn InstanceMetadataSource>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Fake(AtomicUsize);
    impl InstanceMetadataSource for Fake {
        fn fetch(&self) -> Result<Ec2Metadata, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Ec2Metadata {
                private_ip: Some("10.0.0.5".into()),
                availability_zone: Some("eu-west-1a".into()),
                instance_id: Some("i-0abc".into()),
                instance_type: Some("t3.micro".into()),
                account_id: Some("123456789012".into()),
                ami_id: Some("ami-1".into()),
                region: Some("eu-west-1".into()),
                tags: Some(vec![("Name".into(), "web".into())]),
            })
        }
    }

    fn conv(ttl_secs: i64) -> AddEc2Metadata {
        AddEc2Metadata {
            ttl_millis: ttl_secs * 1000,
            json: JsonFormat::Compact,
            cache: Mutex::new(None),
        }
    }

    #[test]
    fn appends_fields_and_caches() {
        let fake = Fake(AtomicUsize::new(0));
        let c = conv(60);
        let mut out = Vec::new();
        c.convert(br#"{"a":"1","region":"x"}"#, &mut out, 0, Some(&fake))
            .unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "{\"a\":\"1\",\"region\":\"eu-west-1\",\"privateIp\":\"10.0.0.5\",\"availabilityZone\":\"eu-west-1a\",\"instanceId\":\"i-0abc\",\"instanceType\":\"t3.micro\",\"accountId\":\"123456789012\",\"amiId\":\"ami-1\",\"metadataTimestamp\":\"1970-01-01T00:00:00+0000\",\"tags\":{\"name\":\"web\"}}\n"
        );
        c.convert(b"{}", &mut out, 60_000, Some(&fake)).unwrap();
        assert_eq!(fake.0.load(Ordering::SeqCst), 1);
        c.convert(b"{}", &mut out, 60_001, Some(&fake)).unwrap();
        assert_eq!(fake.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn non_object_fails_and_no_source_passes_through() {
        let fake = Fake(AtomicUsize::new(0));
        let mut out = Vec::new();
        assert!(conv(60)
            .convert(b"plain\n", &mut out, 0, Some(&fake))
            .is_err());
        out.clear();
        conv(60).convert(b"{\"a\":1}\n", &mut out, 0, None).unwrap();
        assert_eq!(out, b"{\"a\":1}\n");
    }

    struct Down;
    impl InstanceMetadataSource for Down {
        fn fetch(&self) -> Result<Ec2Metadata, String> {
            Err("IMDS unreachable".into())
        }
    }

    /// The agent's `convert()` returns its input when it has no metadata before it parses the
    /// record, so a non-JSON input is a success, not a raw fallback.
    #[test]
    fn no_metadata_passes_any_input_through_before_parsing() {
        for source in [None, Some(&Down as &dyn InstanceMetadataSource)] {
            let mut out = Vec::new();
            conv(60)
                .convert(b"  hello  \n", &mut out, 0, source)
                .unwrap();
            assert_eq!(out, b"  hello  \n");
        }
        // In a chain the previous converter's output is kept (the agent sends `hello\n`).
        let chain = crate::Chain::from_options(&serde_json::json!([
            {"optionName": "SINGLELINE"},
            {"optionName": "ADDEC2METADATA", "logFormat": "SYSLOG"}
        ]))
        .unwrap()
        .with_metadata_source(Arc::new(Down));
        let mut out = Vec::new();
        assert_eq!(
            chain.process(b"  hello  \n", &mut out),
            crate::Outcome::Converted
        );
        assert_eq!(out, b"hello\n");
    }

    fn ttl_millis(ttl: Value) -> i64 {
        let option = serde_json::json!({"optionName": "ADDEC2METADATA", "logFormat": "SYSLOG", "metadataTTL": ttl});
        AddEc2Metadata::from_option(&OptionReader::new(0, &option).unwrap())
            .unwrap()
            .ttl_millis
    }

    /// The agent catches a failing `readInteger("metadataTTL")` ("Error converting
    /// metadataTTL, ignoring") and keeps one hour.
    #[test]
    fn unreadable_metadata_ttl_keeps_the_default() {
        use serde_json::json;
        assert_eq!(ttl_millis(json!(60)), 60_000);
        assert_eq!(ttl_millis(json!("60")), 60_000);
        assert_eq!(ttl_millis(json!(null)), 3_600_000);
        for bad in [
            json!("1h"),
            json!(1.5),
            json!(true),
            json!(3_000_000_000_i64),
            json!([60]),
            json!({}),
        ] {
            assert_eq!(ttl_millis(bad.clone()), 3_600_000, "{bad}");
        }
    }

    /// `readInteger` goes through Guava's `Ints.stringConverter()`, which is
    /// `Integer.decode`: a string TTL is read as agent.json's integers are, hex and octal
    /// included, and not trimmed. (firetail once parsed it as plain decimal here, so
    /// `"010"` was 10 s and `"0x10"` the default.)
    #[test]
    fn metadata_ttl_strings_are_decoded_as_java_integers() {
        use serde_json::json;
        assert_eq!(ttl_millis(json!("0x10")), 16_000);
        assert_eq!(ttl_millis(json!("#10")), 16_000);
        assert_eq!(ttl_millis(json!("010")), 8_000);
        assert_eq!(ttl_millis(json!("-0")), 0);
        assert_eq!(ttl_millis(json!(" 60")), 3_600_000);
        assert_eq!(ttl_millis(json!("08")), 3_600_000);
    }
}
