//! The generator behind scripts' `math.random`: Redis's `redisLrand48` (the 48-bit linear
//! congruential generator of drand48), so that a seed gives the same sequence as in Redis,
//! and its state carries from one script to the next (Redis 7.0 no longer reseeds per script).

const A: u64 = 0x5DEE_CE66D;
const C: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;

#[derive(Clone, Copy, Debug)]
pub struct Rand48 {
    x: u64,
}

impl Default for Rand48 {
    fn default() -> Self {
        let mut r = Rand48 { x: 0 };
        r.seed(0);
        r
    }
}

impl Rand48 {
    /// `redisSrand48`: the seed in the high 32 bits, 0x330E below.
    pub fn seed(&mut self, seed: i32) {
        self.x = ((seed as u32 as u64) << 16 | 0x330E) & MASK;
    }

    /// `redisLrand48`: the next 31-bit value.
    pub fn next_u31(&mut self) -> u32 {
        self.x = (A.wrapping_mul(self.x).wrapping_add(C)) & MASK;
        (self.x >> 17) as u32
    }

    /// `redis_math_random`'s number in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        const MAX: u32 = i32::MAX as u32;
        (self.next_u31() % MAX) as f64 / MAX as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_sequence() {
        let mut a = Rand48::default();
        let mut b = Rand48::default();
        a.seed(10);
        b.seed(10);
        let x: Vec<u32> = (0..4).map(|_| a.next_u31()).collect();
        let y: Vec<u32> = (0..4).map(|_| b.next_u31()).collect();
        assert_eq!(x, y);
        b.seed(20);
        assert_ne!(a.next_u31(), b.next_u31());
        let mut z = Rand48::default();
        assert!((0.0..1.0).contains(&z.next_f64()));
    }
}
