//! Proves the harness: moto starts, resets, and delivers a PutRecordBatch to S3 the way
//! the real service lays records out (concatenated as sent, no separator added).

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;

use crate::support::moto::moto;

#[tokio::test]
async fn put_record_batch_lands_in_s3() {
    let moto = moto().await;
    moto.create_s3_stream("smoke", "smoke-bucket").await;

    let lines = ["first line\n", "second line\n", "third line\n"];
    let records: Vec<Record> = lines
        .iter()
        .map(|l| {
            Record::builder()
                .data(Blob::new(l.as_bytes()))
                .build()
                .unwrap()
        })
        .collect();
    let out = moto
        .firehose()
        .put_record_batch()
        .delivery_stream_name("smoke")
        .set_records(Some(records))
        .send()
        .await
        .expect("PutRecordBatch");
    assert_eq!(out.failed_put_count(), 0);
    assert_eq!(out.request_responses().len(), 3);

    let objects = moto.objects("smoke-bucket").await;
    let all: Vec<u8> = objects.iter().flat_map(|(_, b)| b.clone()).collect();
    assert_eq!(String::from_utf8(all).unwrap(), lines.concat());
    assert!(
        objects.iter().all(|(k, _)| k.starts_with("raw/")),
        "{objects:?}"
    );
}

#[tokio::test]
async fn reset_gives_each_test_a_clean_server() {
    let moto = moto().await;
    let streams = moto
        .firehose()
        .list_delivery_streams()
        .send()
        .await
        .expect("list");
    assert!(streams.delivery_stream_names().is_empty());
}
