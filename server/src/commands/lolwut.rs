//! LOLWUT [VERSION v] [args]: a piece of generative art and the server's version, as Redis
//! does it. VERSION 5 draws squares that fall into disorder row by row (after Georg Nees'
//! "Schotter", 1968) in Braille characters; VERSION 6 a city skyline; any other version
//! only the version line. Every size argument is clamped before it sizes anything.

use super::table::{flags::*, CommandSpec};
use super::{args, Ctx};
use bytes::Bytes;
use rand::Rng;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new(
    "lolwut",
    -1,
    READONLY | FAST,
    &[],
    lolwut,
    "server",
    "Displays computer art and the Redis version",
)];

fn version_line() -> String {
    format!(
        "slotcache ver. {} (Redis ver. {})\n",
        env!("CARGO_PKG_VERSION"),
        super::REDIS_VERSION
    )
}

fn lolwut(ctx: &mut Ctx, a: &[Bytes]) {
    let mut version = 7;
    let mut rest = &a[1..];
    if rest.len() >= 2 && args::is(&rest[0], "VERSION") {
        match args::int(&rest[1]) {
            Some(v) => version = v,
            None => return ctx.err(super::errors::NOT_INT),
        }
        rest = &rest[2..];
    }
    let mut nums = Vec::new();
    for r in rest {
        match args::int(r) {
            Some(n) => nums.push(n),
            None => return ctx.err(super::errors::NOT_INT),
        }
    }
    let arg =
        |i: usize, default: i64, max: i64| nums.get(i).copied().unwrap_or(default).clamp(1, max);
    let text = match version {
        5 => {
            let art = schotter(
                arg(0, 66, 1000) as usize,
                arg(1, 8, 200) as usize,
                arg(2, 12, 200) as usize,
            );
            format!(
                "{art}\nAfter Georg Nees - schotter, plotter on paper, 1968. {}",
                version_line()
            )
        }
        6 => {
            let art = skyline(arg(0, 80, 1000) as usize, arg(1, 20, 1000) as usize);
            format!(
                "{art}\nA city that never sleeps, and never evicts its skyline. {}",
                version_line()
            )
        }
        _ => version_line(),
    };
    ctx.out.verbatim("txt", text.as_bytes());
}

/// A pixel canvas rendered as Braille characters (2 x 4 pixels each).
struct Canvas {
    w: usize,
    h: usize,
    px: Vec<bool>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Self {
        Canvas {
            w,
            h,
            px: vec![false; w * h],
        }
    }

    fn set(&mut self, x: i64, y: i64) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            self.px[y as usize * self.w + x as usize] = true;
        }
    }

    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64)) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.set(x, y);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    fn render(&self) -> String {
        const BITS: [[u32; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];
        let mut s = String::new();
        for cy in (0..self.h).step_by(4) {
            for cx in (0..self.w).step_by(2) {
                let mut code = 0;
                for (dx, col) in BITS.iter().enumerate() {
                    for (dy, bit) in col.iter().enumerate() {
                        let (x, y) = (cx + dx, cy + dy);
                        if x < self.w && y < self.h && self.px[y * self.w + x] {
                            code |= bit;
                        }
                    }
                }
                s.push(char::from_u32(0x2800 + code).unwrap_or(' '));
            }
            s.push('\n');
        }
        s
    }
}

/// Rows of squares, each row rotated and displaced a little more at random than the one
/// above.
fn schotter(columns: usize, per_row: usize, per_col: usize) -> String {
    let width = columns * 2;
    let side = (width / (per_row + 2)).max(1);
    let height = side * (per_col + 2);
    let mut c = Canvas::new(width, height);
    let mut rng = rand::thread_rng();
    for row in 0..per_col {
        let disorder = row as f64 / per_col as f64;
        for col in 0..per_row {
            let half = side as f64 / 2.0;
            let cx =
                (col + 1) as f64 * side as f64 + half + rng.gen_range(-1.0..=1.0) * disorder * half;
            let cy =
                (row + 1) as f64 * side as f64 + half + rng.gen_range(-1.0..=1.0) * disorder * half;
            let angle = rng.gen_range(-1.0..=1.0) * disorder * std::f64::consts::FRAC_PI_4;
            let corners: Vec<(i64, i64)> = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
                .iter()
                .map(|(dx, dy)| {
                    let (x, y) = (dx * half, dy * half);
                    let (s, co) = angle.sin_cos();
                    ((cx + x * co - y * s) as i64, (cy + x * s + y * co) as i64)
                })
                .collect();
            for i in 0..4 {
                c.line(corners[i], corners[(i + 1) % 4]);
            }
        }
    }
    c.render()
}

/// Buildings of random widths and heights with lit and dark windows.
fn skyline(columns: usize, rows: usize) -> String {
    let mut grid = vec![vec![' '; columns]; rows];
    let mut rng = rand::thread_rng();
    let mut x = 0;
    while x < columns {
        let w = rng.gen_range(3..=9).min(columns - x);
        let h = rng
            .gen_range(rows / 4..=rows.saturating_sub(1))
            .max(1)
            .min(rows);
        for (y, line) in grid.iter_mut().enumerate().skip(rows - h) {
            for (i, cell) in line.iter_mut().skip(x).take(w).enumerate() {
                *cell = if i == 0 || i == w - 1 || y == rows - h {
                    '#'
                } else if rng.gen_bool(0.4) {
                    '.'
                } else {
                    ' '
                };
            }
        }
        x += w + 1;
    }
    grid.into_iter()
        .map(|l| l.into_iter().collect::<String>().trim_end().to_string() + "\n")
        .collect()
}
