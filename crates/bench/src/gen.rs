//! A reproducible synthetic app: seeded, with realistic mixes.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use roster_core::PhoneType;
use roster_store::ImportDevice;

/// The 34 province-level codes of China.
pub const PROVINCES: [u32; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

/// Cities per province: 300 cities in all, spread unevenly.
fn cities_in(province_index: usize) -> u32 {
    // 34 provinces × 8 = 272, plus 28 more for the first 14 provinces (2 each) = 300.
    8 + if province_index < 14 { 2 } else { 0 }
}

/// Android brands with their share, and the iOS brand.
const ANDROID_BRANDS: [(&str, u32); 7] = [
    ("hw", 30),
    ("xm", 20),
    ("op", 17),
    ("vv", 16),
    ("ho", 10),
    ("mz", 2),
    ("unknown", 5),
];

/// A year in milliseconds.
const YEAR_MS: i64 = 86_400_000 * 365;

/// Generation parameters.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Devices.
    pub devices: u64,
    /// Distinct tags.
    pub tags: u64,
    /// Seed.
    pub seed: u64,
}

/// Produces devices in batches.
pub struct Generator {
    rng: StdRng,
    province: Zipf<f64>,
    city: Zipf<f64>,
    tag: Zipf<f64>,
    /// App versions come from their own stream, so that adding them left every other
    /// generated fact as it was.
    versions: StdRng,
    version: Zipf<f64>,
    next: u64,
    shape: Shape,
}

/// The app versions devices run: `1.0.0` … `1.12.0`, `2.0.0` … `2.12.0` (so that text
/// and version order differ), newer ones more common.
pub const VERSIONS: usize = 26;

/// The `i`-th newest app version.
pub fn version(i: usize) -> String {
    let i = VERSIONS - 1 - i.min(VERSIONS - 1);
    format!("{}.{}.0", 1 + i / 13, i % 13)
}

impl Generator {
    /// A generator for `shape`.
    pub fn new(shape: Shape) -> anyhow::Result<Self> {
        Ok(Generator {
            rng: StdRng::seed_from_u64(shape.seed),
            province: Zipf::new(PROVINCES.len() as u64, 0.8)?,
            city: Zipf::new(10, 1.0)?,
            tag: Zipf::new(shape.tags, 1.05)?,
            versions: StdRng::seed_from_u64(shape.seed ^ 0x0a99_5e7e),
            version: Zipf::new(VERSIONS as u64, 0.7)?,
            next: 0,
            shape,
        })
    }

    /// The next batch of at most `n` devices; empty when done.
    pub fn batch(&mut self, n: usize) -> Vec<ImportDevice> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n && self.next < self.shape.devices {
            out.push(self.device());
            self.next += 1;
        }
        out
    }

    fn device(&mut self) -> ImportDevice {
        let r = &mut self.rng;
        let cid = format!("{:032x}", r.gen::<u128>());
        let ios = r.gen_bool(0.25);
        let brand = if ios {
            "iphone"
        } else {
            let mut pick = r.gen_range(0..100);
            let mut chosen = "unknown";
            for (b, share) in ANDROID_BRANDS {
                if pick < share {
                    chosen = b;
                    break;
                }
                pick -= share;
            }
            chosen
        };
        let pi = (self.province.sample(r) as usize - 1).min(PROVINCES.len() - 1);
        let city = (self.city.sample(r) as u32).min(cities_in(pi));
        let region = if r.gen_bool(0.05) {
            None
        } else {
            Some(format!("{:02}{:02}0000", PROVINCES[pi], city))
        };
        let n_tags = match r.gen_range(0..100) {
            0..=14 => 0,
            15..=39 => 1,
            40..=59 => 2,
            60..=74 => 3,
            75..=84 => 4,
            85..=91 => 5,
            92..=96 => 7,
            _ => 10,
        };
        let mut tags = Vec::with_capacity(n_tags);
        while tags.len() < n_tags {
            let t = format!("t{}", self.tag.sample(r) as u64 - 1);
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        let alias = r.gen_bool(0.1).then(|| format!("u{}", self.next));
        let v = &mut self.versions;
        let app_version = (!v.gen_bool(0.02)).then(|| version(self.version.sample(v) as usize - 1));
        ImportDevice {
            cid,
            phone_type: if ios {
                PhoneType::Ios
            } else {
                PhoneType::Android
            },
            brand: Some(brand.to_owned()),
            region,
            tags,
            alias,
            notification_switch: !r.gen_bool(0.15),
            blacklisted: r.gen_bool(0.01),
            // Registrations spread evenly over a year in ordinal order (ordinals are given
            // out at registration), within a second of jitter. The draw is the one an
            // earlier generator used for a uniformly random time, so every other fact
            // generated stays as it was.
            create_time: {
                let draw: i64 = r.gen_range(0..YEAR_MS);
                let devices = self.shape.devices.max(1) as i128;
                let at = i128::from(YEAR_MS) * self.next as i128 / devices;
                1_700_000_000_000 + at as i64 + draw % 1_000
            },
            app_version,
        }
    }
}
