//! Redis 7.0's geohash arithmetic (`geohash.c`, `geohash_helper.c`), ported operation for
//! operation: geo keys are sorted sets whose scores are these 52-bit hashes, so the scores,
//! the decoded coordinates, the distances and the cells a search visits must be the same
//! bits Redis computes, or replies differ in their last digits and DUMP payloads do not
//! travel between the two servers.

/// Longitude bounds (EPSG:900913).
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// Latitude bounds: the Web Mercator limits, not the poles.
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// The precision of stored scores: 26 bits per coordinate.
pub const STEP_MAX: u8 = 26;

const D_R: f64 = std::f64::consts::PI / 180.0;
/// Earth's quadratic mean radius for WGS-84, as Redis uses it.
pub const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// An interval of one coordinate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The ranges Redis hashes stored points in.
pub const WGS84_LONG: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
pub const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A hash of `step` bits per coordinate (latitude bits in the even positions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Bits {
    pub bits: u64,
    pub step: u8,
}

impl Bits {
    /// Redis's `HASHISZERO`: the "no cell" marker of pruned neighbours.
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash as a 52-bit score (`geohashAlign52Bits`).
    pub fn align52(&self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }

    /// The score interval `[min, max)` of the points inside this cell.
    pub fn score_range(&self) -> (u64, u64) {
        let next = Bits {
            bits: self.bits.wrapping_add(1),
            step: self.step,
        };
        (self.align52(), next.align52())
    }
}

/// A decoded cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub long: Range,
    pub lat: Range,
}

fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let mut x = u64::from(xlo);
    let mut y = u64::from(ylo);
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// C's conversion of a non-negative double to `uint32_t` as x86-64 performs it (through a
/// signed 64-bit truncation): offsets are in `[0, 2^step]`, where both agree.
fn c_to_u32(d: f64) -> u32 {
    (d as i64) as u32
}

/// `geohashEncode`: `None` outside the WGS-84 bounds or the given ranges.
pub fn encode(long_r: Range, lat_r: Range, long: f64, lat: f64, step: u8) -> Option<Bits> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&long) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || long < long_r.min || long > long_r.max {
        return None;
    }
    let mut lat_offset = (lat - lat_r.min) / (lat_r.max - lat_r.min);
    let mut long_offset = (long - long_r.min) / (long_r.max - long_r.min);
    let scale = (1u64 << step) as f64;
    lat_offset *= scale;
    long_offset *= scale;
    Some(Bits {
        bits: interleave64(c_to_u32(lat_offset), c_to_u32(long_offset)),
        step,
    })
}

/// Encodes a point at full precision in Redis's ranges.
pub fn encode_wgs84(long: f64, lat: f64, step: u8) -> Option<Bits> {
    encode(WGS84_LONG, WGS84_LAT, long, lat, step)
}

/// `geohashDecode`: the cell a hash names.
pub fn decode(long_r: Range, lat_r: Range, hash: Bits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let step = u32::from(hash.step);
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_r.max - lat_r.min;
    let long_scale = long_r.max - long_r.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    // Redis divides by 2^step; multiplying by its reciprocal (also a power of two, so
    // exact) gives the same bits without four divisions per decoded point.
    let inv = 1.0 / (1u64 << step) as f64;
    Some(Area {
        lat: Range {
            min: lat_r.min + (f64::from(ilato) * inv) * lat_scale,
            max: lat_r.min + ((f64::from(ilato) + 1.0) * inv) * lat_scale,
        },
        long: Range {
            min: long_r.min + (f64::from(ilono) * inv) * long_scale,
            max: long_r.min + ((f64::from(ilono) + 1.0) * inv) * long_scale,
        },
    })
}

/// The WGS-84 cell of a hash.
pub fn decode_wgs84(hash: Bits) -> Option<Area> {
    decode(WGS84_LONG, WGS84_LAT, hash)
}

/// The centre of a cell, clamped to the WGS-84 bounds (`geohashDecodeAreaToLongLat`).
pub fn area_center(a: &Area) -> [f64; 2] {
    let long = ((a.long.min + a.long.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [long, lat]
}

/// C's `(uint64_t)score` on x86-64 (gcc's sequence: a signed truncation below 2^63, a
/// shifted one above), so that scores no GEOADD wrote decode to the same place as in Redis.
pub fn score_bits(score: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    if score.is_nan() {
        return 1u64 << 63;
    }
    if score < TWO63 {
        // cvttsd2si: out-of-range values give the "integer indefinite" 0x8000...
        if score < -TWO63 {
            1u64 << 63
        } else {
            (score as i64) as u64
        }
    } else {
        let shifted = score - TWO63;
        let low = if shifted < TWO63 {
            (shifted as i64) as u64
        } else {
            1u64 << 63
        };
        low ^ (1u64 << 63)
    }
}

/// The longitude and latitude a sorted-set score stands for (Redis's `decodeGeohash`).
pub fn decode_score(score: f64) -> [f64; 2] {
    let hash = Bits {
        bits: score_bits(score),
        step: STEP_MAX,
    };
    // A step of 26 is never the zero marker, so decoding cannot fail.
    decode_wgs84(hash)
        .map(|a| area_center(&a))
        .unwrap_or([0.0, 0.0])
}

fn move_x(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0x5555555555555555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> shift;
    hash.bits = x | y;
}

fn move_y(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> shift;
    hash.bits = x | y;
}

/// The eight cells around a hash.
#[derive(Clone, Copy, Debug, Default)]
pub struct Neighbors {
    pub north: Bits,
    pub east: Bits,
    pub west: Bits,
    pub south: Bits,
    pub north_east: Bits,
    pub south_east: Bits,
    pub north_west: Bits,
    pub south_west: Bits,
}

fn moved(hash: &Bits, dx: i8, dy: i8) -> Bits {
    let mut h = *hash;
    move_x(&mut h, dx);
    move_y(&mut h, dy);
    h
}

/// `geohashNeighbors`.
pub fn neighbors(hash: &Bits) -> Neighbors {
    Neighbors {
        east: moved(hash, 1, 0),
        west: moved(hash, -1, 0),
        south: moved(hash, 0, -1),
        north: moved(hash, 0, 1),
        north_west: moved(hash, -1, 1),
        north_east: moved(hash, 1, 1),
        south_east: moved(hash, 1, -1),
        south_west: moved(hash, -1, -1),
    }
}

/// The area a search covers, with sizes in metres (already converted from the unit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    Radius(f64),
    /// Width and height.
    Box(f64, f64),
}

/// A search: its centre, its area in the client's unit and the unit's size in metres.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub xy: [f64; 2],
    pub kind: ShapeKind,
    pub conversion: f64,
}

/// `geohashEstimateStepsByRadius`: the precision whose cells just cover the radius.
pub fn estimate_steps_by_radius(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    // Bounded: the radius doubles each time (an infinite one never enters the loop).
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// `geohashBoundingBox`: `[min_long, min_lat, max_long, max_lat]`.
pub fn bounding_box(shape: &Shape) -> [f64; 4] {
    let [longitude, latitude] = shape.xy;
    let (h, w) = match shape.kind {
        ShapeKind::Radius(r) => (r, r),
        ShapeKind::Box(w, h) => (h / 2.0, w / 2.0),
    };
    let height = shape.conversion * h;
    let width = shape.conversion * w;
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
    let southern = latitude < 0.0;
    let delta = if southern {
        long_delta_bottom
    } else {
        long_delta_top
    };
    [
        longitude - delta,
        latitude - lat_delta,
        longitude + delta,
        latitude + lat_delta,
    ]
}

/// The cells a search visits, in Redis's order: the centre, N, S, E, W, NE, NW, SE, SW;
/// pruned cells are zero.
pub fn search_cells(shape: &Shape) -> [Bits; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let [longitude, latitude] = shape.xy;
    let radius_meters = match shape.kind {
        ShapeKind::Radius(r) => r,
        ShapeKind::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
    } * shape.conversion;
    let mut steps = estimate_steps_by_radius(radius_meters, latitude);
    let cell = |steps: u8| {
        let hash = encode_wgs84(longitude, latitude, steps).unwrap_or_default();
        let n = neighbors(&hash);
        let area = decode_wgs84(hash);
        (hash, n, area)
    };
    let (mut hash, mut n, mut area) = cell(steps);
    let edge = |b: Bits| decode_wgs84(b);
    let mut decrease = false;
    if let Some(north) = edge(n.north) {
        decrease |= north.lat.max < max_lat;
    }
    if let Some(south) = edge(n.south) {
        decrease |= south.lat.min > min_lat;
    }
    if let Some(east) = edge(n.east) {
        decrease |= east.long.max < max_lon;
    }
    if let Some(west) = edge(n.west) {
        decrease |= west.long.min > min_lon;
    }
    if steps > 1 && decrease {
        steps -= 1;
        (hash, n, area) = cell(steps);
    }
    if steps >= 2 {
        if let Some(area) = area {
            let zero = Bits::default();
            if area.lat.min < min_lat {
                n.south = zero;
                n.south_west = zero;
                n.south_east = zero;
            }
            if area.lat.max > max_lat {
                n.north = zero;
                n.north_east = zero;
                n.north_west = zero;
            }
            if area.long.min < min_lon {
                n.west = zero;
                n.south_west = zero;
                n.north_west = zero;
            }
            if area.long.max > max_lon {
                n.east = zero;
                n.south_east = zero;
                n.north_east = zero;
            }
        }
    }
    [
        hash,
        n.north,
        n.south,
        n.east,
        n.west,
        n.north_east,
        n.north_west,
        n.south_east,
        n.south_west,
    ]
}

/// The haversine distance in metres (Redis 7.0's `geohashGetDistance`).
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lat1r = deg_rad(lat1d);
    let lon1r = deg_rad(lon1d);
    let lat2r = deg_rad(lat2d);
    let lon2r = deg_rad(lon2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_IN_METERS * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// The distance along a meridian between two latitudes (`geohashGetLatDistance`).
fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// A shape's per-search constants, shared by every candidate a search tests: the centre
/// in radians and its cosine (Redis 7.0 recomputes that cosine per candidate; the value is
/// the same), and the bounds of the longitude check below.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    shape: Shape,
    lat1r: f64,
    lon1r: f64,
    cos_lat1: f64,
    /// A lower bound of `cos(lat1) * cos(lat2)` over the latitudes that pass the latitude
    /// check, shaded down; 0 turns the longitude check off.
    lon_factor: f64,
    /// `sin²(radius / 2R)`, shaded up: the haversine term a point inside the circle stays
    /// under.
    hav_limit: f64,
}

impl Probe {
    pub fn new(shape: &Shape) -> Probe {
        let [lon1d, lat1d] = shape.xy;
        let (lat1r, lon1r) = (deg_rad(lat1d), deg_rad(lon1d));
        let cos_lat1 = lat1r.cos();
        let (mut lon_factor, mut hav_limit) = (0.0, 0.0);
        if let ShapeKind::Radius(r) = shape.kind {
            let angle = r * shape.conversion / EARTH_RADIUS_IN_METERS;
            // Past 2 radians (12,700 km) the bound is not worth its care: check off.
            if (0.0..2.0).contains(&angle) {
                // Points that pass the latitude check lie within `angle` of the centre's
                // latitude, where the cosine is smallest at the largest |latitude|.
                let widest = lat1r.abs() + angle * (1.0 + 1e-9) + 1e-12;
                if widest < std::f64::consts::FRAC_PI_2 {
                    lon_factor = cos_lat1 * widest.cos() * (1.0 - 1e-9);
                    let s = (angle / 2.0).sin();
                    hav_limit = s * s * (1.0 + 1e-9);
                }
            }
        }
        Probe {
            shape: *shape,
            lat1r,
            lon1r,
            cos_lat1,
            lon_factor,
            hav_limit,
        }
    }

    /// The distance from the shape's centre to `xy` if the point is inside the shape (Redis's
    /// `geohashGetDistanceIfInRadiusWGS84` and `geohashGetDistanceIfInRectangle`).
    ///
    /// A radius search skips the haversine for most points outside the circle, with two
    /// checks that can only reject points the haversine would reject too (their bounds are
    /// shaded by a billionth, far beyond the formula's rounding): the distance along the
    /// meridian never exceeds the great-circle distance (Redis 7.2 does the same), and the
    /// haversine term `hav(Δφ) + cos φ1 cos φ2 hav(Δλ)` is at least its longitude part with
    /// `cos φ2` at its smallest in the latitude band. The distances of the points kept are
    /// computed exactly as Redis 7.0's `geohashGetDistance`, operation for operation.
    pub fn within(&self, xy: [f64; 2]) -> Option<f64> {
        let [x1, y1] = self.shape.xy;
        let [x2, y2] = xy;
        match self.shape.kind {
            ShapeKind::Radius(r) => {
                let radius = r * self.shape.conversion;
                if lat_distance(y1, y2) > radius {
                    return None;
                }
                let v = ((deg_rad(x2) - self.lon1r) / 2.0).sin();
                if self.lon_factor * v * v > self.hav_limit {
                    return None;
                }
                let lat2r = deg_rad(y2);
                let u = ((lat2r - self.lat1r) / 2.0).sin();
                let d = 2.0
                    * EARTH_RADIUS_IN_METERS
                    * (u * u + self.cos_lat1 * lat2r.cos() * v * v).sqrt().asin();
                (d <= radius).then_some(d)
            }
            ShapeKind::Box(w, h) => {
                let conversion = self.shape.conversion;
                let (width_m, height_m) = (w * conversion, h * conversion);
                let lon_distance = distance(x2, y2, x1, y2);
                let lat_distance = distance(x2, y2, x2, y1);
                if lon_distance > width_m / 2.0 || lat_distance > height_m / 2.0 {
                    return None;
                }
                Some(distance(x1, y1, x2, y2))
            }
        }
    }
}

/// GEOHASH's 11-character standard geohash of a stored score: decoded, then re-encoded
/// with the standard latitude range (-90, 90) and the last character always '0'.
pub fn standard_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let [long, lat] = decode_score(score);
    let r_long = Range {
        min: -180.0,
        max: 180.0,
    };
    let r_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(r_long, r_lat, long, lat, 26)
        .map(|h| h.bits)
        .unwrap_or(0);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palermo_scores_and_hash_like_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" stores 3479099956230698.
        let h = encode_wgs84(13.361389, 38.115556, STEP_MAX).unwrap();
        assert_eq!(h.align52(), 3479099956230698);
        assert_eq!(&standard_string(3479099956230698.0), b"sqc8b49rny0");
        let [x, y] = decode_score(3479099956230698.0);
        assert_eq!(format!("{x:.17}"), "13.36138933897018433");
        assert_eq!(format!("{y:.17}"), "38.11555639549629859");
    }

    #[test]
    fn distance_like_redis() {
        // GEODIST Sicily Palermo Catania = 166274.1516.
        let p = decode_score(3479099956230698.0);
        let c = decode_score(3479447370796909.0);
        assert_eq!(
            format!("{:.4}", distance(p[0], p[1], c[0], c[1])),
            "166274.1516"
        );
    }

    #[test]
    fn neighbors_round_trip() {
        let h = encode_wgs84(10.0, 20.0, 10).unwrap();
        let n = neighbors(&h);
        assert_eq!(neighbors(&n.east).west, h);
        assert_eq!(neighbors(&n.north).south, h);
    }

    /// The probe's shortcuts never change an answer: against the plain haversine check
    /// (Redis 7.0's), on random centres, radii and points, many of them right at the edge.
    #[test]
    fn probe_agrees_with_the_plain_haversine() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut unit = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut kept = 0;
        for i in 0..20_000 {
            let c = [-180.0 + 360.0 * unit(), -85.0 + 170.0 * unit()];
            let radius = match i % 4 {
                0 => 1000.0 * unit(),
                1 => 200_000.0 * unit(),
                2 => 5_000_000.0 * unit(),
                _ => 20_000_000.0 * unit(),
            };
            let shape = Shape {
                xy: c,
                kind: ShapeKind::Radius(radius),
                conversion: 1.0,
            };
            let probe = Probe::new(&shape);
            for j in 0..20 {
                // Half the points near the centre, scaled so many land on the circle's edge.
                let spread = if j % 2 == 0 {
                    rad_deg(radius / EARTH_RADIUS_IN_METERS) * 1.5
                } else {
                    180.0
                };
                let p = decode_score(
                    encode_wgs84(
                        (c[0] + spread * (2.0 * unit() - 1.0)).clamp(LONG_MIN, LONG_MAX),
                        (c[1] + spread * (2.0 * unit() - 1.0)).clamp(LAT_MIN, LAT_MAX),
                        STEP_MAX,
                    )
                    .map_or(0, |h| h.align52()) as f64,
                );
                let d = distance(c[0], c[1], p[0], p[1]);
                let plain = (d <= radius).then_some(d);
                let got = probe.within(p);
                assert_eq!(
                    got.map(f64::to_bits),
                    plain.map(f64::to_bits),
                    "centre {c:?} radius {radius} point {p:?}"
                );
                kept += usize::from(got.is_some());
            }
        }
        assert!(
            kept > 50_000,
            "too few points inside to mean anything: {kept}"
        );
    }

    #[test]
    fn score_bits_like_x86() {
        assert_eq!(score_bits(-1.0), u64::MAX);
        assert_eq!(score_bits(12.7), 12);
        assert_eq!(score_bits(1.8446744073709552e19), 0);
    }
}
