//! The simulated web site of one virtual host: a fixed catalog of pages, static assets and API
//! endpoints, built once from the seed. Every catalog entry gets its size here, once, so a path
//! always answers with the same number of bytes (pages jitter a little, being dynamic). Page
//! popularity is Zipf-like (exponent 1), which puts most requests on a small head of paths, as
//! measured on real servers (peers.md §4.5).
//!
//! Strings are pre-rendered (`path`, and `url` = origin + path for use as a Referer) so that
//! writing a line only copies bytes.

use crate::pick::{lognormal, pareto, AliasTable};
use crate::rng::Rng;
use rand::RngCore;

/// Slug words for page and asset names.
pub(crate) const WORDS: &[&str] = &[
    "alpine", "amber", "anchor", "apple", "arrow", "atlas", "autumn", "basil", "beacon", "birch",
    "blue", "bolt", "breeze", "bridge", "canyon", "cedar", "chalk", "cloud", "coast", "copper",
    "coral", "crane", "crest", "delta", "desert", "drift", "dune", "eagle", "echo", "ember",
    "falcon", "fern", "field", "flint", "forest", "frost", "garden", "glacier", "granite", "grove",
    "harbor", "hazel", "heron", "hollow", "island", "ivory", "jade", "juniper", "lagoon", "lake",
    "lantern", "linen", "lotus", "maple", "marble", "meadow", "mesa", "mint", "moss", "nectar",
    "north", "oak", "ocean", "olive", "onyx", "orchid", "pebble", "pine", "pixel", "plaza",
    "prairie", "quartz", "rain", "raven", "reef", "ridge", "river", "rose", "sage", "sand",
    "shadow", "sierra", "silver", "slate", "spruce", "stone", "storm", "summit", "sun", "thistle",
    "tide", "timber", "topaz", "trail", "tulip", "valley", "velvet", "willow", "winter", "zephyr",
];

/// Number of pages in the catalog (the head and body of the popularity law).
const PAGE_COUNT: usize = 2_000;
/// Number of API endpoints.
const ENDPOINT_COUNT: usize = 60;

/// A page: HTML, fetched by browsers and crawlers, followed by its assets.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub path: Box<[u8]>,
    /// `https://host/path`, the Referer its assets carry.
    pub url: Box<[u8]>,
    /// Body size of a 200 answer.
    pub size: u32,
    /// A legacy URL that always answers 301.
    pub redirect: bool,
    /// Generated server-side, so its size jitters and it can fail with 5xx.
    pub dynamic: bool,
    /// Indices into [`Site::assets`] the browser fetches after the page.
    pub assets: Box<[u32]>,
    /// Indices into [`Site::endpoints`] its scripts call.
    pub xhr: Box<[u32]>,
}

/// A static file: stylesheet, script, image, font or download.
#[derive(Debug, Clone)]
pub(crate) struct Asset {
    pub path: Box<[u8]>,
    pub size: u64,
    /// Large enough that clients ask for byte ranges (206) now and then.
    pub ranged: bool,
}

/// An API endpoint, called by page scripts.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub path: Box<[u8]>,
    pub size: u32,
    /// Whether it takes writes (POST/PUT/DELETE) as well as reads.
    pub writable: bool,
    /// Whether it takes an id suffix (`/api/v1/orders/<id>`).
    pub has_id: bool,
}

/// One virtual host's catalog.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub pages: Vec<Page>,
    pub page_pick: AliasTable,
    pub assets: Vec<Asset>,
    pub endpoints: Vec<Endpoint>,
    pub endpoint_pick: AliasTable,
    /// The site's `/robots.txt` and `/sitemap.xml` sizes.
    pub robots_size: u32,
    pub sitemap_size: u32,
}

impl Site {
    /// Builds the catalog for `host` from `rng`.
    pub fn build(host: &str, rng: &mut Rng) -> Site {
        let origin: Box<[u8]> = format!("https://{host}").into_bytes().into();
        let mut assets = Vec::new();
        let shared = shared_assets(rng, &mut assets);
        let endpoints = build_endpoints(rng);
        let mut pages = Vec::with_capacity(PAGE_COUNT);
        let mut seen = std::collections::HashSet::new();
        while pages.len() < PAGE_COUNT {
            let rank = pages.len();
            let path = page_path(rank, rng);
            if !seen.insert(path.clone()) {
                continue;
            }
            pages.push(build_page(rank, path, &origin, &shared, &mut assets, rng));
        }
        Site {
            page_pick: AliasTable::zipf(pages.len(), 1.0),
            pages,
            assets,
            endpoint_pick: AliasTable::zipf(endpoints.len(), 1.2),
            endpoints,
            robots_size: rng.between(60, 400) as u32,
            sitemap_size: rng.between(2_000, 60_000) as u32,
        }
    }
}

fn word(rng: &mut Rng) -> &'static str {
    WORDS[rng.below(WORDS.len())]
}

/// Page paths: a handful of fixed top pages, then section pages with slugs.
fn page_path(rank: usize, rng: &mut Rng) -> String {
    const TOP: &[&str] = &[
        "/",
        "/products",
        "/blog",
        "/about",
        "/pricing",
        "/docs",
        "/contact",
        "/login",
        "/cart",
        "/account",
        "/careers",
        "/support",
        "/news",
        "/checkout",
        "/faq",
        "/terms",
        "/privacy",
    ];
    if let Some(p) = TOP.get(rank) {
        return (*p).to_string();
    }
    match rng.below(6) {
        0 => format!("/blog/{}-{}-{}", word(rng), word(rng), rng.between(1, 400)),
        1 => format!("/products/{}/{}-{}", word(rng), word(rng), word(rng)),
        2 => format!("/docs/{}/{}", word(rng), word(rng)),
        3 => format!(
            "/news/2026/{:02}/{}-{}",
            rng.between(1, 12),
            word(rng),
            word(rng)
        ),
        4 => format!("/category/{}/page/{}", word(rng), rng.between(2, 30)),
        _ => format!("/{}/{}.html", word(rng), word(rng)),
    }
}

/// The stylesheet, scripts, logo, font and favicon every page uses.
fn shared_assets(rng: &mut Rng, assets: &mut Vec<Asset>) -> Vec<u32> {
    let hash = |rng: &mut Rng| format!("{:08x}", rng.next_u32());
    let specs = [
        (format!("/static/css/main.{}.css", hash(rng)), 45_000.0, 0.4),
        (format!("/static/js/app.{}.js", hash(rng)), 180_000.0, 0.4),
        (
            format!("/static/js/vendor.{}.js", hash(rng)),
            420_000.0,
            0.3,
        ),
        ("/static/img/logo.svg".to_string(), 6_000.0, 0.3),
        ("/static/fonts/inter-var.woff2".to_string(), 95_000.0, 0.2),
        ("/favicon.ico".to_string(), 4_286.0, 0.0),
    ];
    specs
        .into_iter()
        .map(|(path, median, sigma)| {
            assets.push(Asset {
                path: path.into_bytes().into(),
                size: lognormal(rng, median, sigma).round() as u64,
                ranged: false,
            });
            (assets.len() - 1) as u32
        })
        .collect()
}

fn build_page(
    rank: usize,
    path: String,
    origin: &[u8],
    shared: &[u32],
    assets: &mut Vec<Asset>,
    rng: &mut Rng,
) -> Page {
    let mut url = origin.to_vec();
    url.extend_from_slice(path.as_bytes());
    let mut page_assets = shared.to_vec();
    // Pages own a few images; some pages link a large download (ranged requests).
    let slug = path
        .rsplit('/')
        .next()
        .unwrap_or("page")
        .replace(".html", "");
    let slug = if slug.is_empty() { "home" } else { &slug };
    for n in 0..rng.between(0, 4) {
        let ext = ["jpg", "png", "webp"][rng.below(3)];
        assets.push(Asset {
            path: format!("/images/{rank:x}/{slug}-{n}.{ext}")
                .into_bytes()
                .into(),
            size: image_size(rng),
            ranged: false,
        });
        page_assets.push((assets.len() - 1) as u32);
    }
    if rng.chance(0.03) {
        let ext = ["pdf", "zip", "mp4"][rng.below(3)];
        assets.push(Asset {
            path: format!("/downloads/{rank:x}/{slug}.{ext}")
                .into_bytes()
                .into(),
            size: pareto(rng, 1_000_000.0, 1.1).min(4.0e9) as u64,
            ranged: true,
        });
        page_assets.push((assets.len() - 1) as u32);
    }
    let xhr_count = if rng.chance(0.3) {
        rng.between(1, 2)
    } else {
        0
    };
    let xhr = (0..xhr_count)
        .map(|_| rng.below(ENDPOINT_COUNT) as u32)
        .collect::<Vec<_>>();
    Page {
        path: path.into_bytes().into(),
        url: url.into(),
        size: lognormal(rng, 14_000.0, 0.6).clamp(600.0, 2.0e6) as u32,
        redirect: rank > 20 && rng.chance(0.02),
        dynamic: rank == 0 || rng.chance(0.6),
        assets: page_assets.into(),
        xhr: xhr.into(),
    }
}

/// Image bodies: log-normal with a Pareto tail, so a few are very large (Arlitt & Williamson).
fn image_size(rng: &mut Rng) -> u64 {
    if rng.chance(0.05) {
        pareto(rng, 300_000.0, 1.2).min(5.0e7) as u64
    } else {
        lognormal(rng, 35_000.0, 1.1).clamp(200.0, 5.0e6) as u64
    }
}

fn build_endpoints(rng: &mut Rng) -> Vec<Endpoint> {
    const RESOURCES: &[&str] = &[
        "cart",
        "orders",
        "session",
        "search",
        "recommendations",
        "users",
        "reviews",
        "stock",
        "prices",
        "events",
        "notifications",
        "wishlist",
        "config",
        "metrics",
        "comments",
    ];
    (0..ENDPOINT_COUNT)
        .map(|i| {
            let resource = RESOURCES[i % RESOURCES.len()];
            let version = 1 + i / RESOURCES.len();
            Endpoint {
                path: format!("/api/v{version}/{resource}").into_bytes().into(),
                size: lognormal(rng, 900.0, 1.0).clamp(2.0, 200_000.0) as u32,
                writable: rng.chance(0.5),
                has_id: rng.chance(0.4),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_deterministic_and_paths_are_unique() {
        let a = Site::build("www.example.com", &mut Rng::from_seed_u64(9));
        let b = Site::build("www.example.com", &mut Rng::from_seed_u64(9));
        assert_eq!(a.pages.len(), PAGE_COUNT);
        let pa: Vec<_> = a.pages.iter().map(|p| p.path.clone()).collect();
        let pb: Vec<_> = b.pages.iter().map(|p| p.path.clone()).collect();
        assert_eq!(pa, pb);
        let unique: std::collections::HashSet<_> = pa.iter().collect();
        assert_eq!(unique.len(), pa.len());
        assert!(a
            .pages
            .iter()
            .all(|p| p.url.starts_with(b"https://www.example.com/")));
        assert!(a
            .pages
            .iter()
            .all(|p| !p.path.iter().any(|&c| c == b'"' || c == b' ')));
    }
}
