//! Who sends the requests: a pool of human visitors (address, browser, protocol, sometimes an
//! authenticated user), the well-known crawlers with their published address blocks, and
//! vulnerability scanners. Everything is pre-rendered at start-up.
//!
//! IPv4 addresses come only from first octets allocated to RIRs for public use, and avoid the
//! private, loopback, link-local, CGNAT, documentation and multicast ranges. IPv6 clients
//! (opt-in, see `Realism::ipv6_share`) use global-unicast `2xxx:` prefixes, never `2001:db8::`.

use crate::pick::AliasTable;
use crate::rng::Rng;

/// First octets of plausible public IPv4 space.
const PUBLIC_FIRST_OCTETS: &[u8] = &[
    2, 5, 23, 24, 31, 37, 41, 45, 46, 47, 49, 50, 58, 59, 60, 61, 62, 64, 65, 66, 67, 68, 69, 70,
    71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94,
    95, 96, 97, 98, 99, 101, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116,
    117, 118, 119, 120, 121, 122, 123, 124, 125, 136, 138, 139, 141, 142, 144, 146, 147, 149, 151,
    152, 154, 156, 159, 161, 162, 163, 164, 165, 166, 167, 168, 170, 173, 174, 175, 176, 177, 178,
    179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191, 193, 194, 195, 196, 197, 200,
    201, 202, 206, 207, 208, 209, 210, 211, 212, 213, 216, 217, 218, 219, 220, 221, 222, 223,
];

/// Browser user agents with relative weights (roughly today's market shares).
const BROWSERS: &[(&str, f64)] = &[
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", 22.0),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36", 8.0),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", 9.0),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", 2.5),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36", 16.0),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", 14.0),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", 4.0),
    ("Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", 2.0),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", 6.0),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0", 5.0),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0", 3.5),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:132.0) Gecko/20100101 Firefox/132.0", 1.2),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0", 0.8),
    ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", 2.5),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/114.0.0.0", 0.8),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/130.0.6723.90 Mobile/15E148 Safari/604.1", 1.5),
    ("okhttp/4.12.0", 0.5),
    ("Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230901.001)", 0.3),
];

/// Crawlers: user agent and the address blocks they are published to crawl from.
const CRAWLERS: &[(&str, &[[u8; 3]], f64)] = &[
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", &[[66, 249, 64], [66, 249, 66], [66, 249, 68], [66, 249, 79]], 30.0),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/130.0.6723.69 Safari/537.36", &[[66, 249, 65], [66, 249, 73]], 12.0),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", &[[157, 55, 39], [207, 46, 13], [40, 77, 167]], 15.0),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", &[[5, 255, 231], [213, 180, 203]], 5.0),
    ("Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", &[[220, 181, 108], [116, 179, 32]], 3.0),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", &[[54, 36, 148], [54, 36, 149]], 8.0),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", &[[185, 191, 171]], 6.0),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)", &[[17, 58, 98], [17, 241, 219]], 4.0),
    ("DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", &[[20, 191, 45], [40, 88, 21]], 2.0),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", &[[20, 171, 207], [52, 230, 152]], 6.0),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", &[[69, 171, 250], [173, 252, 83]], 4.0),
    ("Mozilla/5.0 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)", &[[114, 119, 134]], 2.0),
];

/// Scanner and script user agents.
const SCANNER_AGENTS: &[&str] = &[
    "Mozilla/5.0 zgrab/0.x",
    "python-requests/2.31.0",
    "curl/8.4.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.124 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.129 Safari/537.36",
    "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Nuclei",
    "sqlmap/1.7.11#stable (https://sqlmap.org)",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
    "-",
];

/// User names for the few authenticated requests (`%u`); all fit the agent's `USER` class.
const USERS: &[&str] = &[
    "alice",
    "bob",
    "carol.w",
    "dave_k",
    "erin",
    "frank",
    "grace-h",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "oscar",
    "peggy",
    "trent",
    "victor",
    "walter",
    "admin",
    "deploy",
    "api-client",
    "reporting",
];

/// Number of distinct human clients. Popularity among them is mildly skewed (NATs, heavy users).
const HUMAN_CLIENTS: usize = 40_000;
/// Number of distinct scanner sources.
const SCANNER_CLIENTS: usize = 300;
/// Addresses per crawler.
const CRAWLER_ADDRESSES: usize = 24;

/// The HTTP protocol version a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Http10,
    Http11,
    Http20,
}

impl Proto {
    pub fn text(self) -> &'static [u8] {
        match self {
            Proto::Http10 => b"HTTP/1.0",
            Proto::Http11 => b"HTTP/1.1",
            Proto::Http20 => b"HTTP/2.0",
        }
    }
}

/// A visitor: one address, one browser, one protocol for the whole run.
#[derive(Debug, Clone)]
pub(crate) struct Human {
    pub ip: Box<[u8]>,
    pub agent: u16,
    pub user: Option<u16>,
    pub proto: Proto,
}

/// A crawler: its agent string and its own addresses.
#[derive(Debug, Clone)]
pub(crate) struct Crawler {
    pub agent: Box<[u8]>,
    pub ips: Vec<Box<[u8]>>,
}

/// A scanner source: one address, one tool.
#[derive(Debug, Clone)]
pub(crate) struct Scanner {
    pub ip: Box<[u8]>,
    pub agent: u16,
    pub proto: Proto,
}

/// All clients of one virtual host.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    pub humans: Vec<Human>,
    pub human_pick: AliasTable,
    pub browser_agents: Vec<Box<[u8]>>,
    pub users: Vec<Box<[u8]>>,
    pub crawlers: Vec<Crawler>,
    pub crawler_pick: AliasTable,
    pub scanners: Vec<Scanner>,
    pub scanner_agents: Vec<Box<[u8]>>,
}

impl Clients {
    /// Builds the pools. `ipv6_share` of human clients get an IPv6 address.
    pub fn build(rng: &mut Rng, ipv6_share: f64) -> Clients {
        let browser_pick = AliasTable::new(&BROWSERS.iter().map(|b| b.1).collect::<Vec<_>>());
        let humans = (0..HUMAN_CLIENTS)
            .map(|_| Human {
                ip: if rng.chance(ipv6_share) {
                    ipv6(rng)
                } else {
                    public_ipv4(rng)
                },
                agent: browser_pick.sample(rng) as u16,
                user: rng.chance(0.02).then(|| rng.below(USERS.len()) as u16),
                proto: pick_proto(rng, 0.55, 0.43),
            })
            .collect();
        let crawlers = CRAWLERS
            .iter()
            .map(|(agent, blocks, _)| Crawler {
                agent: agent.as_bytes().into(),
                ips: (0..CRAWLER_ADDRESSES)
                    .map(|_| {
                        let [a, b, c] = blocks[rng.below(blocks.len())];
                        format!("{a}.{b}.{c}.{}", rng.between(1, 254))
                            .into_bytes()
                            .into()
                    })
                    .collect(),
            })
            .collect();
        let scanners = (0..SCANNER_CLIENTS)
            .map(|_| Scanner {
                ip: public_ipv4(rng),
                agent: rng.below(SCANNER_AGENTS.len()) as u16,
                proto: pick_proto(rng, 0.0, 0.8),
            })
            .collect();
        Clients {
            humans,
            human_pick: AliasTable::zipf(HUMAN_CLIENTS, 0.6),
            browser_agents: BROWSERS.iter().map(|b| b.0.as_bytes().into()).collect(),
            users: USERS.iter().map(|u| u.as_bytes().into()).collect(),
            crawlers,
            crawler_pick: AliasTable::new(&CRAWLERS.iter().map(|c| c.2).collect::<Vec<_>>()),
            scanners,
            scanner_agents: SCANNER_AGENTS.iter().map(|a| a.as_bytes().into()).collect(),
        }
    }
}

fn pick_proto(rng: &mut Rng, h2: f64, h11: f64) -> Proto {
    let u = rng.unit();
    if u < h2 {
        Proto::Http20
    } else if u < h2 + h11 {
        Proto::Http11
    } else {
        Proto::Http10
    }
}

/// A dotted-quad from public space.
pub(crate) fn public_ipv4(rng: &mut Rng) -> Box<[u8]> {
    let a = PUBLIC_FIRST_OCTETS[rng.below(PUBLIC_FIRST_OCTETS.len())];
    format!(
        "{a}.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        rng.between(1, 254)
    )
    .into_bytes()
    .into()
}

/// A global-unicast IPv6 address in compressed form (`2a02:c7c:1f3e:9a00::4b2`).
fn ipv6(rng: &mut Rng) -> Box<[u8]> {
    const PREFIXES: &[&str] = &[
        "2a02", "2a01", "2600", "2601", "2406", "2409", "2003", "2804",
    ];
    let prefix = PREFIXES[rng.below(PREFIXES.len())];
    format!(
        "{prefix}:{:x}:{:x}:{:x}::{:x}",
        rng.between(1, 0xffff),
        rng.between(1, 0xffff),
        rng.below(0x10000),
        rng.between(1, 0xffff)
    )
    .into_bytes()
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_reserved(ip: &str) -> bool {
        let o: Vec<u32> = ip.split('.').map(|p| p.parse().unwrap()).collect();
        matches!(o[0], 0 | 10 | 127 | 224..=255)
            || (o[0] == 100 && (64..128).contains(&o[1]))
            || (o[0] == 169 && o[1] == 254)
            || (o[0] == 172 && (16..32).contains(&o[1]))
            || (o[0] == 192 && o[1] == 168)
            || (o[0] == 198 && (18..20).contains(&o[1]))
    }

    #[test]
    fn ipv4_clients_are_public() {
        let clients = Clients::build(&mut Rng::from_seed_u64(1), 0.0);
        for h in &clients.humans {
            let ip = std::str::from_utf8(&h.ip).unwrap();
            assert!(!is_reserved(ip), "{ip}");
        }
    }

    #[test]
    fn ipv6_share_is_honoured() {
        let clients = Clients::build(&mut Rng::from_seed_u64(1), 0.03);
        let v6 = clients
            .humans
            .iter()
            .filter(|h| h.ip.contains(&b':'))
            .count();
        let share = v6 as f64 / clients.humans.len() as f64;
        assert!((0.02..0.04).contains(&share), "{share}");
        assert!(USERS.iter().all(|u| u
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))));
    }
}
