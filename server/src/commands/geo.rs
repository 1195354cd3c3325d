//! Geo commands (GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH[STORE], GEORADIUS[BYMEMBER]
//! and their _RO forms), as Redis 7.0's `geo.c`.
//!
//! A geo index is a plain sorted set whose scores are 52-bit geohashes
//! ([`crate::keyspace::geohash`]): GEOADD is rewritten into a ZADD (and replicated as that
//! ZADD), and searches read the set by the score ranges of the nine cells around the
//! centre, so a small radius visits a small part of a large set.

use super::keyspec::{self as ks, key_flags::*, KeyRef};
use super::table::{flags::*, CommandSpec};
use super::zsets::{parse_score, read_zset, WrongType};
use super::{args, errors, Ctx};
use crate::keyspace::geohash::{self, Shape, ShapeKind};
use crate::keyspace::types::zset::{ZLimits, ZSetValue};
use crate::keyspace::{Ttl, Value};
use crate::keyspace_events::Events;
use crate::protocol::Out;
use bytes::Bytes;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("geoadd", -5, WRITE | DENYOOM, &[ks::range(1, 0, 1, RW | UPDATE)], geoadd, "geo", "Adds one or more members to a geospatial index. The key is created if it doesn't exist.").events(Events::Named("zadd")),
    CommandSpec::new("geodist", -4, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], geodist, "geo", "Returns the distance between two members of a geospatial index."),
    CommandSpec::new("geohash", -2, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], geohash_cmd, "geo", "Returns members from a geospatial index as geohash strings."),
    CommandSpec::new("geopos", -2, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], geopos, "geo", "Returns the longitude and latitude of members from a geospatial index."),
    CommandSpec::new("georadius", -6, WRITE | DENYOOM, &[ks::range(1, 0, 1, RO | ACCESS), ks::keyword("STORE", 6, 0, 1, OW | UPDATE), ks::keyword("STOREDIST", 6, 0, 1, OW | UPDATE)], georadius, "geo", "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.").events(Events::GeoStore).getkeys(georadius_keys),
    CommandSpec::new("georadius_ro", -6, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], georadius_ro, "geo", "Returns members from a geospatial index that are within a distance from a coordinate."),
    CommandSpec::new("georadiusbymember", -5, WRITE | DENYOOM, &[ks::range(1, 0, 1, RO | ACCESS), ks::keyword("STORE", 5, 0, 1, OW | UPDATE), ks::keyword("STOREDIST", 5, 0, 1, OW | UPDATE)], georadiusbymember, "geo", "Queries a geospatial index for members within a distance from a member, optionally stores the result.").events(Events::GeoStore).getkeys(georadius_keys),
    CommandSpec::new("georadiusbymember_ro", -5, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], georadiusbymember_ro, "geo", "Returns members from a geospatial index that are within a distance from a member."),
    CommandSpec::new("geosearch", -7, READONLY, &[ks::range(1, 0, 1, RO | ACCESS)], geosearch, "geo", "Queries a geospatial index for members inside an area of a box or a circle."),
    CommandSpec::new("geosearchstore", -8, WRITE | DENYOOM, &[ks::range(1, 0, 1, OW | UPDATE), ks::range(2, 0, 1, RO | ACCESS)], geosearchstore, "geo", "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.").events(Events::Store("geosearchstore")),
];

/// GEORADIUS[BYMEMBER]'s keys (Redis's `georadiusGetKeys`): the source, and the argument
/// after the last STORE or STOREDIST from the fifth on.
fn georadius_keys(a: &[Bytes]) -> Vec<KeyRef> {
    let mut stored = None;
    let mut i = 5;
    while i < a.len() {
        if (args::is(&a[i], "store") || args::is(&a[i], "storedist")) && i + 1 < a.len() {
            stored = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    let mut keys = vec![KeyRef {
        pos: 1,
        flags: RO | ACCESS,
    }];
    keys.extend(stored.map(|pos| KeyRef {
        pos,
        flags: OW | UPDATE,
    }));
    keys
}

const UNIT_ERR: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
const MEMBER_ERR: &str = "ERR could not decode requested zset member";

/// A unit's size in metres (`extractUnitOrReply`).
fn unit(b: &[u8]) -> Result<f64, String> {
    match crate::util::lower(b).as_str() {
        "m" => Ok(1.0),
        "km" => Ok(1000.0),
        "ft" => Ok(0.3048),
        "mi" => Ok(1609.34),
        _ => Err(UNIT_ERR.into()),
    }
}

/// A double as `getDoubleFromObjectOrReply`, with its custom message when given.
fn double(b: &[u8], msg: Option<&str>) -> Result<f64, String> {
    parse_score(b).ok_or_else(|| match msg {
        Some(m) => format!("ERR {m}"),
        None => errors::NOT_FLOAT.into(),
    })
}

/// A longitude and latitude pair, checked against the WGS-84 bounds.
fn long_lat(a: &[Bytes]) -> Result<[f64; 2], String> {
    let x = double(&a[0], None)?;
    let y = double(&a[1], None)?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&x)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&y)
    {
        return Err(format!("ERR invalid longitude,latitude pair {x:.6},{y:.6}"));
    }
    Ok([x, y])
}

/// A radius and its unit: `(radius, metres per unit)`.
fn radius(a: &[Bytes]) -> Result<(f64, f64), String> {
    let r = double(&a[0], Some("need numeric radius"))?;
    if r < 0.0 {
        return Err("ERR radius cannot be negative".into());
    }
    Ok((r, unit(&a[1])?))
}

/// A box's width, height and unit.
fn box_size(a: &[Bytes]) -> Result<(f64, f64, f64), String> {
    let w = double(&a[0], Some("need numeric width"))?;
    let h = double(&a[1], Some("need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err("ERR height or width cannot be negative".into());
    }
    Ok((w, h, unit(&a[2])?))
}

/// Writes a distance as Redis does (`%.4f`, a bulk string in every protocol).
fn reply_distance(out: &mut Out, d: f64) {
    out.bulk(format!("{d:.4}").as_bytes());
}

/// Redis's `addReplyHumanLongDouble`: `%.17Lf` without trailing zeros (a bulk string in
/// RESP2, a double in RESP3).
fn reply_coord(out: &mut Out, d: f64) {
    let mut s = format!("{d:.17}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".into();
    }
    out.double_str(&s);
}

// ---------------------------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS

fn geoadd(ctx: &mut Ctx, a: &[Bytes]) {
    let (mut nx, mut xx) = (false, false);
    let mut longidx = 2;
    while longidx < a.len() {
        if args::is(&a[longidx], "nx") {
            nx = true;
        } else if args::is(&a[longidx], "xx") {
            xx = true;
        } else if !args::is(&a[longidx], "ch") {
            break;
        }
        longidx += 1;
    }
    if !(a.len() - longidx).is_multiple_of(3) || (xx && nx) {
        return ctx.err(errors::SYNTAX);
    }
    let mut zargs: Vec<Bytes> = Vec::with_capacity(longidx + (a.len() - longidx) / 3 * 2);
    zargs.push(Bytes::from_static(b"zadd"));
    zargs.extend(a[1..longidx].iter().cloned());
    for triple in a[longidx..].chunks_exact(3) {
        let xy = match long_lat(&triple[..2]) {
            Ok(xy) => xy,
            Err(e) => return ctx.err(&e),
        };
        let score = geohash::encode_wgs84(xy[0], xy[1], geohash::STEP_MAX)
            .map(|h| h.align52())
            .unwrap_or(0);
        zargs.push(Bytes::from(score.to_string()));
        zargs.push(triple[2].clone());
    }
    let before = ctx.ks.dirty;
    super::zsets::zadd(ctx, &zargs);
    if ctx.ks.dirty != before {
        ctx.propagate_as(vec![zargs]);
    }
}

fn geodist(ctx: &mut Ctx, a: &[Bytes]) {
    let to_meter = match a.len() {
        5 => match unit(&a[4]) {
            Ok(u) => u,
            Err(e) => return ctx.err(&e),
        },
        4 => 1.0,
        _ => return ctx.err(errors::SYNTAX),
    };
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    let z = match read_zset(db, &a[1], now) {
        Err(WrongType) => return out.error(errors::WRONGTYPE),
        Ok(None) => return out.null(),
        Ok(Some(z)) => z,
    };
    match (z.score(&a[2]), z.score(&a[3])) {
        (Some(s1), Some(s2)) => {
            let p1 = geohash::decode_score(s1);
            let p2 = geohash::decode_score(s2);
            reply_distance(
                out,
                geohash::distance(p1[0], p1[1], p2[0], p2[1]) / to_meter,
            );
        }
        _ => out.null(),
    }
}

fn geohash_cmd(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    let z = match read_zset(db, &a[1], now) {
        Err(WrongType) => return out.error(errors::WRONGTYPE),
        Ok(z) => z,
    };
    out.array(a.len() - 2);
    for m in &a[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => out.bulk(&geohash::standard_string(s)),
            None => out.null(),
        }
    }
}

fn geopos(ctx: &mut Ctx, a: &[Bytes]) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    let z = match read_zset(db, &a[1], now) {
        Err(WrongType) => return out.error(errors::WRONGTYPE),
        Ok(z) => z,
    };
    out.array(a.len() - 2);
    for m in &a[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => {
                let [x, y] = geohash::decode_score(s);
                out.array(2);
                reply_coord(out, x);
                reply_coord(out, y);
            }
            None => out.null_array(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Searches

/// Which command form is searching (Redis's `RADIUS_COORDS`, `RADIUS_MEMBER`, `GEOSEARCH`
/// flags, with `NOSTORE` for the _RO forms).
#[derive(Clone, Copy, PartialEq)]
enum Form {
    RadiusCoords { nostore: bool },
    RadiusMember { nostore: bool },
    Search { store: bool },
}

#[derive(Clone, Copy, PartialEq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A point found inside the shape.
struct Point {
    long: f64,
    lat: f64,
    dist: f64,
    score: f64,
    member: Bytes,
}

/// Appends the members of `z` inside one cell and the shape (`geoGetPointsInRange`),
/// stopping once `limit` points (0: no limit) were found.
fn points_in_cell(
    z: &ZSetValue,
    cell: geohash::Bits,
    probe: &geohash::Probe,
    limit: usize,
    found: &mut Vec<Point>,
) {
    let (min, max) = cell.score_range();
    let (min, max) = (min as f64, max as f64);
    for (m, s) in z.iter_after_where(|s, _| s < min) {
        if s >= max {
            break;
        }
        let xy = geohash::decode_score(s);
        if let Some(dist) = probe.within(xy) {
            found.push(Point {
                long: xy[0],
                lat: xy[1],
                dist,
                score: s,
                member: Bytes::copy_from_slice(m),
            });
        }
        if !found.is_empty() && limit > 0 && found.len() >= limit {
            break;
        }
    }
}

/// The members inside the shape, visiting the centre cell and its neighbours
/// (`membersOfAllNeighbors`).
fn search(z: &ZSetValue, shape: &Shape, limit: usize) -> Vec<Point> {
    let cells = geohash::search_cells(shape);
    let probe = geohash::Probe::new(shape);
    let mut found = Vec::new();
    let mut last: Option<usize> = None;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // Large radii make neighbours coincide: skip a cell equal to the previous one
        // (Redis never compares with the centre cell, index 0).
        if let Some(l) = last.filter(|&l| l > 0) {
            if cells[l] == *cell {
                continue;
            }
        }
        if !found.is_empty() && limit > 0 && found.len() >= limit {
            break;
        }
        points_in_cell(z, *cell, &probe, limit, &mut found);
        last = Some(i);
    }
    found
}

/// A parsed search request.
struct Request {
    shape: Shape,
    store: Option<Bytes>,
    storedist: bool,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    any: bool,
    count: usize,
}

/// What the source key holds.
enum Source<'a> {
    Missing,
    Set(&'a ZSetValue),
}

/// Parses a search's arguments as `georadiusGeneric` does, in its order, so the same
/// error wins; a missing member with an existing key is an error.
fn parse(a: &[Bytes], form: Form, src: &Source) -> Result<Request, String> {
    let zobj = match src {
        Source::Set(z) => Some(*z),
        Source::Missing => None,
    };
    let mut shape = Shape {
        xy: [0.0, 0.0],
        kind: ShapeKind::Radius(0.0),
        conversion: 1.0,
    };
    let mut store = None;
    let base = match form {
        Form::RadiusCoords { .. } => {
            shape.xy = long_lat(&a[2..4])?;
            let (r, conv) = radius(&a[4..6])?;
            shape.kind = ShapeKind::Radius(r);
            shape.conversion = conv;
            6
        }
        Form::RadiusMember { .. } => {
            if let Some(z) = zobj {
                let s = z.score(&a[2]).ok_or_else(|| MEMBER_ERR.to_string())?;
                shape.xy = geohash::decode_score(s);
                let (r, conv) = radius(&a[3..5])?;
                shape.kind = ShapeKind::Radius(r);
                shape.conversion = conv;
            }
            5
        }
        Form::Search { store: true } => {
            store = Some(a[1].clone());
            3
        }
        Form::Search { store: false } => 2,
    };
    let is_search = matches!(form, Form::Search { .. });
    let nostore = matches!(
        form,
        Form::RadiusCoords { nostore: true } | Form::RadiusMember { nostore: true }
    );
    let search_store = form == Form::Search { store: true };
    let mut r = Request {
        shape,
        store,
        storedist: false,
        withdist: false,
        withhash: false,
        withcoord: false,
        sort: Sort::None,
        any: false,
        count: 0,
    };
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let rest = &a[base.min(a.len())..];
    let remaining = rest.len();
    let mut i = 0;
    while i < remaining {
        let arg = &rest[i];
        if args::is(arg, "withdist") {
            r.withdist = true;
        } else if args::is(arg, "withhash") {
            r.withhash = true;
        } else if args::is(arg, "withcoord") {
            r.withcoord = true;
        } else if args::is(arg, "any") {
            r.any = true;
        } else if args::is(arg, "asc") {
            r.sort = Sort::Asc;
        } else if args::is(arg, "desc") {
            r.sort = Sort::Desc;
        } else if args::is(arg, "count") && i + 1 < remaining {
            let n = args::int(&rest[i + 1]).ok_or_else(|| errors::NOT_INT.to_string())?;
            if n <= 0 {
                return Err("ERR COUNT must be > 0".into());
            }
            r.count = usize::try_from(n).unwrap_or(usize::MAX);
            i += 1;
        } else if (args::is(arg, "store") || args::is(arg, "storedist"))
            && i + 1 < remaining
            && !nostore
            && !is_search
        {
            r.store = Some(rest[i + 1].clone());
            r.storedist = args::is(arg, "storedist");
            i += 1;
        } else if args::is(arg, "storedist") && search_store {
            r.storedist = true;
        } else if args::is(arg, "frommember") && i + 1 < remaining && is_search && !fromloc {
            if let Some(z) = zobj {
                let s = z
                    .score(&rest[i + 1])
                    .ok_or_else(|| MEMBER_ERR.to_string())?;
                r.shape.xy = geohash::decode_score(s);
            }
            frommember = true;
            i += 1;
        } else if args::is(arg, "fromlonlat") && i + 2 < remaining && is_search && !frommember {
            r.shape.xy = long_lat(&rest[i + 1..i + 3])?;
            fromloc = true;
            i += 2;
        } else if args::is(arg, "byradius") && i + 2 < remaining && is_search && !bybox {
            let (rad, conv) = radius(&rest[i + 1..i + 3])?;
            r.shape.kind = ShapeKind::Radius(rad);
            r.shape.conversion = conv;
            byradius = true;
            i += 2;
        } else if args::is(arg, "bybox") && i + 3 < remaining && is_search && !byradius {
            let (w, h, conv) = box_size(&rest[i + 1..i + 4])?;
            r.shape.kind = ShapeKind::Box(w, h);
            r.shape.conversion = conv;
            bybox = true;
            i += 3;
        } else {
            return Err(errors::SYNTAX.into());
        }
        i += 1;
    }
    if r.store.is_some() && (r.withdist || r.withhash || r.withcoord) {
        let what = if search_store {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        ));
    }
    let name = String::from_utf8_lossy(&a[0]);
    if is_search && !(frommember || fromloc) {
        return Err(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        ));
    }
    if is_search && !(byradius || bybox) {
        return Err(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        ));
    }
    if r.any && r.count == 0 {
        return Err("ERR the ANY argument requires COUNT argument".into());
    }
    Ok(r)
}

/// What a search ends in: points to reply, or a set to store.
enum Outcome {
    Reply(Vec<Point>),
    Store(Vec<Point>),
}

fn georadius_generic(ctx: &mut Ctx, a: &[Bytes], src_idx: usize, form: Form) {
    let now = ctx.now;
    let (db, out) = ctx.db_out();
    let z = match read_zset(db, &a[src_idx], now) {
        Err(WrongType) => return out.error(errors::WRONGTYPE),
        Ok(z) => z,
    };
    let src = z.map_or(Source::Missing, Source::Set);
    let req = match parse(a, form, &src) {
        Ok(r) => r,
        Err(e) => return out.error(&e),
    };
    let Source::Set(z) = src else {
        return match req.store.clone() {
            Some(dst) => store_points(ctx, &dst, Vec::new(), &req),
            None => out.array(0),
        };
    };
    let mut sort = req.sort;
    if req.count != 0 && sort == Sort::None && !req.any {
        sort = Sort::Asc;
    }
    let mut found = search(z, &req.shape, if req.any { req.count } else { 0 });
    let returned = if req.count == 0 {
        found.len()
    } else {
        found.len().min(req.count)
    };
    if sort != Sort::None {
        let desc = sort == Sort::Desc;
        let cmp = |x: &Point, y: &Point| compare_dist(x.dist, y.dist, desc);
        if returned == found.len() {
            // Redis calls qsort(3), which glibc implements as a stable merge sort.
            found.sort_by(|x, y| cmp(x, y).cmp(&0));
        } else if returned > 0 {
            crate::pqsort::pqsort(&mut found, &cmp, 0, returned - 1);
        }
    }
    found.truncate(returned);
    let outcome = match req.store {
        Some(_) => Outcome::Store(found),
        None => Outcome::Reply(found),
    };
    match outcome {
        Outcome::Reply(points) => reply_points(out, &points, &req),
        Outcome::Store(points) => {
            let dst = req.store.clone().unwrap_or_default();
            store_points(ctx, &dst, points, &req)
        }
    }
}

/// Redis's `sort_gp_asc` / `sort_gp_desc`: -1, 0 or 1.
fn compare_dist(a: f64, b: f64, desc: bool) -> i32 {
    let c = if a == b {
        0
    } else if a > b {
        1
    } else {
        -1
    };
    if desc {
        -c
    } else {
        c
    }
}

fn reply_points(out: &mut Out, points: &[Point], req: &Request) {
    let options =
        usize::from(req.withdist) + usize::from(req.withhash) + usize::from(req.withcoord);
    out.array(points.len());
    for p in points {
        if options > 0 {
            out.array(options + 1);
        }
        out.bulk(&p.member);
        if req.withdist {
            reply_distance(out, p.dist / req.shape.conversion);
        }
        if req.withhash {
            out.int(p.score as i64);
        }
        if req.withcoord {
            out.array(2);
            reply_coord(out, p.long);
            reply_coord(out, p.lat);
        }
    }
}

/// Replaces `dst` with the points (scored by hash, or by distance with STOREDIST), or
/// deletes it when there are none; replies how many were stored.
fn store_points(ctx: &mut Ctx, dst: &[u8], points: Vec<Point>, req: &Request) {
    let now = ctx.now;
    let lim = ZLimits {
        max_entries: ctx.settings.zset_max_listpack_entries,
        max_value: ctx.settings.zset_max_listpack_value,
    };
    let n = points.len();
    let maxlen = points.iter().map(|p| p.member.len()).max().unwrap_or(0);
    let db = ctx.db();
    if n == 0 {
        if db.remove(dst, now).is_some() {
            ctx.dirty(1);
        }
    } else {
        let mut z = ZSetValue::with_hint(n, maxlen, lim);
        for p in &points {
            let score = if req.storedist {
                p.dist / req.shape.conversion
            } else {
                p.score
            };
            z.insert(&p.member, score, lim);
        }
        db.set(dst, Value::ZSet(z), Ttl::Persist, now);
        ctx.dirty(n as u64);
    }
    ctx.out.int(n as i64);
}

fn georadius(ctx: &mut Ctx, a: &[Bytes]) {
    georadius_generic(ctx, a, 1, Form::RadiusCoords { nostore: false })
}

fn georadius_ro(ctx: &mut Ctx, a: &[Bytes]) {
    georadius_generic(ctx, a, 1, Form::RadiusCoords { nostore: true })
}

fn georadiusbymember(ctx: &mut Ctx, a: &[Bytes]) {
    georadius_generic(ctx, a, 1, Form::RadiusMember { nostore: false })
}

fn georadiusbymember_ro(ctx: &mut Ctx, a: &[Bytes]) {
    georadius_generic(ctx, a, 1, Form::RadiusMember { nostore: true })
}

fn geosearch(ctx: &mut Ctx, a: &[Bytes]) {
    georadius_generic(ctx, a, 1, Form::Search { store: false })
}

fn geosearchstore(ctx: &mut Ctx, a: &[Bytes]) {
    georadius_generic(ctx, a, 2, Form::Search { store: true })
}
