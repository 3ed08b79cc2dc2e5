//! The pure part of the generator: [`LineGenerator`] turns a finish time into one access-log
//! line, with no I/O and no clock. Same seed, same [`Realism`], same sequence of finish times:
//! same bytes.
//!
//! Each line is first *planned* (who asks for what, which answer, how long it took) from the
//! catalog (`crate::site`) and the client pools (`crate::clients`), then *rendered* by
//! copying pre-rendered bytes into the caller's buffer. Nothing is allocated per line.
//!
//! Traffic model, per line:
//! - with probability `bot_share` a bot request (crawler or scanner, see `Model::plan_bot`);
//! - else, if a browser session has follow-up requests queued (the page's assets and script
//!   calls, or a click to a next page), usually the next one of those, with Referer = the page
//!   and the same client;
//! - else a new visit: a page view (Zipf-popular), a search or tracking URL that is seen once, a
//!   dead link (404), a login form post, an app API call or a link checker's HEAD.
//!
//! Invariant: unless a malformed line is asked for, every line matches the Kinesis Agent's
//! COMBINEDAPACHELOG (or COMMONAPACHELOG) pattern, provided clients are IPv4 (the agent's `IP`
//! class has no `:`, so an IPv6 client can never match; IPv6 is opt-in for that reason).

use std::collections::VecDeque;

use crate::clients::{Clients, Proto};
use crate::fmt::{push_u64, TimeCache};
use crate::pick::{lognormal, AliasTable};
use crate::rng::Rng;
use crate::site::{Site, WORDS};
use rand::RngCore;

/// Which Apache log format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`
    #[default]
    Combined,
    /// `%h %l %u %t "%r" %>s %b`
    Common,
}

/// The knobs of the traffic model that users may turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Realism {
    /// Log format.
    pub format: Format,
    /// The virtual host's name, used in Referer URLs (`https://<host>/page`).
    pub host: String,
    /// Share of lines from crawlers and scanners, 0..=1.
    pub bot_share: f64,
    /// Share of human clients with an IPv6 address, 0..=1. Such lines never match the agent's
    /// pattern, so this defaults to 0.
    pub ipv6_share: f64,
    /// Share of deliberately broken lines (truncated, garbage bytes, CRLF, empty), 0..=1.
    pub malformed_rate: f64,
    /// Share of lines with a multi-KiB URL or user agent (each), 0..=1.
    pub long_line_rate: f64,
    /// Test aid: put a per-generator sequence number (`seq0`, `seq1`, ...) in the `%u` field.
    pub sequence: bool,
}

impl Default for Realism {
    fn default() -> Self {
        Realism {
            format: Format::Combined,
            host: "www.example.com".to_string(),
            bot_share: 0.05,
            ipv6_share: 0.0,
            malformed_rate: 0.0,
            long_line_rate: 1e-4,
            sequence: false,
        }
    }
}

/// Produces access-log lines. See the module docs for the model.
#[derive(Debug, Clone)]
pub struct LineGenerator {
    rng: Rng,
    model: Model,
    state: State,
}

impl LineGenerator {
    /// Builds the catalog and client pools from `seed` (a few milliseconds).
    pub fn new(seed: u64, realism: &Realism) -> Self {
        let mut rng = Rng::from_seed_u64(seed);
        let model = Model::build(&mut rng.fork(1), realism);
        LineGenerator {
            rng: rng.fork(2),
            model,
            state: State {
                pending: VecDeque::with_capacity(MAX_PENDING * 2),
                times: TimeCache::default(),
                incident: false,
                sequence: 0,
            },
        }
    }

    /// Appends one line (with its `\n`) for a request that finished at `ts_unix_secs`.
    pub fn write_line(&mut self, ts_unix_secs: i64, out: &mut Vec<u8>) {
        self.write_line_ms(ts_unix_secs.saturating_mul(1000), out);
    }

    /// Appends one line for a request that finished at `finish_unix_ms` (milliseconds). The
    /// logged `%t` is the request's start, `finish − duration`, so lines are slightly out of
    /// order, as in a real server's log.
    pub fn write_line_ms(&mut self, finish_unix_ms: i64, out: &mut Vec<u8>) {
        if self.model.realism.malformed_rate > 0.0
            && self.rng.chance(self.model.realism.malformed_rate)
        {
            self.write_malformed(finish_unix_ms, out);
            return;
        }
        let request = self.model.plan(&mut self.rng, &mut self.state);
        self.model
            .render(&request, finish_unix_ms, &mut self.state, out);
    }

    /// Switches the incident mode (raised 5xx share) on or off.
    pub fn set_incident(&mut self, on: bool) {
        self.state.incident = on;
    }

    fn write_malformed(&mut self, finish_unix_ms: i64, out: &mut Vec<u8>) {
        let start = out.len();
        match self.rng.below(4) {
            0 => {
                // A line cut short, as after a crash mid-write.
                let request = self.model.plan(&mut self.rng, &mut self.state);
                self.model
                    .render(&request, finish_unix_ms, &mut self.state, out);
                let len = out.len() - start;
                let keep = 1 + self.rng.below(len.saturating_sub(2).max(1));
                out.truncate(start + keep);
                out.push(b'\n');
            }
            1 => {
                // Garbage bytes (not valid UTF-8 in general), but never a newline.
                for _ in 0..self.rng.between(8, 120) {
                    let b = (self.rng.below(255) + 1) as u8;
                    out.push(if b == b'\n' { 0xff } else { b });
                }
                out.push(b'\n');
            }
            2 => {
                // CRLF line ending: the agent's `.` does not match `\r`.
                let request = self.model.plan(&mut self.rng, &mut self.state);
                self.model
                    .render(&request, finish_unix_ms, &mut self.state, out);
                out.pop();
                out.extend_from_slice(b"\r\n");
            }
            _ => out.push(b'\n'),
        }
    }
}

/// Cap on queued session follow-ups, so memory stays bounded whatever the parameters.
const MAX_PENDING: usize = 256;
/// Above this many queued follow-ups, always serve one before starting a new visit.
const PENDING_HIGH_WATER: usize = 24;
/// Entries in each pre-computed duration table.
const DURATION_TABLE: usize = 1024;
/// Pre-rendered long URLs and long user agents.
const LONG_VARIANTS: usize = 4;

/// External Referers for page views that start a visit.
const EXTERNAL_REFERERS: &[(&str, f64)] = &[
    ("https://www.google.com/", 55.0),
    ("https://www.bing.com/", 8.0),
    ("https://duckduckgo.com/", 5.0),
    ("https://t.co/", 4.0),
    ("https://www.facebook.com/", 7.0),
    ("https://www.reddit.com/", 4.0),
    ("https://news.ycombinator.com/", 2.0),
    ("https://www.linkedin.com/", 3.0),
    ("android-app://com.google.android.gm/", 1.0),
    ("https://search.yahoo.com/", 2.0),
];

/// Paths vulnerability scanners probe for.
const PROBES: &[&str] = &[
    "/wp-login.php",
    "/.env",
    "/.git/config",
    "/phpmyadmin/",
    "/phpMyAdmin/index.php",
    "/wp-admin/setup-config.php",
    "/xmlrpc.php",
    "/admin/",
    "/administrator/index.php",
    "/.aws/credentials",
    "/config.json",
    "/server-status",
    "/actuator/env",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/luci/;stok=/locale",
    "/boaform/admin/formLogin",
    "/HNAP1/",
    "/owa/auth/logon.aspx",
    "/solr/admin/info/system?wt=json",
    "/.DS_Store",
    "/backup.zip",
    "/wp-content/plugins/wp-file-manager/readme.txt",
    "/?XDEBUG_SESSION_START=phpstorm",
    "/telescope/requests",
    "/.well-known/security.txt",
    "/api/.env",
    "/_profiler/phpinfo",
    "/shell.php",
];

/// Unusual methods scanners try.
const ODD_METHODS: &[&[u8]] = &[
    b"PROPFIND",
    b"OPTIONS",
    b"PUT",
    b"TRACE",
    b"DEBUG",
    b"PATCH",
];

#[derive(Debug, Clone, Copy)]
enum Follow {
    Asset(u32),
    Xhr(u32),
    Preflight(u32),
    NextPage,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    client: u32,
    page: u32,
    follow: Follow,
}

#[derive(Debug, Clone)]
struct State {
    pending: VecDeque<Pending>,
    times: TimeCache,
    incident: bool,
    sequence: u64,
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Human(u32),
    Crawler { crawler: u16, ip: u16 },
    Scanner(u16),
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Page(u32),
    /// A page with a one-off tracking query string.
    Tracked {
        page: u32,
        token: u64,
    },
    Asset(u32),
    Endpoint {
        index: u32,
        id: Option<u32>,
    },
    Search {
        a: u8,
        b: u8,
        page: u8,
        token: u32,
    },
    Missing {
        a: u8,
        b: u8,
        n: u32,
    },
    Probe(u8),
    Robots,
    Sitemap,
    Long(u8),
}

#[derive(Debug, Clone, Copy)]
enum Referer {
    None,
    Page(u32),
    External(u8),
}

#[derive(Debug, Clone, Copy)]
enum DurationKind {
    Asset = 0,
    Page = 1,
    Api = 2,
    Slow = 3,
}

#[derive(Debug, Clone, Copy)]
struct Request {
    who: Who,
    method: &'static [u8],
    target: Target,
    status: u16,
    bytes: Option<u64>,
    referer: Referer,
    duration: DurationKind,
    long_agent: Option<u8>,
}

#[derive(Debug, Clone)]
struct Model {
    realism: Realism,
    site: Site,
    clients: Clients,
    externals: Vec<Box<[u8]>>,
    external_pick: AliasTable,
    durations: [Box<[u32]>; 4],
    long_paths: Vec<Box<[u8]>>,
    long_agents: Vec<Box<[u8]>>,
    not_found_size: u64,
}

impl Model {
    fn build(rng: &mut Rng, realism: &Realism) -> Model {
        let site = Site::build(&realism.host, rng);
        let clients = Clients::build(rng, realism.ipv6_share);
        let table = |rng: &mut Rng, median: f64, sigma: f64| -> Box<[u32]> {
            (0..DURATION_TABLE)
                .map(|_| lognormal(rng, median, sigma).clamp(0.0, 120_000.0) as u32)
                .collect()
        };
        Model {
            realism: realism.clone(),
            externals: EXTERNAL_REFERERS
                .iter()
                .map(|e| e.0.as_bytes().into())
                .collect(),
            external_pick: AliasTable::new(
                &EXTERNAL_REFERERS.iter().map(|e| e.1).collect::<Vec<_>>(),
            ),
            durations: [
                table(rng, 3.0, 1.0),
                table(rng, 45.0, 0.9),
                table(rng, 70.0, 1.0),
                table(rng, 2_500.0, 1.2),
            ],
            long_paths: (0..LONG_VARIANTS).map(|_| long_path(rng)).collect(),
            long_agents: (0..LONG_VARIANTS).map(|_| long_agent(rng)).collect(),
            not_found_size: rng.between(4_000, 9_000),
            site,
            clients,
        }
    }

    fn plan(&self, rng: &mut Rng, state: &mut State) -> Request {
        let mut request = if rng.chance(self.realism.bot_share) {
            self.plan_bot(rng, state)
        } else if !state.pending.is_empty()
            && (state.pending.len() > PENDING_HIGH_WATER || rng.chance(0.8))
        {
            match state.pending.pop_front() {
                Some(p) => self.plan_follow(rng, state, p),
                None => self.plan_visit(rng, state),
            }
        } else {
            self.plan_visit(rng, state)
        };
        if self.realism.long_line_rate > 0.0 && rng.chance(self.realism.long_line_rate) {
            request.long_agent = Some(rng.below(LONG_VARIANTS) as u8);
        }
        request
    }

    fn plan_visit(&self, rng: &mut Rng, state: &mut State) -> Request {
        let client = self.clients.human_pick.sample(rng) as u32;
        let u = rng.unit();
        if self.realism.long_line_rate > 0.0 && rng.chance(self.realism.long_line_rate * 8.0) {
            return self
                .human(client, b"GET", Target::Long(rng.below(LONG_VARIANTS) as u8))
                .answer(200, Some(self.jitter(rng, 18_000)), DurationKind::Page);
        }
        if u < 0.80 {
            let page = self.site.page_pick.sample(rng) as u32;
            let referer = self.entry_referer(rng);
            let target = if matches!(referer, Referer::External(_)) && rng.chance(0.12) {
                Target::Tracked {
                    page,
                    token: rng.next_u64(),
                }
            } else {
                Target::Page(page)
            };
            self.page_view(rng, state, client, page, target, referer)
        } else if u < 0.88 {
            let target = Target::Search {
                a: rng.below(WORDS.len()) as u8,
                b: rng.below(WORDS.len()) as u8,
                page: rng.between(1, 9) as u8,
                token: rng.next_u32(),
            };
            let mut r = self.human(client, b"GET", target);
            r.referer = Referer::Page(1);
            r.answer(200, Some(self.jitter(rng, 18_000)), DurationKind::Api)
                .with_errors(rng, state.incident)
        } else if u < 0.915 {
            let target = Target::Missing {
                a: rng.below(WORDS.len()) as u8,
                b: rng.below(WORDS.len()) as u8,
                n: rng.between(1, 9_999) as u32,
            };
            let mut r = self.human(client, b"GET", target);
            r.referer = self.entry_referer(rng);
            r.answer(404, Some(self.not_found_size), DurationKind::Page)
        } else if u < 0.945 {
            // Login form: 302 to /account on success, 200 (form again) on failure.
            let mut r = self.human(client, b"POST", Target::Page(7));
            r.referer = Referer::Page(7);
            if rng.chance(0.85) {
                r.answer(302, Some(0), DurationKind::Api)
            } else {
                r.answer(
                    200,
                    Some(u64::from(self.site.pages[7].size)),
                    DurationKind::Api,
                )
            }
        } else if u < 0.99 {
            let index = self.site.endpoint_pick.sample(rng) as u32;
            self.endpoint_call(rng, state, client, index, Referer::None)
        } else {
            let page = self.site.page_pick.sample(rng) as u32;
            self.human(client, b"HEAD", Target::Page(page))
                .answer(200, None, DurationKind::Page)
        }
    }

    fn human(&self, client: u32, method: &'static [u8], target: Target) -> Request {
        Request {
            who: Who::Human(client),
            method,
            target,
            status: 200,
            bytes: None,
            referer: Referer::None,
            duration: DurationKind::Page,
            long_agent: None,
        }
    }

    fn entry_referer(&self, rng: &mut Rng) -> Referer {
        let u = rng.unit();
        if u < 0.35 {
            Referer::None
        } else if u < 0.80 {
            Referer::External(self.external_pick.sample(rng) as u8)
        } else {
            Referer::Page(self.site.page_pick.sample(rng) as u32)
        }
    }

    /// A browser's page view; queues the page's assets, script calls and maybe a next click.
    fn page_view(
        &self,
        rng: &mut Rng,
        state: &mut State,
        client: u32,
        page: u32,
        target: Target,
        referer: Referer,
    ) -> Request {
        let p = &self.site.pages[page as usize];
        let mut r = self.human(client, b"GET", target);
        r.referer = referer;
        if p.redirect {
            return r.answer(301, Some(230 + p.path.len() as u64), DurationKind::Asset);
        }
        if state.pending.len() < MAX_PENDING {
            let queue = &mut state.pending;
            for &asset in p.assets.iter() {
                if rng.chance(0.85) {
                    queue.push_back(Pending {
                        client,
                        page,
                        follow: Follow::Asset(asset),
                    });
                }
            }
            for &e in p.xhr.iter() {
                if rng.chance(0.05) {
                    queue.push_back(Pending {
                        client,
                        page,
                        follow: Follow::Preflight(e),
                    });
                }
                queue.push_back(Pending {
                    client,
                    page,
                    follow: Follow::Xhr(e),
                });
            }
            if rng.chance(0.4) {
                queue.push_back(Pending {
                    client,
                    page,
                    follow: Follow::NextPage,
                });
            }
        }
        if rng.chance(0.04) {
            return r.answer(304, None, DurationKind::Asset);
        }
        let size = if p.dynamic {
            self.jitter(rng, u64::from(p.size))
        } else {
            u64::from(p.size)
        };
        let r = r.answer(200, Some(size), DurationKind::Page);
        if p.dynamic {
            r.with_errors(rng, state.incident)
        } else {
            r
        }
    }

    fn plan_follow(&self, rng: &mut Rng, state: &mut State, p: Pending) -> Request {
        match p.follow {
            Follow::Asset(index) => {
                let asset = &self.site.assets[index as usize];
                let mut r = self.human(p.client, b"GET", Target::Asset(index));
                r.referer = Referer::Page(p.page);
                if rng.chance(0.10) {
                    r.answer(304, None, DurationKind::Asset)
                } else if asset.ranged && rng.chance(0.3) {
                    let part = rng.between(1, asset.size.max(2) / 2);
                    r.answer(206, Some(part), DurationKind::Api)
                } else {
                    let r = r.answer(200, Some(asset.size), DurationKind::Asset);
                    if state.incident && rng.chance(0.02) {
                        r.answer(503, Some(299), DurationKind::Slow)
                    } else {
                        r
                    }
                }
            }
            Follow::Xhr(index) => {
                self.endpoint_call(rng, state, p.client, index, Referer::Page(p.page))
            }
            Follow::Preflight(index) => {
                let mut r = self.human(p.client, b"OPTIONS", Target::Endpoint { index, id: None });
                r.referer = Referer::Page(p.page);
                r.answer(204, None, DurationKind::Asset)
            }
            Follow::NextPage => {
                let next = self.site.page_pick.sample(rng) as u32;
                self.page_view(
                    rng,
                    state,
                    p.client,
                    next,
                    Target::Page(next),
                    Referer::Page(p.page),
                )
            }
        }
    }

    fn endpoint_call(
        &self,
        rng: &mut Rng,
        state: &mut State,
        client: u32,
        index: u32,
        referer: Referer,
    ) -> Request {
        let e = &self.site.endpoints[index as usize];
        let id = e.has_id.then(|| rng.between(1, 99_999) as u32);
        let (method, status, bytes): (&'static [u8], u16, Option<u64>) = if e.writable {
            match rng.below(100) {
                0..=59 => (b"GET", 200, Some(self.jitter(rng, u64::from(e.size)))),
                60..=89 => (b"POST", 201, Some(self.jitter(rng, 120))),
                90..=95 => (b"PUT", 200, Some(self.jitter(rng, u64::from(e.size)))),
                _ => (b"DELETE", 204, None),
            }
        } else {
            (b"GET", 200, Some(self.jitter(rng, u64::from(e.size))))
        };
        let mut r = self.human(client, method, Target::Endpoint { index, id });
        r.referer = referer;
        let u = rng.unit();
        let r = if u < 0.004 {
            r.answer(401, Some(52), DurationKind::Asset)
        } else if u < 0.007 {
            r.answer(400, Some(87), DurationKind::Asset)
        } else if u < 0.008 {
            r.answer(429, Some(61), DurationKind::Asset)
        } else {
            r.answer(status, bytes, DurationKind::Api)
        };
        r.with_errors(rng, state.incident)
    }

    fn plan_bot(&self, rng: &mut Rng, state: &State) -> Request {
        if rng.chance(0.55) {
            self.plan_crawler(rng, state)
        } else {
            self.plan_scanner(rng)
        }
    }

    fn plan_crawler(&self, rng: &mut Rng, state: &State) -> Request {
        let crawler = self.clients.crawler_pick.sample(rng);
        let ip = rng.below(self.clients.crawlers[crawler].ips.len()) as u16;
        let method: &'static [u8] = if rng.chance(0.03) { b"HEAD" } else { b"GET" };
        let mut r = Request {
            who: Who::Crawler {
                crawler: crawler as u16,
                ip,
            },
            method,
            target: Target::Robots,
            status: 200,
            bytes: None,
            referer: Referer::None,
            duration: DurationKind::Page,
            long_agent: None,
        };
        let body = |size: u64| (method == b"GET").then_some(size);
        let u = rng.unit();
        if u < 0.08 {
            r.answer(
                200,
                body(u64::from(self.site.robots_size)),
                DurationKind::Asset,
            )
        } else if u < 0.12 {
            r.target = Target::Sitemap;
            r.answer(
                200,
                body(u64::from(self.site.sitemap_size)),
                DurationKind::Api,
            )
        } else if u < 0.15 {
            r.target = Target::Missing {
                a: rng.below(WORDS.len()) as u8,
                b: rng.below(WORDS.len()) as u8,
                n: rng.between(1, 9_999) as u32,
            };
            r.answer(404, body(self.not_found_size), DurationKind::Page)
        } else {
            // Crawlers walk the whole catalog, not just the popular head.
            let page = rng.below(self.site.pages.len()) as u32;
            r.target = Target::Page(page);
            let p = &self.site.pages[page as usize];
            if p.redirect {
                r.answer(301, body(230 + p.path.len() as u64), DurationKind::Asset)
            } else if rng.chance(0.03) {
                r.answer(304, None, DurationKind::Asset)
            } else {
                r.answer(200, body(u64::from(p.size)), DurationKind::Page)
                    .with_errors(rng, state.incident)
            }
        }
    }

    fn plan_scanner(&self, rng: &mut Rng) -> Request {
        let scanner = rng.below(self.clients.scanners.len()) as u16;
        let u = rng.unit();
        let method: &'static [u8] = if u < 0.80 {
            b"GET"
        } else if u < 0.90 {
            b"POST"
        } else if u < 0.93 {
            b"HEAD"
        } else {
            ODD_METHODS[rng.below(ODD_METHODS.len())]
        };
        let probe = rng.below(PROBES.len()) as u8;
        let (status, size) = match method {
            b"GET" | b"POST" | b"HEAD" => {
                if PROBES[probe as usize].starts_with("/.") && rng.chance(0.3) {
                    (403, 199)
                } else {
                    (404, 196)
                }
            }
            b"TRACE" | b"DEBUG" => (405, 229),
            _ => (400, 226),
        };
        let bytes = (method != b"HEAD").then_some(size);
        Request {
            who: Who::Scanner(scanner),
            method,
            target: Target::Probe(probe),
            status,
            bytes,
            referer: Referer::None,
            duration: DurationKind::Asset,
            long_agent: None,
        }
    }

    /// A dynamic body's size: within ±3 % of its nominal size.
    fn jitter(&self, rng: &mut Rng, nominal: u64) -> u64 {
        let spread = (nominal * 3 / 100).max(1);
        nominal - spread + rng.between(0, 2 * spread)
    }

    fn render(&self, r: &Request, finish_unix_ms: i64, state: &mut State, out: &mut Vec<u8>) {
        let kind = r.duration as usize;
        let table = &self.durations[kind];
        // Cheap index derivation: the finish time varies per line, the sequence per call.
        state.sequence = state.sequence.wrapping_add(1);
        let duration_ms = i64::from(table[mix_index(state.sequence, finish_unix_ms) % table.len()]);
        let start_secs = (finish_unix_ms - duration_ms).div_euclid(1000);

        let (ip, agent, user, proto) = self.identity(r.who);
        out.extend_from_slice(ip);
        out.extend_from_slice(b" - ");
        if self.realism.sequence {
            out.extend_from_slice(b"seq");
            push_u64(out, state.sequence - 1);
        } else if let Some(user) = user {
            out.extend_from_slice(user);
        } else {
            out.push(b'-');
        }
        out.push(b' ');
        state.times.push(out, start_secs);
        out.extend_from_slice(b" \"");
        out.extend_from_slice(r.method);
        out.push(b' ');
        self.render_target(r.target, out);
        out.push(b' ');
        out.extend_from_slice(proto.text());
        out.extend_from_slice(b"\" ");
        push_u64(out, u64::from(r.status));
        out.push(b' ');
        match r.bytes {
            Some(n) if n > 0 => push_u64(out, n),
            _ => out.push(b'-'),
        }
        if self.realism.format == Format::Combined {
            out.extend_from_slice(b" \"");
            match r.referer {
                Referer::None => out.push(b'-'),
                Referer::Page(p) => out.extend_from_slice(&self.site.pages[p as usize].url),
                Referer::External(e) => out.extend_from_slice(&self.externals[e as usize]),
            }
            out.extend_from_slice(b"\" \"");
            match r.long_agent {
                Some(i) => out.extend_from_slice(&self.long_agents[i as usize]),
                None => out.extend_from_slice(agent),
            }
            out.push(b'"');
        }
        out.push(b'\n');
    }

    fn identity(&self, who: Who) -> (&[u8], &[u8], Option<&[u8]>, Proto) {
        let c = &self.clients;
        match who {
            Who::Human(i) => {
                let h = &c.humans[i as usize];
                let user = h.user.map(|u| &*c.users[u as usize]);
                (&h.ip, &c.browser_agents[h.agent as usize], user, h.proto)
            }
            Who::Crawler { crawler, ip } => {
                let k = &c.crawlers[crawler as usize];
                (&k.ips[ip as usize], &k.agent, None, Proto::Http11)
            }
            Who::Scanner(i) => {
                let s = &c.scanners[i as usize];
                (&s.ip, &c.scanner_agents[s.agent as usize], None, s.proto)
            }
        }
    }

    fn render_target(&self, target: Target, out: &mut Vec<u8>) {
        match target {
            Target::Page(p) => out.extend_from_slice(&self.site.pages[p as usize].path),
            Target::Tracked { page, token } => {
                out.extend_from_slice(&self.site.pages[page as usize].path);
                out.extend_from_slice(b"?utm_source=newsletter&utm_medium=email&fbclid=");
                push_hex(out, token);
            }
            Target::Asset(a) => out.extend_from_slice(&self.site.assets[a as usize].path),
            Target::Endpoint { index, id } => {
                out.extend_from_slice(&self.site.endpoints[index as usize].path);
                if let Some(id) = id {
                    out.push(b'/');
                    push_u64(out, u64::from(id));
                }
            }
            Target::Search { a, b, page, token } => {
                out.extend_from_slice(b"/search?q=");
                out.extend_from_slice(WORDS[a as usize].as_bytes());
                out.push(b'+');
                out.extend_from_slice(WORDS[b as usize].as_bytes());
                out.extend_from_slice(b"&page=");
                push_u64(out, u64::from(page));
                out.extend_from_slice(b"&sid=");
                push_hex(out, u64::from(token));
            }
            Target::Missing { a, b, n } => {
                out.push(b'/');
                out.extend_from_slice(WORDS[a as usize].as_bytes());
                out.push(b'/');
                out.extend_from_slice(WORDS[b as usize].as_bytes());
                out.push(b'-');
                push_u64(out, u64::from(n));
            }
            Target::Probe(i) => out.extend_from_slice(PROBES[i as usize].as_bytes()),
            Target::Robots => out.extend_from_slice(b"/robots.txt"),
            Target::Sitemap => out.extend_from_slice(b"/sitemap.xml"),
            Target::Long(i) => out.extend_from_slice(&self.long_paths[i as usize]),
        }
    }
}

impl Request {
    fn answer(mut self, status: u16, bytes: Option<u64>, duration: DurationKind) -> Self {
        self.status = status;
        self.bytes = if self.method == b"HEAD" { None } else { bytes };
        self.duration = duration;
        self
    }

    /// Server-side failures: rare normally (0.3 % of dynamic requests), common in incidents.
    fn with_errors(self, rng: &mut Rng, incident: bool) -> Self {
        let p = if incident { 0.25 } else { 0.003 };
        if !rng.chance(p) {
            return self;
        }
        let status = [500, 502, 503, 503, 504][rng.below(5)];
        self.answer(status, Some(299), DurationKind::Slow)
    }
}

fn mix_index(sequence: u64, finish_ms: i64) -> usize {
    let mut z = sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (finish_ms as u64);
    z = (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (z >> 40) as usize
}

fn push_hex(out: &mut Vec<u8>, mut n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    for slot in buf.iter_mut().rev() {
        *slot = DIGITS[(n & 15) as usize];
        n >>= 4;
    }
    out.extend_from_slice(&buf);
}

/// A several-KiB search URL (tracking-laden share links do this).
fn long_path(rng: &mut Rng) -> Box<[u8]> {
    let mut s = String::from("/search?q=");
    let target = rng.between(2_048, 7_000) as usize;
    while s.len() < target {
        s.push_str(WORDS[rng.below(WORDS.len())]);
        s.push('+');
        if rng.chance(0.1) {
            s.push_str(&format!("&f{}={:x}", rng.below(100), rng.next_u64()));
        }
    }
    s.into_bytes().into()
}

/// A several-KiB user agent (browser extensions and toolbars appending tokens).
fn long_agent(rng: &mut Rng) -> Box<[u8]> {
    let mut s = String::from(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    );
    let target = rng.between(2_048, 6_000) as usize;
    while s.len() < target {
        s.push_str(&format!(
            " {}Toolbar/{}.{}.{}",
            WORDS[rng.below(WORDS.len())],
            rng.below(20),
            rng.below(10),
            rng.below(1000)
        ));
    }
    s.into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_lines() {
        let realism = Realism::default();
        let mut a = LineGenerator::new(42, &realism);
        let mut b = LineGenerator::new(42, &realism);
        let mut c = LineGenerator::new(43, &realism);
        let (mut oa, mut ob, mut oc) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..2_000 {
            a.write_line(1_795_611_912 + i / 100, &mut oa);
            b.write_line(1_795_611_912 + i / 100, &mut ob);
            c.write_line(1_795_611_912 + i / 100, &mut oc);
        }
        assert_eq!(oa, ob);
        assert_ne!(oa, oc);
        assert_eq!(oa.iter().filter(|&&c| c == b'\n').count(), 2_000);
    }

    #[test]
    fn sequence_numbers_go_in_the_user_field() {
        let realism = Realism {
            sequence: true,
            ..Realism::default()
        };
        let mut g = LineGenerator::new(1, &realism);
        let mut out = Vec::new();
        for _ in 0..3 {
            g.write_line(0, &mut out);
        }
        let text = String::from_utf8(out).unwrap();
        let users: Vec<&str> = text.lines().map(|l| l.split(' ').nth(2).unwrap()).collect();
        assert_eq!(users, ["seq0", "seq1", "seq2"]);
    }

    #[test]
    fn common_format_has_no_referer_or_agent() {
        let realism = Realism {
            format: Format::Common,
            ..Realism::default()
        };
        let mut g = LineGenerator::new(1, &realism);
        let mut out = Vec::new();
        for _ in 0..100 {
            g.write_line(0, &mut out);
        }
        for line in String::from_utf8(out).unwrap().lines() {
            assert_eq!(line.matches('"').count(), 2, "{line}");
        }
    }
}
