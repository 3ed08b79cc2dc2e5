use super::*;
use proptest::prelude::*;

fn rules(f: impl FnOnce(&mut FramingConfig)) -> Arc<FramingRules> {
    let mut c = FramingConfig::firehose();
    f(&mut c);
    c.compile().unwrap()
}

fn frame_all(rules: &Arc<FramingRules>, chunks: &[&[u8]]) -> (Vec<Frame>, Framer) {
    let mut framer = Framer::new(rules.clone(), 0);
    let mut out = Vec::new();
    for c in chunks {
        framer.push(c, &mut out);
        framer.end_of_data(&mut out);
    }
    (out, framer)
}

fn records(frames: &[Frame]) -> Vec<&[u8]> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Record(r) => Some(&r.data[..]),
            Frame::Discarded(_) => None,
        })
        .collect()
}

#[test]
fn single_line_keeps_newlines_empty_lines_and_cr() {
    let (out, framer) = frame_all(&rules(|_| {}), &[b"a\n\nb\r\nc"]);
    assert_eq!(records(&out), vec![&b"a\n"[..], b"\n", b"b\r\n"]);
    assert_eq!(framer.pending_len(), 1);
    assert_eq!(framer.position(), 6);
}

#[test]
fn multi_line_examples_from_the_spec() {
    let r = rules(|c| c.multi_line_start_pattern = Some(r"\d{4}-\d{2}-\d{2} ".into()));
    let input = b"2024-01-01 10:00:00 ERROR boom\n\tat A.b(A.java:1)\n\tat C.d(C.java:2)\n2024-01-01 10:00:01 INFO ok\n";
    let (out, _) = frame_all(&r, &[input]);
    assert_eq!(records(&out).len(), 2);
    let mut partial = input.to_vec();
    partial.extend_from_slice(b"2024-01-01 10:00:02 WARN par");
    let (out, _) = frame_all(&r, &[&partial]);
    assert_eq!(records(&out).len(), 1);
    let (out, _) = frame_all(&r, &[b"junk1\njunk2\n2024-01-01 x\n"]);
    assert_eq!(
        records(&out),
        vec![&b"junk1\njunk2\n"[..], b"2024-01-01 x\n"]
    );
}

#[test]
fn aggregation_example_from_the_spec() {
    let r = rules(|c| c.aggregated_record_size_bytes = 10);
    let (out, _) = frame_all(&r, &[b"aaaa\nbbbb\ncccc\ndddddddddddddd\ne\n"]);
    assert_eq!(
        records(&out),
        vec![&b"aaaa\nbbbb\n"[..], b"cccc\n", b"dddddddddddddd\n", b"e\n"]
    );
}

#[test]
fn headers_are_discarded_even_across_pushes() {
    let r = rules(|c| c.skip_header_lines = 2);
    let (out, _) = frame_all(&r, &[b"h1", b"\nh2\nr1\n"]);
    assert_eq!(records(&out), vec![&b"r1\n"[..]]);
    assert_eq!(
        out[0],
        Frame::Discarded(Discard {
            offset: 0,
            len: 6,
            reason: DiscardReason::Header
        })
    );
}

#[test]
fn headers_are_not_skipped_when_resuming() {
    let r = rules(|c| c.skip_header_lines = 2);
    let mut framer = Framer::new(r, 10);
    let mut out = Vec::new();
    framer.push(b"r1\n", &mut out);
    assert_eq!(records(&out), vec![&b"r1\n"[..]]);
    assert_eq!(out[0].offset(), 10);
}

#[test]
fn a_runaway_line_is_cut_at_the_buffer_and_its_rest_discarded() {
    let r = rules(|c| {
        c.read_buffer_size = 8;
        c.max_record_size = 5;
        c.truncated_record_terminator = b"~".to_vec();
    });
    let (out, framer) = frame_all(&r, &[b"ab\n0123456789abcdef\nxy\n"]);
    assert_eq!(records(&out), vec![&b"ab\n"[..], b"0123~", b"xy\n"]);
    match &out[1] {
        Frame::Record(rec) => assert!(rec.truncated && rec.larger_than_buffer && rec.len == 8),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        out[2],
        Frame::Discarded(Discard {
            offset: 11,
            len: 9,
            reason: DiscardReason::Runaway
        })
    );
    assert_eq!(framer.position(), 23);
}

#[test]
fn finish_emits_the_unterminated_last_line() {
    let (mut out, mut framer) = frame_all(&rules(|_| {}), &[b"a\nlast"]);
    framer.finish(&mut out);
    assert_eq!(records(&out), vec![&b"a\n"[..], b"last"]);
    assert_eq!(framer.pending_len(), 0);
}

#[test]
fn a_footer_drops_itself_and_the_rest_of_the_buffer() {
    let r = rules(|c| c.file_footer_pattern = Some("END.*".into()));
    let (out, framer) = frame_all(&r, &[b"r1\n  END x \nlost\n", b"r2\n"]);
    assert_eq!(records(&out), vec![&b"r1\n"[..], b"r2\n"]);
    assert_eq!(framer.position(), 20);
}

#[test]
fn hostile_bytes_do_not_panic_and_memory_stays_bounded() {
    // The production buffer (4 MiB) and a 50 MiB line without a newline, pushed in reads.
    let r = rules(|_| {});
    let mut framer = Framer::new(r, 0);
    let mut out = Vec::new();
    framer.push(b"\0\xff\xfe\xc3(\n", &mut out);
    let junk: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 1)
        .map(|b| if b == b'\n' { 0 } else { b })
        .collect();
    for _ in 0..50 {
        framer.push(&junk, &mut out);
        assert!(framer.pending_len() <= limits::FIREHOSE_READ_BUFFER_BYTES);
    }
    framer.push(b"\nok\n", &mut out);
    let recs = records(&out);
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0], b"\0\xff\xfe\xc3(\n");
    assert_eq!(recs[1].len(), limits::FIREHOSE_MAX_RECORD_BYTES);
    assert_eq!(recs[2], b"ok\n");
    assert_tiles(&out, 0, framer.position());
    assert_eq!(framer.position(), 6 + (50 << 20) + 4);
}

fn assert_tiles(out: &[Frame], start: u64, end: u64) {
    let mut at = start;
    for f in out {
        assert_eq!(f.offset(), at, "frames must be contiguous: {out:?}");
        assert!(!f.is_empty());
        at += f.len();
    }
    assert_eq!(at, end);
}

fn arb_input() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => Just(b'a'),
            3 => Just(b'\n'),
            1 => Just(b'S'),
            1 => Just(b'E'),
            1 => Just(0xffu8),
            1 => Just(b' '),
        ],
        0..200,
    )
}

fn arb_config(with_footer: bool) -> impl Strategy<Value = FramingConfig> {
    (0usize..3, 0usize..3, 4usize..40, 2usize..30, 0usize..3).prop_map(
        move |(mode, headers, rbs, max, footer)| {
            let mut c = FramingConfig::firehose();
            c.skip_header_lines = headers;
            c.read_buffer_size = rbs;
            c.max_record_size = max;
            c.truncated_record_terminator = b"~".to_vec();
            match mode {
                1 => c.multi_line_start_pattern = Some("S".into()),
                2 => c.aggregated_record_size_bytes = rbs / 2 + 1,
                _ => {}
            }
            if with_footer && footer == 1 {
                c.file_footer_pattern = Some("E+".into());
            }
            c
        },
    )
}

proptest! {
    /// Splitting the input into pushes at random points gives the same frames as one
    /// push, and the frames always tile the consumed bytes.
    #[test]
    fn random_splits_give_the_same_frames(
        input in arb_input(),
        // No footer: it discards "what is buffered", which depends on the pushes by design.
        config in arb_config(false),
        cuts in proptest::collection::vec(0usize..200, 0..8),
    ) {
        let r = config.compile().unwrap();
        let mut whole = Framer::new(r.clone(), 0);
        let mut expected = Vec::new();
        whole.push(&input, &mut expected);
        whole.end_of_data(&mut expected);

        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
        cuts.sort_unstable();
        let mut split = Framer::new(r, 0);
        let mut got = Vec::new();
        let mut from = 0;
        for c in cuts.into_iter().chain([input.len()]) {
            split.push(&input[from..c], &mut got);
            from = c;
        }
        split.end_of_data(&mut got);
        prop_assert_eq!(&got, &expected);
        assert_tiles(&got, 0, split.position());
        prop_assert_eq!(split.position() + split.pending_len() as u64, input.len() as u64);
    }

    /// With any configuration and pushes (footer included), frames tile the input and
    /// `finish` accounts for every byte.
    #[test]
    fn finish_accounts_for_every_byte(
        input in arb_input(),
        config in arb_config(true),
        step in 1usize..50,
    ) {
        let r = config.compile().unwrap();
        let mut framer = Framer::new(r, 0);
        let mut out = Vec::new();
        for chunk in input.chunks(step) {
            framer.push(chunk, &mut out);
            framer.end_of_data(&mut out);
        }
        framer.finish(&mut out);
        prop_assert_eq!(framer.pending_len(), 0);
        assert_tiles(&out, 0, input.len() as u64);
        for f in &out {
            if let Frame::Record(rec) = f {
                prop_assert!(rec.data.len() <= config.max_record_size);
            }
        }
    }

    /// Single-line framing is exactly "split after each newline".
    #[test]
    fn single_line_matches_the_model(input in arb_input()) {
        let r = rules(|_| {});
        let (out, framer) = frame_all(&r, &[&input]);
        let model: Vec<&[u8]> = input.split_inclusive(|b| *b == b'\n').filter(|l| l.ends_with(b"\n")).collect();
        prop_assert_eq!(records(&out), model);
        prop_assert_eq!(framer.pending_len(), input.len() - input.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1));
    }
}

/// A reader that hands out `data` in `step`-byte reads, then fails.
struct FailsAfter {
    data: Vec<u8>,
    step: usize,
}

impl std::io::Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() {
            return Err(std::io::Error::other("EIO"));
        }
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data.drain(..n);
        Ok(n)
    }
}

/// The tailer counts what a fill read from the read position, so that bytes read before
/// an error are framed (the descriptor moved past them) rather than lost or read twice;
/// and takes bytes back unframed when it cannot confirm they are the file's.
#[test]
fn fill_keeps_bytes_read_before_an_error_and_unread_takes_them_back() {
    let mut framer = Framer::new(rules(|_| {}), 100);
    let mut out = Vec::new();
    framer.push(b"par", &mut out);
    let mut reader = FailsAfter {
        data: b"tial\nnext\n".to_vec(),
        step: 4,
    };
    assert!(framer.fill_from(&mut reader, 64).is_err());
    assert_eq!(framer.read_position(), 113);
    assert_eq!(framer.pending(), b"partial\nnext\n");

    framer.unread(10);
    assert_eq!(framer.pending(), b"par");
    assert_eq!(framer.read_position(), 103);
    let mut reader = FailsAfter {
        data: b"tial\n".to_vec(),
        step: 64,
    };
    assert_eq!(framer.fill_from(&mut reader, 5).unwrap(), 5);
    framer.drain(&mut out);
    assert_eq!(records(&out), vec![&b"partial\n"[..]]);
    assert_eq!(out[0].offset(), 100);
}
