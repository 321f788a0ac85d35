//! Seeded key selection: a small deterministic random source and YCSB's zipfian generator.
//! Every connection gets its own seed, so a run is reproducible from `--seed` and no
//! unseeded randomness enters the tests.

use crate::options::Distribution;

/// SplitMix64: tiny, fast and good enough to pick keys and operations; not cryptographic.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (0 when `bound` is 0), without modulo bias worth measuring
    /// for the bounds a benchmark uses (the 128-bit multiply maps evenly).
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A float in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// YCSB's ZipfianGenerator (Gray et al., "Quickly generating billion-record synthetic
/// databases", SIGMOD 1994): item 0 is the most popular, item i has weight 1/(i+1)^theta.
#[derive(Debug, Clone)]
pub struct Zipfian {
    items: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

/// YCSB's default skew.
pub const ZIPFIAN_THETA: f64 = 0.99;

impl Zipfian {
    /// Precomputes the constants for `items` items (at least 1). The zeta sum is O(items),
    /// done once per run (a few milliseconds for a million keys).
    pub fn new(items: u64, theta: f64) -> Zipfian {
        let items = items.max(1);
        let zetan = zeta(items, theta);
        let zeta2 = zeta(2.min(items), theta);
        let eta = if items <= 1 {
            0.0
        } else {
            (1.0 - (2.0 / items as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan)
        };
        Zipfian {
            items,
            theta,
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta,
        }
    }

    /// The probability of item 0, useful to check the generator.
    pub fn head_probability(&self) -> f64 {
        1.0 / self.zetan
    }

    /// Draws an item in `0..items`.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if self.items > 1 && uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1;
        }
        let v = (self.items as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        v.min(self.items - 1)
    }
}

fn zeta(n: u64, theta: f64) -> f64 {
    (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum()
}

/// Draws key indexes in `0..keys` with the configured distribution.
#[derive(Debug, Clone)]
pub enum KeyChooser {
    /// Uniform over the keys.
    Uniform(u64),
    /// Zipfian over the keys.
    Zipfian(Zipfian),
}

impl KeyChooser {
    /// A chooser over `keys` keys (at least one).
    pub fn new(distribution: Distribution, keys: u64) -> KeyChooser {
        match distribution {
            Distribution::Uniform => KeyChooser::Uniform(keys.max(1)),
            Distribution::Zipfian => KeyChooser::Zipfian(Zipfian::new(keys, ZIPFIAN_THETA)),
        }
    }

    /// The next key index.
    pub fn next(&self, rng: &mut Rng) -> u64 {
        match self {
            KeyChooser::Uniform(n) => rng.below(*n),
            KeyChooser::Zipfian(z) => z.sample(rng),
        }
    }
}

/// The path of key `index` under `root`. Fixed width so that listings sort numerically.
pub fn key_path(root: &str, index: u64) -> String {
    format!("{root}/k{index:08}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_per_seed() {
        let a: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let mut r = Rng::new(7);
        let b: Vec<u64> = (0..5).map(|_| r.next_u64()).collect();
        assert_eq!(a, b);
        let mut other = Rng::new(8);
        assert_ne!(a[0], other.next_u64());
    }

    #[test]
    fn uniform_covers_range_evenly() {
        let mut rng = Rng::new(1);
        let chooser = KeyChooser::new(Distribution::Uniform, 10);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[chooser.next(&mut rng) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "uneven uniform: {counts:?}");
        }
    }

    #[test]
    fn zipfian_is_skewed_towards_low_items_and_stays_in_range() {
        let items = 1000;
        let z = Zipfian::new(items, ZIPFIAN_THETA);
        let mut rng = Rng::new(42);
        let draws = 200_000;
        let mut counts = vec![0u32; items as usize];
        for _ in 0..draws {
            let k = z.sample(&mut rng);
            assert!(k < items);
            counts[k as usize] += 1;
        }
        // Item 0's share must match 1/zeta(n) within a few percent of itself.
        let head = f64::from(counts[0]) / draws as f64;
        let expected = z.head_probability();
        assert!(
            (head - expected).abs() < expected * 0.05,
            "head share {head} vs expected {expected}"
        );
        // Popularity falls with rank: item 0 beats item 1, which beats item 10, which beats
        // item 500 by a wide margin.
        assert!(counts[0] > counts[1]);
        assert!(counts[1] > counts[10]);
        assert!(counts[10] > counts[500] * 5);
        // The tail is still reached.
        assert!(counts[500..].iter().any(|c| *c > 0));
    }

    #[test]
    fn zipfian_handles_one_item() {
        let z = Zipfian::new(1, ZIPFIAN_THETA);
        let mut rng = Rng::new(3);
        assert!((0..100).all(|_| z.sample(&mut rng) == 0));
    }

    #[test]
    fn key_paths_are_fixed_width() {
        assert_eq!(key_path("/rk-bench", 42), "/rk-bench/k00000042");
    }
}
