//! Realism checks on 200k seeded lines (peers.md §4.5 targets), each with a tolerance.

use std::collections::HashMap;
use std::sync::OnceLock;

use firetail_generate::{LineGenerator, Realism};

use crate::combined_apache_log;

const SAMPLE: usize = 200_000;
/// 2026-11-25T13:05:12Z in ms.
const T0_MS: i64 = 1_795_611_912_000;

#[derive(Debug, Clone)]
struct Line {
    host: String,
    user: String,
    secs: i64,
    method: String,
    path: String,
    proto: String,
    status: u16,
    bytes: Option<u64>,
    referer: String,
    agent: String,
    len: usize,
}

fn generate(realism: &Realism, n: usize, seed: u64) -> Vec<u8> {
    let mut g = LineGenerator::new(seed, realism);
    let mut out = Vec::with_capacity(n * 250);
    for k in 0..n {
        // 2000 lines per second of log time.
        g.write_line_ms(T0_MS + (k as i64) / 2, &mut out);
    }
    out
}

fn parse_time(s: &str) -> i64 {
    // 25/Nov/2026:13:05:12 +0000 → seconds within the sample's day.
    let hms: Vec<i64> = s[12..20].split(':').map(|p| p.parse().unwrap()).collect();
    let day: i64 = s[0..2].parse().unwrap();
    day * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

/// Splits a line into fields by hand (cheap in debug builds); the pattern itself is checked
/// separately by `every_line_matches_the_agents_combined_pattern`.
fn parse_line(l: &str) -> Line {
    let mut it = l.splitn(4, ' ');
    let host = it.next().unwrap().to_string();
    let _ident = it.next().unwrap();
    let user = it.next().unwrap().to_string();
    let rest = it.next().unwrap();
    let close = rest.find(']').unwrap();
    let secs = parse_time(&rest[1..close]);
    let rest = &rest[close + 3..];
    let q = rest.find('"').unwrap();
    let mut request = rest[..q].split(' ');
    let rest = &rest[q + 2..];
    let mut it = rest.splitn(3, ' ');
    let status = it.next().unwrap().parse().unwrap();
    let bytes = it.next().unwrap().parse().ok();
    let rest = &it.next().unwrap()[1..];
    let q = rest.find('"').unwrap();
    let referer = rest[..q].to_string();
    let agent = rest[q + 3..rest.len() - 1].to_string();
    Line {
        host,
        user,
        secs,
        method: request.next().unwrap().to_string(),
        path: request.next().unwrap().to_string(),
        proto: request.next().unwrap().to_string(),
        status,
        bytes,
        referer,
        agent,
        len: l.len(),
    }
}

fn parse(text: &[u8]) -> Vec<Line> {
    std::str::from_utf8(text)
        .unwrap()
        .lines()
        .map(parse_line)
        .collect()
}

fn sample_text() -> &'static [u8] {
    static TEXT: OnceLock<Vec<u8>> = OnceLock::new();
    TEXT.get_or_init(|| generate(&Realism::default(), SAMPLE, 7))
}

/// The default-settings sample, parsed once for all tests in this module.
fn sample() -> &'static [Line] {
    static SAMPLE_LINES: OnceLock<Vec<Line>> = OnceLock::new();
    SAMPLE_LINES.get_or_init(|| parse(sample_text()))
}

fn share(lines: &[Line], f: impl Fn(&Line) -> bool) -> f64 {
    lines.iter().filter(|l| f(l)).count() as f64 / lines.len() as f64
}

fn is_bot_agent(agent: &str) -> bool {
    const MARKERS: &[&str] = &[
        "bot",
        "Bot",
        "spider",
        "facebookexternalhit",
        "zgrab",
        "python-requests",
        "curl/",
        "Go-http-client",
        "Nmap",
        "Censys",
        "Nuclei",
        "sqlmap",
        "masscan",
    ];
    agent == "-" || MARKERS.iter().any(|m| agent.contains(m))
}

#[test]
fn every_line_matches_the_agents_combined_pattern() {
    let re = combined_apache_log();
    let text = std::str::from_utf8(sample_text()).unwrap();
    let mut n = 0;
    for line in text.lines() {
        assert!(re.is_match(line), "no COMBINEDAPACHELOG match: {line}");
        n += 1;
    }
    assert_eq!(n, SAMPLE);
}

#[test]
fn path_popularity_is_zipf_like_with_a_one_off_tail() {
    let lines = sample();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for l in lines {
        *counts.entry(&l.path).or_default() += 1;
    }
    let mut sorted: Vec<usize> = counts.values().copied().collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let top = sorted.len().div_ceil(10);
    let top_share = sorted[..top].iter().sum::<usize>() as f64 / lines.len() as f64;
    assert!(top_share >= 0.80, "top 10% of paths got {top_share:.3}");
    let one_off_queries = counts
        .iter()
        .filter(|(p, &n)| n == 1 && p.contains('?'))
        .count();
    assert!(
        one_off_queries as f64 > lines.len() as f64 * 0.005,
        "one-off URLs with query strings: {one_off_queries}"
    );
    let distinct = counts.len() as f64 / lines.len() as f64;
    assert!(
        distinct < 0.10,
        "distinct paths are {distinct:.3} of requests"
    );
}

#[test]
fn sizes_are_stable_per_path_and_empty_for_304_and_head() {
    let lines = sample();
    let mut sizes: HashMap<&str, Vec<u64>> = HashMap::new();
    for l in lines {
        if l.status == 304 || l.method == "HEAD" {
            assert!(l.bytes.is_none() || l.bytes == Some(0), "{l:?}");
        }
        if l.status == 200 && l.method == "GET" {
            sizes.entry(&l.path).or_default().push(l.bytes.unwrap());
        }
    }
    for (path, v) in &sizes {
        let (min, max) = (*v.iter().min().unwrap(), *v.iter().max().unwrap());
        let is_static = [
            "/static/",
            "/images/",
            "/favicon.ico",
            "/downloads/",
            "/robots.txt",
        ]
        .iter()
        .any(|p| path.starts_with(p));
        if is_static {
            assert_eq!(min, max, "static {path} changed size");
        } else {
            // Dynamic pages jitter by at most ±3% around a fixed size.
            assert!(max as f64 <= min as f64 * 1.07, "{path}: {min}..{max}");
        }
    }
    // Heavy tail: the largest bodies dwarf the median.
    let mut all: Vec<u64> = sizes.values().map(|v| v[0]).collect();
    all.sort_unstable();
    let median = all[all.len() / 2];
    assert!(
        *all.last().unwrap() > median * 50,
        "median {median}, max {:?}",
        all.last()
    );
}

#[test]
fn status_mix_is_realistic() {
    let lines = sample();
    let ok = share(lines, |l| (200..300).contains(&l.status));
    let not_modified = share(lines, |l| l.status == 304);
    let redirects = share(lines, |l| matches!(l.status, 301 | 302));
    let not_found = share(lines, |l| l.status == 404);
    let server_errors = share(lines, |l| l.status >= 500);
    assert!((0.85..=0.91).contains(&ok), "2xx {ok:.4}");
    assert!(
        (0.06..=0.10).contains(&not_modified),
        "304 {not_modified:.4}"
    );
    assert!(redirects > 0.003, "3xx {redirects:.4}");
    assert!((0.005..0.05).contains(&not_found), "404 {not_found:.4}");
    assert!(server_errors < 0.005, "5xx {server_errors:.4}");
    // Scanner probes end in 404 (or 403), with no referer.
    for l in lines
        .iter()
        .filter(|l| l.path == "/wp-login.php" || l.path == "/.env")
    {
        assert!(matches!(l.status, 403 | 404 | 400 | 405), "{l:?}");
        assert_eq!(l.referer, "-");
    }
}

#[test]
fn incidents_raise_server_errors() {
    let mut g = LineGenerator::new(3, &Realism::default());
    g.set_incident(true);
    let mut out = Vec::new();
    for k in 0..20_000 {
        g.write_line_ms(T0_MS + k, &mut out);
    }
    let lines = parse(&out);
    let server_errors = share(&lines, |l| l.status >= 500);
    assert!(
        server_errors > 0.03,
        "5xx during incident {server_errors:.4}"
    );
}

#[test]
fn methods_and_protocols() {
    let lines = sample();
    let m = |name: &str| share(lines, |l| l.method == name);
    let (get, post, head) = (m("GET"), m("POST"), m("HEAD"));
    assert!(get > 10.0 * post, "GET {get:.4} POST {post:.4}");
    assert!(post > head && head > 0.0, "POST {post:.4} HEAD {head:.4}");
    for other in ["PUT", "DELETE", "OPTIONS"] {
        let s = m(other);
        assert!(s > 0.0 && s < 0.02, "{other} {s:.5}");
    }
    let p = |name: &str| share(lines, |l| l.proto == name);
    assert!(p("HTTP/1.1") > 0.2 && p("HTTP/2.0") > 0.2);
    assert!(
        (0.001..0.08).contains(&p("HTTP/1.0")),
        "HTTP/1.0 {}",
        p("HTTP/1.0")
    );
}

#[test]
fn assets_follow_their_page_from_the_same_client() {
    let lines = sample();
    let origin = "https://www.example.com";
    // Last line index at which each (page path, client address, agent) was requested. A page
    // reached through a tracking link carries its query; the Referer does not.
    let mut last_view: HashMap<(&str, &str, &str), usize> = HashMap::new();
    let mut checked = 0;
    let mut found = 0;
    for (i, l) in lines.iter().enumerate() {
        let is_asset = l.path.starts_with("/static/") || l.path.starts_with("/images/");
        if is_asset && l.referer.starts_with(origin) {
            checked += 1;
            let page = &l.referer[origin.len()..];
            if let Some(&at) = last_view.get(&(page, &*l.host, &*l.agent)) {
                if i - at <= 2_000 {
                    found += 1;
                }
            }
        }
        let path = l.path.split('?').next().unwrap_or("");
        last_view.insert((path, &l.host, &l.agent), i);
    }
    assert!(checked > SAMPLE / 3, "only {checked} asset lines");
    let ratio = found as f64 / checked as f64;
    assert!(ratio > 0.99, "assets preceded by their page: {ratio:.4}");
}

#[test]
fn bots_crawl_and_scan_at_the_configured_share() {
    let lines = sample();
    let bots = share(lines, |l| is_bot_agent(&l.agent));
    assert!((0.04..=0.06).contains(&bots), "bot share {bots:.4}");
    assert!(lines
        .iter()
        .any(|l| l.path == "/robots.txt" && l.agent.contains("Googlebot")));
    assert!(lines.iter().any(|l| l.path == "/sitemap.xml"));
    assert!(lines.iter().any(|l| l.path == "/.env"));
    assert!(lines.iter().any(|l| l.method == "PROPFIND"));

    let realism = Realism {
        bot_share: 0.3,
        ..Realism::default()
    };
    let lines = parse(&generate(&realism, 20_000, 11));
    let bots = share(&lines, |l| is_bot_agent(&l.agent));
    assert!((0.27..=0.33).contains(&bots), "bot share {bots:.4}");
}

#[test]
fn clients_and_identity_fields() {
    let lines = sample();
    assert!(
        lines.iter().all(|l| !l.host.contains(':')),
        "IPv6 is opt-in"
    );
    let anonymous = share(lines, |l| l.user == "-");
    assert!(
        (0.9..1.0).contains(&anonymous),
        "%u '-' share {anonymous:.4}"
    );
    let distinct: std::collections::HashSet<&str> = lines.iter().map(|l| &*l.host).collect();
    assert!(
        distinct.len() > 5_000,
        "{} client addresses",
        distinct.len()
    );

    // Opt-in IPv6: about the requested share, and those lines do not match the agent pattern.
    let realism = Realism {
        ipv6_share: 0.03,
        ..Realism::default()
    };
    let text = generate(&realism, 50_000, 5);
    let text = std::str::from_utf8(&text).unwrap();
    let v6 = text
        .lines()
        .filter(|l| l.split(' ').next().unwrap().contains(':'));
    let v6: Vec<&str> = v6.collect();
    let v6_share = v6.len() as f64 / 50_000.0;
    assert!((0.01..0.06).contains(&v6_share), "IPv6 share {v6_share:.4}");
    let re = combined_apache_log();
    assert!(v6.iter().all(|l| !re.is_match(l)));
}

#[test]
fn timestamps_are_start_times_slightly_out_of_order() {
    let lines = sample();
    let mut backwards = 0;
    let mut worst = 0;
    let mut latest = i64::MIN;
    for l in lines {
        if l.secs < latest {
            backwards += 1;
            worst = worst.max(latest - l.secs);
        }
        latest = latest.max(l.secs);
    }
    assert!(backwards > 100, "only {backwards} out-of-order lines");
    assert!(
        worst <= 121,
        "a line started {worst}s before a logged predecessor"
    );
}

#[test]
fn rare_long_urls_and_agents() {
    let lines = sample();
    let long_urls = lines.iter().filter(|l| l.path.len() > 2_000).count();
    let long_agents = lines.iter().filter(|l| l.agent.len() > 2_000).count();
    assert!((3..=60).contains(&long_urls), "{long_urls} long URLs");
    assert!((3..=60).contains(&long_agents), "{long_agents} long agents");
    assert!(lines.iter().all(|l| l.len < 16_384));
}

#[test]
fn malformed_lines_are_opt_in() {
    let realism = Realism {
        malformed_rate: 0.02,
        ..Realism::default()
    };
    let text = generate(&realism, 20_000, 9);
    let re = combined_apache_log();
    let mut bad = 0;
    for line in text.split(|&b| b == b'\n').take(20_000) {
        match std::str::from_utf8(line) {
            Ok(s) if re.is_match(s) => {}
            _ => bad += 1,
        }
    }
    let ratio = bad as f64 / 20_000.0;
    assert!((0.008..=0.03).contains(&ratio), "malformed {ratio:.4}");
    assert!(text.windows(2).any(|w| w == b"\r\n"));
}
