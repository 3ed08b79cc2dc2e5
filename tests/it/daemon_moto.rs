//! The daemon against moto (a third-party implementation of Firehose, Kinesis and S3):
//! lines written to tailed files arrive, line-delimited, in S3 through a delivery stream
//! and in a Kinesis data stream through PutRecords, across rename and copytruncate
//! rotations and a restart (SIGTERM, then start again) in the middle of the run.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::daemon::{
    agent_config, firehose_flow, kinesis_flow, tally, Daemon, LineWriter, Rotation, RunEnd, Tally,
};
use crate::support::moto::{moto, Moto};

/// Writes lines in rounds, rotating both ways and restarting the daemon mid-run.
async fn write_rotate_restart(writer: &mut LineWriter, daemon: &mut Daemon) {
    for round in 0..24 {
        writer.write_lines(50);
        match round {
            5 => writer.rotate(Rotation::Rename),
            11 => {
                let (status, _) = daemon.stop(Duration::from_secs(10)).await;
                assert!(status.success(), "exit {status}\n{}", daemon.log_tail(40));
                writer.write_lines(50); // written while the daemon is down
                daemon.restart();
            }
            15 => writer.rotate(Rotation::CopyTruncate),
            19 => writer.rotate(Rotation::Rename),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `fetch` until nothing is missing or `timeout` passes; the last tally.
async fn wait_delivered<F, Fut>(writer: &LineWriter, timeout: Duration, mut fetch: F) -> Tally
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<Vec<u8>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let chunks = fetch().await;
        let t = tally(writer.lines(), chunks.iter().map(Vec::as_slice));
        if t.missing == 0 || Instant::now() >= deadline {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firehose_lines_reach_s3_across_rotations_and_a_restart() {
    const STREAM: &str = "e2e-s3";
    const BUCKET: &str = "e2e-bucket";
    let started = Instant::now();
    let moto = moto().await;
    moto.create_s3_stream(STREAM, BUCKET).await;
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let mut writer = LineWriter::new(&logs.join("access.log"), "s3");
    let mut cfg = agent_config(tmp.path());
    cfg["firehose.endpoint"] = json!(moto.endpoint);
    cfg["flows"] = json!([firehose_flow(&logs.join("access.log*"), STREAM)]);
    let mut daemon = Daemon::start(tmp.path(), &cfg);

    write_rotate_restart(&mut writer, &mut daemon).await;
    let m = &moto;
    let t = wait_delivered(&writer, Duration::from_secs(30), || async move {
        s3_objects(m, BUCKET).await
    })
    .await;
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    let objects = s3_objects(&moto, BUCKET).await;
    let end = RunEnd {
        all_delivered: t.missing == 0,
        status,
        tally: tally(writer.lines(), objects.iter().map(Vec::as_slice)),
    };
    let t_final = &end.tally;
    eprintln!(
        "daemon_moto (firehose): {} lines, {} rotations, {} S3 objects, {} delivered, \
         {} duplicates; {:.1} s",
        t_final.written,
        writer.rotations(),
        objects.len(),
        t_final.delivered,
        t_final.duplicates,
        started.elapsed().as_secs_f64()
    );
    end.assert_complete(&daemon);
    assert!(
        objects.iter().all(|o| o.ends_with(b"\n")),
        "an S3 object does not end at a line boundary"
    );
}

async fn s3_objects(moto: &Moto, bucket: &str) -> Vec<Vec<u8>> {
    moto.objects(bucket)
        .await
        .into_iter()
        .map(|(_, body)| body)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_lines_reach_every_shard_across_rotations_and_a_restart() {
    const STREAM: &str = "e2e-kds";
    let started = Instant::now();
    let moto = moto().await;
    let kinesis = moto.kinesis();
    kinesis
        .create_stream()
        .stream_name(STREAM)
        .shard_count(3)
        .send()
        .await
        .expect("CreateStream");
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let mut writer = LineWriter::new(&logs.join("app.log"), "kds");
    let mut cfg = agent_config(tmp.path());
    cfg["kinesis.endpoint"] = json!(moto.endpoint);
    cfg["kinesis.region"] = json!("us-east-1");
    cfg["flows"] = json!([kinesis_flow(&logs.join("app.log*"), STREAM)]);
    let mut daemon = Daemon::start(tmp.path(), &cfg);

    write_rotate_restart(&mut writer, &mut daemon).await;
    let t = wait_delivered(&writer, Duration::from_secs(30), || {
        let kinesis = kinesis.clone();
        async move { read_stream(&kinesis, STREAM).await.1 }
    })
    .await;
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    let (shards, records) = read_stream(&kinesis, STREAM).await;
    let end = RunEnd {
        all_delivered: t.missing == 0,
        status,
        tally: tally(writer.lines(), records.iter().map(Vec::as_slice)),
    };
    let t_final = &end.tally;
    eprintln!(
        "daemon_moto (kinesis): {} lines, {} records over {} shards ({:?} per shard), \
         {} duplicates; {:.1} s",
        t_final.written,
        records.len(),
        shards.len(),
        shards,
        t_final.duplicates,
        started.elapsed().as_secs_f64()
    );
    end.assert_complete(&daemon);
    assert!(
        records
            .iter()
            .all(|r| r.ends_with(b"\n") && r.len() == crate::support::daemon::LINE_LEN),
        "a Kinesis record is not exactly one line"
    );
    assert!(
        shards.iter().filter(|n| **n > 0).count() > 1,
        "random partition keys should spread records over shards: {shards:?}"
    );
}

/// Every record of every shard, from TRIM_HORIZON: (records per shard, records).
async fn read_stream(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
) -> (Vec<usize>, Vec<Vec<u8>>) {
    let shards = kinesis
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .expect("ListShards");
    let mut per_shard = Vec::new();
    let mut out = Vec::new();
    for shard in shards.shards() {
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("GetShardIterator")
            .shard_iterator
            .expect("an iterator");
        let mut n = 0;
        loop {
            let page = kinesis
                .get_records()
                .shard_iterator(&iterator)
                .limit(10_000)
                .send()
                .await
                .expect("GetRecords");
            if page.records().is_empty() {
                break;
            }
            for r in page.records() {
                out.push(r.data().as_ref().to_vec());
                n += 1;
            }
            match page.next_shard_iterator() {
                Some(next) => iterator = next.to_string(),
                None => break,
            }
        }
        per_shard.push(n);
    }
    (per_shard, out)
}
