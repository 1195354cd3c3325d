//! The arguments COMMAND DOCS lists for each command, as Redis 7.0.15 documents them
//! (`src/commands/*.json`): redis-cli builds its hints and help from them, and each key
//! argument names the key spec (in the command table) that finds it, by `key_spec_index`.
//!
//! Kept equal to Redis's by `cluster-tests/tests/command_keyspecs.rs`, which compares
//! COMMAND DOCS side by side with redis-server; the command table's unit tests check that
//! every `key_spec_index` points at one of the command's key specs.

/// An argument's type, as COMMAND DOCS names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    String,
    Integer,
    Double,
    Key,
    Pattern,
    UnixTime,
    PureToken,
    OneOf,
    Block,
}

use ArgType::{
    Double as DOUBLE, Integer as INTEGER, Pattern as PATTERN, PureToken as PURE_TOKEN,
    String as STRING, UnixTime as UNIX_TIME,
};

impl ArgType {
    pub fn name(self) -> &'static str {
        match self {
            ArgType::String => "string",
            ArgType::Integer => "integer",
            ArgType::Double => "double",
            ArgType::Key => "key",
            ArgType::Pattern => "pattern",
            ArgType::UnixTime => "unix-time",
            ArgType::PureToken => "pure-token",
            ArgType::OneOf => "oneof",
            ArgType::Block => "block",
        }
    }
}

/// May be left out.
pub const OPTIONAL: u8 = 1 << 0;
/// May be repeated.
pub const MULTIPLE: u8 = 1 << 1;
/// Repeated together with its token (`GET p GET p`).
pub const MULTIPLE_TOKEN: u8 = 1 << 2;

/// Flag names as COMMAND DOCS reports them, in Redis's order.
pub const FLAG_NAMES: &[(u8, &str)] = &[
    (OPTIONAL, "optional"),
    (MULTIPLE, "multiple"),
    (MULTIPLE_TOKEN, "multiple_token"),
];

/// One documented argument; `oneof` and `block` hold their own.
#[derive(Clone, Copy, Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgType,
    /// The index of the key spec that finds this argument (keys, and SORT's patterns).
    pub key_spec: Option<u8>,
    pub token: Option<&'static str>,
    pub summary: Option<&'static str>,
    pub since: Option<&'static str>,
    pub deprecated_since: Option<&'static str>,
    pub flags: u8,
    pub args: &'static [Arg],
}

const fn arg(name: &'static str, kind: ArgType) -> Arg {
    Arg {
        name,
        kind,
        key_spec: None,
        token: None,
        summary: None,
        since: None,
        deprecated_since: None,
        flags: 0,
        args: &[],
    }
}

/// A key, found by the command's key spec `spec`.
const fn key(name: &'static str, spec: u8) -> Arg {
    arg(name, ArgType::Key).key_spec(spec)
}

/// Exactly one of `args`.
const fn oneof(name: &'static str, args: &'static [Arg]) -> Arg {
    let mut a = arg(name, ArgType::OneOf);
    a.args = args;
    a
}

/// All of `args`, in order.
const fn block(name: &'static str, args: &'static [Arg]) -> Arg {
    let mut a = arg(name, ArgType::Block);
    a.args = args;
    a
}

impl Arg {
    const fn key_spec(mut self, spec: u8) -> Self {
        self.key_spec = Some(spec);
        self
    }
    const fn token(mut self, token: &'static str) -> Self {
        self.token = Some(token);
        self
    }
    #[allow(dead_code)]
    const fn summary(mut self, summary: &'static str) -> Self {
        self.summary = Some(summary);
        self
    }
    const fn since(mut self, since: &'static str) -> Self {
        self.since = Some(since);
        self
    }
    const fn deprecated_since(mut self, since: &'static str) -> Self {
        self.deprecated_since = Some(since);
        self
    }
    const fn optional(mut self) -> Self {
        self.flags |= OPTIONAL;
        self
    }
    const fn multiple(mut self) -> Self {
        self.flags |= MULTIPLE;
        self
    }
    const fn multiple_token(mut self) -> Self {
        self.flags |= MULTIPLE_TOKEN;
        self
    }
}

const APPEND: &[Arg] = &[key("key", 0), arg("value", STRING)];

const AUTH: &[Arg] = &[
    arg("username", STRING).since("6.0.0").optional(),
    arg("password", STRING),
];

const BITCOUNT: &[Arg] = &[
    key("key", 0),
    block(
        "index",
        &[
            arg("start", INTEGER),
            arg("end", INTEGER),
            oneof(
                "index_unit",
                &[
                    arg("byte", PURE_TOKEN).token("BYTE"),
                    arg("bit", PURE_TOKEN).token("BIT"),
                ],
            )
            .since("7.0.0")
            .optional(),
        ],
    )
    .optional(),
];

const BITFIELD: &[Arg] = &[
    key("key", 0),
    oneof(
        "operation",
        &[
            block(
                "encoding_offset",
                &[arg("encoding", STRING), arg("offset", INTEGER)],
            )
            .token("GET"),
            block(
                "write",
                &[
                    oneof(
                        "wrap_sat_fail",
                        &[
                            arg("wrap", PURE_TOKEN).token("WRAP"),
                            arg("sat", PURE_TOKEN).token("SAT"),
                            arg("fail", PURE_TOKEN).token("FAIL"),
                        ],
                    )
                    .token("OVERFLOW")
                    .optional(),
                    oneof(
                        "write_operation",
                        &[
                            block(
                                "encoding_offset_value",
                                &[
                                    arg("encoding", STRING),
                                    arg("offset", INTEGER),
                                    arg("value", INTEGER),
                                ],
                            )
                            .token("SET"),
                            block(
                                "encoding_offset_increment",
                                &[
                                    arg("encoding", STRING),
                                    arg("offset", INTEGER),
                                    arg("increment", INTEGER),
                                ],
                            )
                            .token("INCRBY"),
                        ],
                    ),
                ],
            ),
        ],
    )
    .optional()
    .multiple(),
];

const BITFIELD_RO: &[Arg] = &[
    key("key", 0),
    block(
        "encoding_offset",
        &[arg("encoding", STRING), arg("offset", INTEGER)],
    )
    .token("GET")
    .optional()
    .multiple()
    .multiple_token(),
];

const BITOP: &[Arg] = &[
    arg("operation", STRING),
    key("destkey", 0),
    key("key", 1).multiple(),
];

const BITPOS: &[Arg] = &[
    key("key", 0),
    arg("bit", INTEGER),
    block(
        "index",
        &[
            arg("start", INTEGER),
            block(
                "end_index",
                &[
                    arg("end", INTEGER),
                    oneof(
                        "index_unit",
                        &[
                            arg("byte", PURE_TOKEN).token("BYTE"),
                            arg("bit", PURE_TOKEN).token("BIT"),
                        ],
                    )
                    .since("7.0.0")
                    .optional(),
                ],
            )
            .optional(),
        ],
    )
    .optional(),
];

const BLMOVE: &[Arg] = &[
    key("source", 0),
    key("destination", 1),
    oneof(
        "wherefrom",
        &[
            arg("left", PURE_TOKEN).token("LEFT"),
            arg("right", PURE_TOKEN).token("RIGHT"),
        ],
    ),
    oneof(
        "whereto",
        &[
            arg("left", PURE_TOKEN).token("LEFT"),
            arg("right", PURE_TOKEN).token("RIGHT"),
        ],
    ),
    arg("timeout", DOUBLE),
];

const BLMPOP: &[Arg] = &[
    arg("timeout", DOUBLE),
    arg("numkeys", INTEGER),
    key("key", 0).multiple(),
    oneof(
        "where",
        &[
            arg("left", PURE_TOKEN).token("LEFT"),
            arg("right", PURE_TOKEN).token("RIGHT"),
        ],
    ),
    arg("count", INTEGER).token("COUNT").optional(),
];

const BLPOP: &[Arg] = &[key("key", 0).multiple(), arg("timeout", DOUBLE)];

const BRPOP: &[Arg] = &[key("key", 0).multiple(), arg("timeout", DOUBLE)];

const BRPOPLPUSH: &[Arg] = &[
    key("source", 0),
    key("destination", 1),
    arg("timeout", DOUBLE),
];

const BZMPOP: &[Arg] = &[
    arg("timeout", DOUBLE),
    arg("numkeys", INTEGER),
    key("key", 0).multiple(),
    oneof(
        "where",
        &[
            arg("min", PURE_TOKEN).token("MIN"),
            arg("max", PURE_TOKEN).token("MAX"),
        ],
    ),
    arg("count", INTEGER).token("COUNT").optional(),
];

const BZPOPMAX: &[Arg] = &[key("key", 0).multiple(), arg("timeout", DOUBLE)];

const BZPOPMIN: &[Arg] = &[key("key", 0).multiple(), arg("timeout", DOUBLE)];

const CLIENT_KILL: &[Arg] = &[oneof(
    "filter",
    &[
        arg("ip:port", STRING).deprecated_since("2.8.12"),
        oneof(
            "new-format",
            &[
                arg("client-id", INTEGER)
                    .token("ID")
                    .since("2.8.12")
                    .optional(),
                oneof(
                    "normal_master_slave_pubsub",
                    &[
                        arg("normal", PURE_TOKEN).token("NORMAL"),
                        arg("master", PURE_TOKEN).token("MASTER").since("3.2.0"),
                        arg("slave", PURE_TOKEN).token("SLAVE"),
                        arg("replica", PURE_TOKEN).token("REPLICA").since("5.0.0"),
                        arg("pubsub", PURE_TOKEN).token("PUBSUB"),
                    ],
                )
                .token("TYPE")
                .since("2.8.12")
                .optional(),
                arg("username", STRING).token("USER").optional(),
                arg("ip:port", STRING).token("ADDR").optional(),
                arg("ip:port", STRING)
                    .token("LADDR")
                    .since("6.2.0")
                    .optional(),
                arg("yes/no", STRING).token("SKIPME").optional(),
            ],
        )
        .multiple(),
    ],
)];

const CLIENT_LIST: &[Arg] = &[
    oneof(
        "normal_master_replica_pubsub",
        &[
            arg("normal", PURE_TOKEN).token("NORMAL"),
            arg("master", PURE_TOKEN).token("MASTER"),
            arg("replica", PURE_TOKEN).token("REPLICA"),
            arg("pubsub", PURE_TOKEN).token("PUBSUB"),
        ],
    )
    .token("TYPE")
    .since("5.0.0")
    .optional(),
    block("id", &[arg("client-id", INTEGER).multiple()])
        .token("ID")
        .since("6.2.0")
        .optional(),
];

const CLIENT_NO_EVICT: &[Arg] = &[oneof(
    "enabled",
    &[
        arg("on", PURE_TOKEN).token("ON"),
        arg("off", PURE_TOKEN).token("OFF"),
    ],
)];

const CLIENT_PAUSE: &[Arg] = &[
    arg("timeout", INTEGER),
    oneof(
        "mode",
        &[
            arg("write", PURE_TOKEN).token("WRITE"),
            arg("all", PURE_TOKEN).token("ALL"),
        ],
    )
    .since("6.2.0")
    .optional(),
];

const CLIENT_REPLY: &[Arg] = &[oneof(
    "on_off_skip",
    &[
        arg("on", PURE_TOKEN).token("ON"),
        arg("off", PURE_TOKEN).token("OFF"),
        arg("skip", PURE_TOKEN).token("SKIP"),
    ],
)];

const CLIENT_SETNAME: &[Arg] = &[arg("connection-name", STRING)];

const CLIENT_CACHING: &[Arg] = &[oneof(
    "mode",
    &[
        arg("yes", PURE_TOKEN).token("YES"),
        arg("no", PURE_TOKEN).token("NO"),
    ],
)];

const CLIENT_TRACKING: &[Arg] = &[
    oneof(
        "status",
        &[
            arg("on", PURE_TOKEN).token("ON"),
            arg("off", PURE_TOKEN).token("OFF"),
        ],
    ),
    arg("client-id", INTEGER).token("REDIRECT").optional(),
    arg("prefix", STRING)
        .token("PREFIX")
        .optional()
        .multiple()
        .multiple_token(),
    arg("bcast", PURE_TOKEN).token("BCAST").optional(),
    arg("optin", PURE_TOKEN).token("OPTIN").optional(),
    arg("optout", PURE_TOKEN).token("OPTOUT").optional(),
    arg("noloop", PURE_TOKEN).token("NOLOOP").optional(),
];

const CLIENT_UNBLOCK: &[Arg] = &[
    arg("client-id", INTEGER),
    oneof(
        "timeout_error",
        &[
            arg("timeout", PURE_TOKEN).token("TIMEOUT"),
            arg("error", PURE_TOKEN).token("ERROR"),
        ],
    )
    .optional(),
];

const CLUSTER_ADDSLOTS: &[Arg] = &[arg("slot", INTEGER).multiple()];

const CLUSTER_ADDSLOTSRANGE: &[Arg] = &[block(
    "start-slot_end-slot",
    &[arg("start-slot", INTEGER), arg("end-slot", INTEGER)],
)
.multiple()];

const CLUSTER_COUNT_FAILURE_REPORTS: &[Arg] = &[arg("node-id", STRING)];

const CLUSTER_COUNTKEYSINSLOT: &[Arg] = &[arg("slot", INTEGER)];

const CLUSTER_DELSLOTS: &[Arg] = &[arg("slot", INTEGER).multiple()];

const CLUSTER_DELSLOTSRANGE: &[Arg] = &[block(
    "start-slot_end-slot",
    &[arg("start-slot", INTEGER), arg("end-slot", INTEGER)],
)
.multiple()];

const CLUSTER_FAILOVER: &[Arg] = &[oneof(
    "options",
    &[
        arg("force", PURE_TOKEN).token("FORCE"),
        arg("takeover", PURE_TOKEN).token("TAKEOVER"),
    ],
)
.optional()];

const CLUSTER_FORGET: &[Arg] = &[arg("node-id", STRING)];

const CLUSTER_GETKEYSINSLOT: &[Arg] = &[arg("slot", INTEGER), arg("count", INTEGER)];

const CLUSTER_KEYSLOT: &[Arg] = &[arg("key", STRING)];

const CLUSTER_MEET: &[Arg] = &[
    arg("ip", STRING),
    arg("port", INTEGER),
    arg("cluster_bus_port", INTEGER).since("4.0.0").optional(),
];

const CLUSTER_REPLICAS: &[Arg] = &[arg("node-id", STRING)];

const CLUSTER_REPLICATE: &[Arg] = &[arg("node-id", STRING)];

const CLUSTER_RESET: &[Arg] = &[oneof(
    "hard_soft",
    &[
        arg("hard", PURE_TOKEN).token("HARD"),
        arg("soft", PURE_TOKEN).token("SOFT"),
    ],
)
.optional()];

const CLUSTER_SET_CONFIG_EPOCH: &[Arg] = &[arg("config-epoch", INTEGER)];

const CLUSTER_SETSLOT: &[Arg] = &[
    arg("slot", INTEGER),
    oneof(
        "subcommand",
        &[
            arg("node-id", STRING).token("IMPORTING"),
            arg("node-id", STRING).token("MIGRATING"),
            arg("node-id", STRING).token("NODE"),
            arg("stable", PURE_TOKEN).token("STABLE"),
        ],
    ),
];

const CLUSTER_SLAVES: &[Arg] = &[arg("node-id", STRING)];

const COMMAND_DOCS: &[Arg] = &[arg("command-name", STRING).optional().multiple()];

const COMMAND_INFO: &[Arg] = &[arg("command-name", STRING).optional().multiple()];

const COMMAND_LIST: &[Arg] = &[oneof(
    "filterby",
    &[
        arg("module-name", STRING).token("MODULE"),
        arg("category", STRING).token("ACLCAT"),
        arg("pattern", PATTERN).token("PATTERN"),
    ],
)
.token("FILTERBY")
.optional()];

const CONFIG_GET: &[Arg] = &[block("parameter", &[arg("parameter", STRING)]).multiple()];

const CONFIG_SET: &[Arg] = &[block(
    "parameter_value",
    &[arg("parameter", STRING), arg("value", STRING)],
)
.multiple()];

const COPY: &[Arg] = &[
    key("source", 0),
    key("destination", 1),
    arg("destination-db", INTEGER).token("DB").optional(),
    arg("replace", PURE_TOKEN).token("REPLACE").optional(),
];

const DECR: &[Arg] = &[key("key", 0)];

const DECRBY: &[Arg] = &[key("key", 0), arg("decrement", INTEGER)];

const DEL: &[Arg] = &[key("key", 0).multiple()];

const DUMP: &[Arg] = &[key("key", 0)];

const ECHO: &[Arg] = &[arg("message", STRING)];

const EXISTS: &[Arg] = &[key("key", 0).multiple()];

const EXPIRE: &[Arg] = &[
    key("key", 0),
    arg("seconds", INTEGER),
    oneof(
        "condition",
        &[
            arg("nx", PURE_TOKEN).token("NX"),
            arg("xx", PURE_TOKEN).token("XX"),
            arg("gt", PURE_TOKEN).token("GT"),
            arg("lt", PURE_TOKEN).token("LT"),
        ],
    )
    .since("7.0.0")
    .optional(),
];

const EXPIREAT: &[Arg] = &[
    key("key", 0),
    arg("unix-time-seconds", UNIX_TIME),
    oneof(
        "condition",
        &[
            arg("nx", PURE_TOKEN).token("NX"),
            arg("xx", PURE_TOKEN).token("XX"),
            arg("gt", PURE_TOKEN).token("GT"),
            arg("lt", PURE_TOKEN).token("LT"),
        ],
    )
    .since("7.0.0")
    .optional(),
];

const EXPIRETIME: &[Arg] = &[key("key", 0)];

const FLUSHALL: &[Arg] = &[oneof(
    "async",
    &[
        arg("async", PURE_TOKEN).token("ASYNC").since("4.0.0"),
        arg("sync", PURE_TOKEN).token("SYNC").since("6.2.0"),
    ],
)
.optional()];

const FLUSHDB: &[Arg] = &[oneof(
    "async",
    &[
        arg("async", PURE_TOKEN).token("ASYNC").since("4.0.0"),
        arg("sync", PURE_TOKEN).token("SYNC").since("6.2.0"),
    ],
)
.optional()];

const GEOADD: &[Arg] = &[
    key("key", 0),
    oneof(
        "condition",
        &[
            arg("nx", PURE_TOKEN).token("NX"),
            arg("xx", PURE_TOKEN).token("XX"),
        ],
    )
    .since("6.2.0")
    .optional(),
    arg("change", PURE_TOKEN)
        .token("CH")
        .since("6.2.0")
        .optional(),
    block(
        "longitude_latitude_member",
        &[
            arg("longitude", DOUBLE),
            arg("latitude", DOUBLE),
            arg("member", STRING),
        ],
    )
    .multiple(),
];

const GEODIST: &[Arg] = &[
    key("key", 0),
    arg("member1", STRING),
    arg("member2", STRING),
    oneof(
        "unit",
        &[
            arg("m", PURE_TOKEN).token("M"),
            arg("km", PURE_TOKEN).token("KM"),
            arg("ft", PURE_TOKEN).token("FT"),
            arg("mi", PURE_TOKEN).token("MI"),
        ],
    )
    .optional(),
];

const GEOHASH: &[Arg] = &[key("key", 0), arg("member", STRING).multiple()];

const GEOPOS: &[Arg] = &[key("key", 0), arg("member", STRING).multiple()];

const GEORADIUS: &[Arg] = &[
    key("key", 0),
    arg("longitude", DOUBLE),
    arg("latitude", DOUBLE),
    arg("radius", DOUBLE),
    oneof(
        "unit",
        &[
            arg("m", PURE_TOKEN).token("M"),
            arg("km", PURE_TOKEN).token("KM"),
            arg("ft", PURE_TOKEN).token("FT"),
            arg("mi", PURE_TOKEN).token("MI"),
        ],
    ),
    arg("withcoord", PURE_TOKEN).token("WITHCOORD").optional(),
    arg("withdist", PURE_TOKEN).token("WITHDIST").optional(),
    arg("withhash", PURE_TOKEN).token("WITHHASH").optional(),
    block(
        "count",
        &[
            arg("count", INTEGER).token("COUNT"),
            arg("any", PURE_TOKEN)
                .token("ANY")
                .since("6.2.0")
                .optional(),
        ],
    )
    .optional(),
    oneof(
        "order",
        &[
            arg("asc", PURE_TOKEN).token("ASC"),
            arg("desc", PURE_TOKEN).token("DESC"),
        ],
    )
    .optional(),
    key("key", 1).token("STORE").optional(),
    key("key", 2).token("STOREDIST").optional(),
];

const GEORADIUS_RO: &[Arg] = &[
    key("key", 0),
    arg("longitude", DOUBLE),
    arg("latitude", DOUBLE),
    arg("radius", DOUBLE),
    oneof(
        "unit",
        &[
            arg("m", PURE_TOKEN).token("M"),
            arg("km", PURE_TOKEN).token("KM"),
            arg("ft", PURE_TOKEN).token("FT"),
            arg("mi", PURE_TOKEN).token("MI"),
        ],
    ),
    arg("withcoord", PURE_TOKEN).token("WITHCOORD").optional(),
    arg("withdist", PURE_TOKEN).token("WITHDIST").optional(),
    arg("withhash", PURE_TOKEN).token("WITHHASH").optional(),
    block(
        "count",
        &[
            arg("count", INTEGER).token("COUNT"),
            arg("any", PURE_TOKEN)
                .token("ANY")
                .since("6.2.0")
                .optional(),
        ],
    )
    .optional(),
    oneof(
        "order",
        &[
            arg("asc", PURE_TOKEN).token("ASC"),
            arg("desc", PURE_TOKEN).token("DESC"),
        ],
    )
    .optional(),
];

const GEORADIUSBYMEMBER: &[Arg] = &[
    key("key", 0),
    arg("member", STRING),
    arg("radius", DOUBLE),
    oneof(
        "unit",
        &[
            arg("m", PURE_TOKEN).token("M"),
            arg("km", PURE_TOKEN).token("KM"),
            arg("ft", PURE_TOKEN).token("FT"),
            arg("mi", PURE_TOKEN).token("MI"),
        ],
    ),
    arg("withcoord", PURE_TOKEN).token("WITHCOORD").optional(),
    arg("withdist", PURE_TOKEN).token("WITHDIST").optional(),
    arg("withhash", PURE_TOKEN).token("WITHHASH").optional(),
    block(
        "count",
        &[
            arg("count", INTEGER).token("COUNT"),
            arg("any", PURE_TOKEN).token("ANY").optional(),
        ],
    )
    .optional(),
    oneof(
        "order",
        &[
            arg("asc", PURE_TOKEN).token("ASC"),
            arg("desc", PURE_TOKEN).token("DESC"),
        ],
    )
    .optional(),
    key("key", 1).token("STORE").optional(),
    key("key", 2).token("STOREDIST").optional(),
];

const GEORADIUSBYMEMBER_RO: &[Arg] = &[
    key("key", 0),
    arg("member", STRING),
    arg("radius", DOUBLE),
    oneof(
        "unit",
        &[
            arg("m", PURE_TOKEN).token("M"),
            arg("km", PURE_TOKEN).token("KM"),
            arg("ft", PURE_TOKEN).token("FT"),
            arg("mi", PURE_TOKEN).token("MI"),
        ],
    ),
    arg("withcoord", PURE_TOKEN).token("WITHCOORD").optional(),
    arg("withdist", PURE_TOKEN).token("WITHDIST").optional(),
    arg("withhash", PURE_TOKEN).token("WITHHASH").optional(),
    block(
        "count",
        &[
            arg("count", INTEGER).token("COUNT"),
            arg("any", PURE_TOKEN).token("ANY").optional(),
        ],
    )
    .optional(),
    oneof(
        "order",
        &[
            arg("asc", PURE_TOKEN).token("ASC"),
            arg("desc", PURE_TOKEN).token("DESC"),
        ],
    )
    .optional(),
];

const GEOSEARCH: &[Arg] = &[
    key("key", 0),
    oneof(
        "from",
        &[
            arg("member", STRING).token("FROMMEMBER"),
            block(
                "longitude_latitude",
                &[arg("longitude", DOUBLE), arg("latitude", DOUBLE)],
            )
            .token("FROMLONLAT"),
        ],
    ),
    oneof(
        "by",
        &[
            block(
                "circle",
                &[
                    arg("radius", DOUBLE).token("BYRADIUS"),
                    oneof(
                        "unit",
                        &[
                            arg("m", PURE_TOKEN).token("M"),
                            arg("km", PURE_TOKEN).token("KM"),
                            arg("ft", PURE_TOKEN).token("FT"),
                            arg("mi", PURE_TOKEN).token("MI"),
                        ],
                    ),
                ],
            ),
            block(
                "box",
                &[
                    arg("width", DOUBLE).token("BYBOX"),
                    arg("height", DOUBLE),
                    oneof(
                        "unit",
                        &[
                            arg("m", PURE_TOKEN).token("M"),
                            arg("km", PURE_TOKEN).token("KM"),
                            arg("ft", PURE_TOKEN).token("FT"),
                            arg("mi", PURE_TOKEN).token("MI"),
                        ],
                    ),
                ],
            ),
        ],
    ),
    oneof(
        "order",
        &[
            arg("asc", PURE_TOKEN).token("ASC"),
            arg("desc", PURE_TOKEN).token("DESC"),
        ],
    )
    .optional(),
    block(
        "count",
        &[
            arg("count", INTEGER).token("COUNT"),
            arg("any", PURE_TOKEN).token("ANY").optional(),
        ],
    )
    .optional(),
    arg("withcoord", PURE_TOKEN).token("WITHCOORD").optional(),
    arg("withdist", PURE_TOKEN).token("WITHDIST").optional(),
    arg("withhash", PURE_TOKEN).token("WITHHASH").optional(),
];

const GEOSEARCHSTORE: &[Arg] = &[
    key("destination", 0),
    key("source", 1),
    oneof(
        "from",
        &[
            arg("member", STRING).token("FROMMEMBER"),
            block(
                "longitude_latitude",
                &[arg("longitude", DOUBLE), arg("latitude", DOUBLE)],
            )
            .token("FROMLONLAT"),
        ],
    ),
    oneof(
        "by",
        &[
            block(
                "circle",
                &[
                    arg("radius", DOUBLE).token("BYRADIUS"),
                    oneof(
                        "unit",
                        &[
                            arg("m", PURE_TOKEN).token("M"),
                            arg("km", PURE_TOKEN).token("KM"),
                            arg("ft", PURE_TOKEN).token("FT"),
                            arg("mi", PURE_TOKEN).token("MI"),
                        ],
                    ),
                ],
            ),
            block(
                "box",
                &[
                    arg("width", DOUBLE).token("BYBOX"),
                    arg("height", DOUBLE),
                    oneof(
                        "unit",
                        &[
                            arg("m", PURE_TOKEN).token("M"),
                            arg("km", PURE_TOKEN).token("KM"),
                            arg("ft", PURE_TOKEN).token("FT"),
                            arg("mi", PURE_TOKEN).token("MI"),
                        ],
                    ),
                ],
            ),
        ],
    ),
    oneof(
        "order",
        &[
            arg("asc", PURE_TOKEN).token("ASC"),
            arg("desc", PURE_TOKEN).token("DESC"),
        ],
    )
    .optional(),
    block(
        "count",
        &[
            arg("count", INTEGER).token("COUNT"),
            arg("any", PURE_TOKEN).token("ANY").optional(),
        ],
    )
    .optional(),
    arg("storedist", PURE_TOKEN).token("STOREDIST").optional(),
];

const GET: &[Arg] = &[key("key", 0)];

const GETBIT: &[Arg] = &[key("key", 0), arg("offset", INTEGER)];

const GETDEL: &[Arg] = &[key("key", 0)];

const GETEX: &[Arg] = &[
    key("key", 0),
    oneof(
        "expiration",
        &[
            arg("seconds", INTEGER).token("EX"),
            arg("milliseconds", INTEGER).token("PX"),
            arg("unix-time-seconds", UNIX_TIME).token("EXAT"),
            arg("unix-time-milliseconds", UNIX_TIME).token("PXAT"),
            arg("persist", PURE_TOKEN).token("PERSIST"),
        ],
    )
    .optional(),
];

const GETRANGE: &[Arg] = &[key("key", 0), arg("start", INTEGER), arg("end", INTEGER)];

const GETSET: &[Arg] = &[key("key", 0), arg("value", STRING)];

const HDEL: &[Arg] = &[key("key", 0), arg("field", STRING).multiple()];

const HELLO: &[Arg] = &[block(
    "arguments",
    &[
        arg("protover", INTEGER),
        block(
            "username_password",
            &[arg("username", STRING), arg("password", STRING)],
        )
        .token("AUTH")
        .optional(),
        arg("clientname", STRING).token("SETNAME").optional(),
    ],
)
.optional()];

const HEXISTS: &[Arg] = &[key("key", 0), arg("field", STRING)];

const HGET: &[Arg] = &[key("key", 0), arg("field", STRING)];

const HGETALL: &[Arg] = &[key("key", 0)];

const HINCRBY: &[Arg] = &[
    key("key", 0),
    arg("field", STRING),
    arg("increment", INTEGER),
];

const HINCRBYFLOAT: &[Arg] = &[
    key("key", 0),
    arg("field", STRING),
    arg("increment", DOUBLE),
];

const HKEYS: &[Arg] = &[key("key", 0)];

const HLEN: &[Arg] = &[key("key", 0)];

const HMGET: &[Arg] = &[key("key", 0), arg("field", STRING).multiple()];

const HMSET: &[Arg] = &[
    key("key", 0),
    block("field_value", &[arg("field", STRING), arg("value", STRING)]).multiple(),
];

const HRANDFIELD: &[Arg] = &[
    key("key", 0),
    block(
        "options",
        &[
            arg("count", INTEGER),
            arg("withvalues", PURE_TOKEN).token("WITHVALUES").optional(),
        ],
    )
    .optional(),
];

const HSCAN: &[Arg] = &[
    key("key", 0),
    arg("cursor", INTEGER),
    arg("pattern", PATTERN).token("MATCH").optional(),
    arg("count", INTEGER).token("COUNT").optional(),
];

const HSET: &[Arg] = &[
    key("key", 0),
    block("field_value", &[arg("field", STRING), arg("value", STRING)]).multiple(),
];

const HSETNX: &[Arg] = &[key("key", 0), arg("field", STRING), arg("value", STRING)];

const HSTRLEN: &[Arg] = &[key("key", 0), arg("field", STRING)];

const HVALS: &[Arg] = &[key("key", 0)];

const INCR: &[Arg] = &[key("key", 0)];

const INCRBY: &[Arg] = &[key("key", 0), arg("increment", INTEGER)];

const INCRBYFLOAT: &[Arg] = &[key("key", 0), arg("increment", DOUBLE)];

const INFO: &[Arg] = &[arg("section", STRING).optional().multiple()];

const KEYS: &[Arg] = &[arg("pattern", PATTERN)];

const LATENCY_GRAPH: &[Arg] = &[arg("event", STRING)];

const LATENCY_HISTOGRAM: &[Arg] = &[arg("command", STRING).optional().multiple()];

const LATENCY_HISTORY: &[Arg] = &[arg("event", STRING)];

const LATENCY_RESET: &[Arg] = &[arg("event", STRING).optional().multiple()];

const LCS: &[Arg] = &[
    key("key1", 0),
    key("key2", 0),
    arg("len", PURE_TOKEN).token("LEN").optional(),
    arg("idx", PURE_TOKEN).token("IDX").optional(),
    arg("len", INTEGER).token("MINMATCHLEN").optional(),
    arg("withmatchlen", PURE_TOKEN)
        .token("WITHMATCHLEN")
        .optional(),
];

const LINDEX: &[Arg] = &[key("key", 0), arg("index", INTEGER)];

const LINSERT: &[Arg] = &[
    key("key", 0),
    oneof(
        "where",
        &[
            arg("before", PURE_TOKEN).token("BEFORE"),
            arg("after", PURE_TOKEN).token("AFTER"),
        ],
    ),
    arg("pivot", STRING),
    arg("element", STRING),
];

const LLEN: &[Arg] = &[key("key", 0)];

const LMOVE: &[Arg] = &[
    key("source", 0),
    key("destination", 1),
    oneof(
        "wherefrom",
        &[
            arg("left", PURE_TOKEN).token("LEFT"),
            arg("right", PURE_TOKEN).token("RIGHT"),
        ],
    ),
    oneof(
        "whereto",
        &[
            arg("left", PURE_TOKEN).token("LEFT"),
            arg("right", PURE_TOKEN).token("RIGHT"),
        ],
    ),
];

const LMPOP: &[Arg] = &[
    arg("numkeys", INTEGER),
    key("key", 0).multiple(),
    oneof(
        "where",
        &[
            arg("left", PURE_TOKEN).token("LEFT"),
            arg("right", PURE_TOKEN).token("RIGHT"),
        ],
    ),
    arg("count", INTEGER).token("COUNT").optional(),
];

const LOLWUT: &[Arg] = &[arg("version", INTEGER).token("VERSION").optional()];

const LPOP: &[Arg] = &[
    key("key", 0),
    arg("count", INTEGER).since("6.2.0").optional(),
];

const LPOS: &[Arg] = &[
    key("key", 0),
    arg("element", STRING),
    arg("rank", INTEGER).token("RANK").optional(),
    arg("num-matches", INTEGER).token("COUNT").optional(),
    arg("len", INTEGER).token("MAXLEN").optional(),
];

const LPUSH: &[Arg] = &[key("key", 0), arg("element", STRING).multiple()];

const LPUSHX: &[Arg] = &[key("key", 0), arg("element", STRING).multiple()];

const LRANGE: &[Arg] = &[key("key", 0), arg("start", INTEGER), arg("stop", INTEGER)];

const LREM: &[Arg] = &[key("key", 0), arg("count", INTEGER), arg("element", STRING)];

const LSET: &[Arg] = &[key("key", 0), arg("index", INTEGER), arg("element", STRING)];

const LTRIM: &[Arg] = &[key("key", 0), arg("start", INTEGER), arg("stop", INTEGER)];

const MEMORY_USAGE: &[Arg] = &[
    key("key", 0),
    arg("count", INTEGER).token("SAMPLES").optional(),
];

const MGET: &[Arg] = &[key("key", 0).multiple()];

const MIGRATE: &[Arg] = &[
    arg("host", STRING),
    arg("port", INTEGER),
    oneof(
        "key_or_empty_string",
        &[key("key", 0), arg("empty_string", PURE_TOKEN).token("")],
    ),
    arg("destination-db", INTEGER),
    arg("timeout", INTEGER),
    arg("copy", PURE_TOKEN)
        .token("COPY")
        .since("3.0.0")
        .optional(),
    arg("replace", PURE_TOKEN)
        .token("REPLACE")
        .since("3.0.0")
        .optional(),
    oneof(
        "authentication",
        &[
            arg("password", STRING)
                .token("AUTH")
                .since("4.0.7")
                .optional(),
            block(
                "username_password",
                &[arg("username", STRING), arg("password", STRING)],
            )
            .token("AUTH2")
            .since("6.0.0")
            .optional(),
        ],
    )
    .optional(),
    key("key", 1)
        .token("KEYS")
        .since("3.0.6")
        .optional()
        .multiple(),
];

const MOVE: &[Arg] = &[key("key", 0), arg("db", INTEGER)];

const MSET: &[Arg] = &[block("key_value", &[key("key", 0), arg("value", STRING)]).multiple()];

const MSETNX: &[Arg] = &[block("key_value", &[key("key", 0), arg("value", STRING)]).multiple()];

const OBJECT_ENCODING: &[Arg] = &[key("key", 0)];

const OBJECT_FREQ: &[Arg] = &[key("key", 0)];

const OBJECT_IDLETIME: &[Arg] = &[key("key", 0)];

const OBJECT_REFCOUNT: &[Arg] = &[key("key", 0)];

const PERSIST: &[Arg] = &[key("key", 0)];

const PEXPIRE: &[Arg] = &[
    key("key", 0),
    arg("milliseconds", INTEGER),
    oneof(
        "condition",
        &[
            arg("nx", PURE_TOKEN).token("NX"),
            arg("xx", PURE_TOKEN).token("XX"),
            arg("gt", PURE_TOKEN).token("GT"),
            arg("lt", PURE_TOKEN).token("LT"),
        ],
    )
    .since("7.0.0")
    .optional(),
];

const PEXPIREAT: &[Arg] = &[
    key("key", 0),
    arg("unix-time-milliseconds", UNIX_TIME),
    oneof(
        "condition",
        &[
            arg("nx", PURE_TOKEN).token("NX"),
            arg("xx", PURE_TOKEN).token("XX"),
            arg("gt", PURE_TOKEN).token("GT"),
            arg("lt", PURE_TOKEN).token("LT"),
        ],
    )
    .since("7.0.0")
    .optional(),
];

const PEXPIRETIME: &[Arg] = &[key("key", 0)];

const PFADD: &[Arg] = &[key("key", 0), arg("element", STRING).optional().multiple()];

const PFCOUNT: &[Arg] = &[key("key", 0).multiple()];

const PFDEBUG: &[Arg] = &[arg("subcommand", STRING), key("key", 0)];

const PFMERGE: &[Arg] = &[key("destkey", 0), key("sourcekey", 1).multiple()];

const PING: &[Arg] = &[arg("message", STRING).optional()];

const PSETEX: &[Arg] = &[
    key("key", 0),
    arg("milliseconds", INTEGER),
    arg("value", STRING),
];

const PSUBSCRIBE: &[Arg] = &[block("pattern", &[arg("pattern", PATTERN)]).multiple()];

const PSYNC: &[Arg] = &[arg("replicationid", STRING), arg("offset", INTEGER)];

const PTTL: &[Arg] = &[key("key", 0)];

const PUBLISH: &[Arg] = &[arg("channel", STRING), arg("message", STRING)];

const PUBSUB_CHANNELS: &[Arg] = &[arg("pattern", PATTERN).optional()];

const PUBSUB_NUMSUB: &[Arg] = &[arg("channel", STRING).optional().multiple()];

const PUBSUB_SHARDCHANNELS: &[Arg] = &[arg("pattern", PATTERN).optional()];

const PUBSUB_SHARDNUMSUB: &[Arg] = &[arg("shardchannel", STRING).optional().multiple()];

const PUNSUBSCRIBE: &[Arg] = &[arg("pattern", PATTERN).optional().multiple()];

const RENAME: &[Arg] = &[key("key", 0), key("newkey", 1)];

const RENAMENX: &[Arg] = &[key("key", 0), key("newkey", 1)];

const FAILOVER: &[Arg] = &[
    block(
        "target",
        &[
            arg("host", STRING),
            arg("port", INTEGER),
            arg("force", PURE_TOKEN).token("FORCE").optional(),
        ],
    )
    .token("TO")
    .optional(),
    arg("abort", PURE_TOKEN).token("ABORT").optional(),
    arg("milliseconds", INTEGER).token("TIMEOUT").optional(),
];

const REPLICAOF: &[Arg] = &[oneof(
    "args",
    &[
        block("host-port", &[arg("host", STRING), arg("port", INTEGER)]),
        block(
            "no-one",
            &[
                arg("no", PURE_TOKEN).token("NO"),
                arg("one", PURE_TOKEN).token("ONE"),
            ],
        ),
    ],
)];

const RESTORE: &[Arg] = &[
    key("key", 0),
    arg("ttl", INTEGER),
    arg("serialized-value", STRING),
    arg("replace", PURE_TOKEN)
        .token("REPLACE")
        .since("3.0.0")
        .optional(),
    arg("absttl", PURE_TOKEN)
        .token("ABSTTL")
        .since("5.0.0")
        .optional(),
    arg("seconds", INTEGER)
        .token("IDLETIME")
        .since("5.0.0")
        .optional(),
    arg("frequency", INTEGER)
        .token("FREQ")
        .since("5.0.0")
        .optional(),
];

const RESTORE_ASKING: &[Arg] = &[
    key("key", 0),
    arg("ttl", INTEGER),
    arg("serialized-value", STRING),
    arg("replace", PURE_TOKEN)
        .token("REPLACE")
        .since("3.0.0")
        .optional(),
    arg("absttl", PURE_TOKEN)
        .token("ABSTTL")
        .since("5.0.0")
        .optional(),
    arg("seconds", INTEGER)
        .token("IDLETIME")
        .since("5.0.0")
        .optional(),
    arg("frequency", INTEGER)
        .token("FREQ")
        .since("5.0.0")
        .optional(),
];

const RPOP: &[Arg] = &[
    key("key", 0),
    arg("count", INTEGER).since("6.2.0").optional(),
];

const RPOPLPUSH: &[Arg] = &[key("source", 0), key("destination", 1)];

const RPUSH: &[Arg] = &[key("key", 0), arg("element", STRING).multiple()];

const RPUSHX: &[Arg] = &[key("key", 0), arg("element", STRING).multiple()];

const SADD: &[Arg] = &[key("key", 0), arg("member", STRING).multiple()];

const SCAN: &[Arg] = &[
    arg("cursor", INTEGER),
    arg("pattern", PATTERN).token("MATCH").optional(),
    arg("count", INTEGER).token("COUNT").optional(),
    arg("type", STRING).token("TYPE").since("6.0.0").optional(),
];

const SCARD: &[Arg] = &[key("key", 0)];

const SDIFF: &[Arg] = &[key("key", 0).multiple()];

const SDIFFSTORE: &[Arg] = &[key("destination", 0), key("key", 1).multiple()];

const SELECT: &[Arg] = &[arg("index", INTEGER)];

const SET: &[Arg] = &[
    key("key", 0),
    arg("value", STRING),
    oneof(
        "condition",
        &[
            arg("nx", PURE_TOKEN).token("NX"),
            arg("xx", PURE_TOKEN).token("XX"),
        ],
    )
    .since("2.6.12")
    .optional(),
    arg("get", PURE_TOKEN)
        .token("GET")
        .since("6.2.0")
        .optional(),
    oneof(
        "expiration",
        &[
            arg("seconds", INTEGER).token("EX").since("2.6.12"),
            arg("milliseconds", INTEGER).token("PX").since("2.6.12"),
            arg("unix-time-seconds", UNIX_TIME)
                .token("EXAT")
                .since("6.2.0"),
            arg("unix-time-milliseconds", UNIX_TIME)
                .token("PXAT")
                .since("6.2.0"),
            arg("keepttl", PURE_TOKEN).token("KEEPTTL").since("6.0.0"),
        ],
    )
    .optional(),
];

const SETBIT: &[Arg] = &[key("key", 0), arg("offset", INTEGER), arg("value", INTEGER)];

const SETEX: &[Arg] = &[key("key", 0), arg("seconds", INTEGER), arg("value", STRING)];

const SETNX: &[Arg] = &[key("key", 0), arg("value", STRING)];

const SETRANGE: &[Arg] = &[key("key", 0), arg("offset", INTEGER), arg("value", STRING)];

const SHUTDOWN: &[Arg] = &[
    oneof(
        "nosave_save",
        &[
            arg("nosave", PURE_TOKEN).token("NOSAVE"),
            arg("save", PURE_TOKEN).token("SAVE"),
        ],
    )
    .optional(),
    arg("now", PURE_TOKEN)
        .token("NOW")
        .since("7.0.0")
        .optional(),
    arg("force", PURE_TOKEN)
        .token("FORCE")
        .since("7.0.0")
        .optional(),
    arg("abort", PURE_TOKEN)
        .token("ABORT")
        .since("7.0.0")
        .optional(),
];

const SINTER: &[Arg] = &[key("key", 0).multiple()];

const SINTERCARD: &[Arg] = &[
    arg("numkeys", INTEGER),
    key("key", 0).multiple(),
    arg("limit", INTEGER).token("LIMIT").optional(),
];

const SINTERSTORE: &[Arg] = &[key("destination", 0), key("key", 1).multiple()];

const SISMEMBER: &[Arg] = &[key("key", 0), arg("member", STRING)];

const SLAVEOF: &[Arg] = &[oneof(
    "args",
    &[
        block("host-port", &[arg("host", STRING), arg("port", INTEGER)]),
        block(
            "no-one",
            &[
                arg("no", PURE_TOKEN).token("NO"),
                arg("one", PURE_TOKEN).token("ONE"),
            ],
        ),
    ],
)];

const SLOWLOG_GET: &[Arg] = &[arg("count", INTEGER).optional()];

const SMEMBERS: &[Arg] = &[key("key", 0)];

const SMISMEMBER: &[Arg] = &[key("key", 0), arg("member", STRING).multiple()];

const SMOVE: &[Arg] = &[
    key("source", 0),
    key("destination", 1),
    arg("member", STRING),
];

const SORT: &[Arg] = &[
    key("key", 0),
    arg("pattern", PATTERN).key_spec(1).token("BY").optional(),
    block(
        "offset_count",
        &[arg("offset", INTEGER), arg("count", INTEGER)],
    )
    .token("LIMIT")
    .optional(),
    arg("pattern", PATTERN)
        .key_spec(1)
        .token("GET")
        .optional()
        .multiple()
        .multiple_token(),
    oneof(
        "order",
        &[
            arg("asc", PURE_TOKEN).token("ASC"),
            arg("desc", PURE_TOKEN).token("DESC"),
        ],
    )
    .optional(),
    arg("sorting", PURE_TOKEN).token("ALPHA").optional(),
    key("destination", 2).token("STORE").optional(),
];

const SORT_RO: &[Arg] = &[
    key("key", 0),
    arg("pattern", PATTERN).key_spec(1).token("BY").optional(),
    block(
        "offset_count",
        &[arg("offset", INTEGER), arg("count", INTEGER)],
    )
    .token("LIMIT")
    .optional(),
    arg("pattern", PATTERN)
        .key_spec(1)
        .token("GET")
        .optional()
        .multiple()
        .multiple_token(),
    oneof(
        "order",
        &[
            arg("asc", PURE_TOKEN).token("ASC"),
            arg("desc", PURE_TOKEN).token("DESC"),
        ],
    )
    .optional(),
    arg("sorting", PURE_TOKEN).token("ALPHA").optional(),
];

const SPOP: &[Arg] = &[
    key("key", 0),
    arg("count", INTEGER).since("3.2.0").optional(),
];

const SPUBLISH: &[Arg] = &[arg("shardchannel", STRING), arg("message", STRING)];

const SRANDMEMBER: &[Arg] = &[
    key("key", 0),
    arg("count", INTEGER).since("2.6.0").optional(),
];

const SREM: &[Arg] = &[key("key", 0), arg("member", STRING).multiple()];

const SSCAN: &[Arg] = &[
    key("key", 0),
    arg("cursor", INTEGER),
    arg("pattern", PATTERN).token("MATCH").optional(),
    arg("count", INTEGER).token("COUNT").optional(),
];

const SSUBSCRIBE: &[Arg] = &[arg("shardchannel", STRING).multiple()];

const STRLEN: &[Arg] = &[key("key", 0)];

const SUBSCRIBE: &[Arg] = &[arg("channel", STRING).multiple()];

const SUBSTR: &[Arg] = &[key("key", 0), arg("start", INTEGER), arg("end", INTEGER)];

const SUNION: &[Arg] = &[key("key", 0).multiple()];

const SUNIONSTORE: &[Arg] = &[key("destination", 0), key("key", 1).multiple()];

const SUNSUBSCRIBE: &[Arg] = &[arg("shardchannel", STRING).optional().multiple()];

const SWAPDB: &[Arg] = &[arg("index1", INTEGER), arg("index2", INTEGER)];

const TOUCH: &[Arg] = &[key("key", 0).multiple()];

const TTL: &[Arg] = &[key("key", 0)];

const TYPE: &[Arg] = &[key("key", 0)];

const UNLINK: &[Arg] = &[key("key", 0).multiple()];

const UNSUBSCRIBE: &[Arg] = &[arg("channel", STRING).optional().multiple()];

const WAIT: &[Arg] = &[arg("numreplicas", INTEGER), arg("timeout", INTEGER)];

const WATCH: &[Arg] = &[key("key", 0).multiple()];

const XACK: &[Arg] = &[
    key("key", 0),
    arg("group", STRING),
    arg("id", STRING).multiple(),
];

const XADD: &[Arg] = &[
    key("key", 0),
    arg("nomkstream", PURE_TOKEN)
        .token("NOMKSTREAM")
        .since("6.2.0")
        .optional(),
    block(
        "trim",
        &[
            oneof(
                "strategy",
                &[
                    arg("maxlen", PURE_TOKEN).token("MAXLEN"),
                    arg("minid", PURE_TOKEN).token("MINID").since("6.2.0"),
                ],
            ),
            oneof(
                "operator",
                &[
                    arg("equal", PURE_TOKEN).token("="),
                    arg("approximately", PURE_TOKEN).token("~"),
                ],
            )
            .optional(),
            arg("threshold", STRING),
            arg("count", INTEGER)
                .token("LIMIT")
                .since("6.2.0")
                .optional(),
        ],
    )
    .optional(),
    oneof(
        "id_or_auto",
        &[arg("auto_id", PURE_TOKEN).token("*"), arg("id", STRING)],
    ),
    block("field_value", &[arg("field", STRING), arg("value", STRING)]).multiple(),
];

const XAUTOCLAIM: &[Arg] = &[
    key("key", 0),
    arg("group", STRING),
    arg("consumer", STRING),
    arg("min-idle-time", STRING),
    arg("start", STRING),
    arg("count", INTEGER).token("COUNT").optional(),
    arg("justid", PURE_TOKEN).token("JUSTID").optional(),
];

const XCLAIM: &[Arg] = &[
    key("key", 0),
    arg("group", STRING),
    arg("consumer", STRING),
    arg("min-idle-time", STRING),
    arg("id", STRING).multiple(),
    arg("ms", INTEGER).token("IDLE").optional(),
    arg("unix-time-milliseconds", UNIX_TIME)
        .token("TIME")
        .optional(),
    arg("count", INTEGER).token("RETRYCOUNT").optional(),
    arg("force", PURE_TOKEN).token("FORCE").optional(),
    arg("justid", PURE_TOKEN).token("JUSTID").optional(),
    arg("id", STRING).token("LASTID").optional(),
];

const XDEL: &[Arg] = &[key("key", 0), arg("id", STRING).multiple()];

const XGROUP_CREATE: &[Arg] = &[
    key("key", 0),
    arg("groupname", STRING),
    oneof(
        "id",
        &[arg("id", STRING), arg("new_id", PURE_TOKEN).token("$")],
    ),
    arg("mkstream", PURE_TOKEN).token("MKSTREAM").optional(),
    arg("entries_read", INTEGER).token("ENTRIESREAD").optional(),
];

const XGROUP_CREATECONSUMER: &[Arg] = &[
    key("key", 0),
    arg("groupname", STRING),
    arg("consumername", STRING),
];

const XGROUP_DELCONSUMER: &[Arg] = &[
    key("key", 0),
    arg("groupname", STRING),
    arg("consumername", STRING),
];

const XGROUP_DESTROY: &[Arg] = &[key("key", 0), arg("groupname", STRING)];

const XGROUP_SETID: &[Arg] = &[
    key("key", 0),
    arg("groupname", STRING),
    oneof(
        "id",
        &[arg("id", STRING), arg("new_id", PURE_TOKEN).token("$")],
    ),
    arg("entries_read", INTEGER).token("ENTRIESREAD").optional(),
];

const XINFO_CONSUMERS: &[Arg] = &[key("key", 0), arg("groupname", STRING)];

const XINFO_GROUPS: &[Arg] = &[key("key", 0)];

const XINFO_STREAM: &[Arg] = &[
    key("key", 0),
    block("full", &[arg("count", INTEGER).token("COUNT").optional()])
        .token("FULL")
        .optional(),
];

const XLEN: &[Arg] = &[key("key", 0)];

const XPENDING: &[Arg] = &[
    key("key", 0),
    arg("group", STRING),
    block(
        "filters",
        &[
            arg("min-idle-time", INTEGER)
                .token("IDLE")
                .since("6.2.0")
                .optional(),
            arg("start", STRING),
            arg("end", STRING),
            arg("count", INTEGER),
            arg("consumer", STRING).optional(),
        ],
    )
    .optional(),
];

const XRANGE: &[Arg] = &[
    key("key", 0),
    arg("start", STRING),
    arg("end", STRING),
    arg("count", INTEGER).token("COUNT").optional(),
];

const XREAD: &[Arg] = &[
    arg("count", INTEGER).token("COUNT").optional(),
    arg("milliseconds", INTEGER).token("BLOCK").optional(),
    block(
        "streams",
        &[key("key", 0).multiple(), arg("id", STRING).multiple()],
    )
    .token("STREAMS"),
];

const XREADGROUP: &[Arg] = &[
    block(
        "group_consumer",
        &[arg("group", STRING), arg("consumer", STRING)],
    )
    .token("GROUP"),
    arg("count", INTEGER).token("COUNT").optional(),
    arg("milliseconds", INTEGER).token("BLOCK").optional(),
    arg("noack", PURE_TOKEN).token("NOACK").optional(),
    block(
        "streams",
        &[key("key", 0).multiple(), arg("id", STRING).multiple()],
    )
    .token("STREAMS"),
];

const XREVRANGE: &[Arg] = &[
    key("key", 0),
    arg("end", STRING),
    arg("start", STRING),
    arg("count", INTEGER).token("COUNT").optional(),
];

const XSETID: &[Arg] = &[
    key("key", 0),
    arg("last-id", STRING),
    arg("entries_added", INTEGER)
        .token("ENTRIESADDED")
        .since("7.0.0")
        .optional(),
    arg("max_deleted_entry_id", STRING)
        .token("MAXDELETEDID")
        .since("7.0.0")
        .optional(),
];

const XTRIM: &[Arg] = &[
    key("key", 0),
    block(
        "trim",
        &[
            oneof(
                "strategy",
                &[
                    arg("maxlen", PURE_TOKEN).token("MAXLEN"),
                    arg("minid", PURE_TOKEN).token("MINID").since("6.2.0"),
                ],
            ),
            oneof(
                "operator",
                &[
                    arg("equal", PURE_TOKEN).token("="),
                    arg("approximately", PURE_TOKEN).token("~"),
                ],
            )
            .optional(),
            arg("threshold", STRING),
            arg("count", INTEGER)
                .token("LIMIT")
                .since("6.2.0")
                .optional(),
        ],
    ),
];

const ZADD: &[Arg] = &[
    key("key", 0),
    oneof(
        "condition",
        &[
            arg("nx", PURE_TOKEN).token("NX"),
            arg("xx", PURE_TOKEN).token("XX"),
        ],
    )
    .since("3.0.2")
    .optional(),
    oneof(
        "comparison",
        &[
            arg("gt", PURE_TOKEN).token("GT"),
            arg("lt", PURE_TOKEN).token("LT"),
        ],
    )
    .since("6.2.0")
    .optional(),
    arg("change", PURE_TOKEN)
        .token("CH")
        .since("3.0.2")
        .optional(),
    arg("increment", PURE_TOKEN)
        .token("INCR")
        .since("3.0.2")
        .optional(),
    block(
        "score_member",
        &[arg("score", DOUBLE), arg("member", STRING)],
    )
    .multiple(),
];

const ZCARD: &[Arg] = &[key("key", 0)];

const ZCOUNT: &[Arg] = &[key("key", 0), arg("min", DOUBLE), arg("max", DOUBLE)];

const ZDIFF: &[Arg] = &[
    arg("numkeys", INTEGER),
    key("key", 0).multiple(),
    arg("withscores", PURE_TOKEN).token("WITHSCORES").optional(),
];

const ZDIFFSTORE: &[Arg] = &[
    key("destination", 0),
    arg("numkeys", INTEGER),
    key("key", 1).multiple(),
];

const ZINCRBY: &[Arg] = &[
    key("key", 0),
    arg("increment", INTEGER),
    arg("member", STRING),
];

const ZINTER: &[Arg] = &[
    arg("numkeys", INTEGER),
    key("key", 0).multiple(),
    arg("weight", INTEGER)
        .token("WEIGHTS")
        .optional()
        .multiple(),
    oneof(
        "aggregate",
        &[
            arg("sum", PURE_TOKEN).token("SUM"),
            arg("min", PURE_TOKEN).token("MIN"),
            arg("max", PURE_TOKEN).token("MAX"),
        ],
    )
    .token("AGGREGATE")
    .optional(),
    arg("withscores", PURE_TOKEN).token("WITHSCORES").optional(),
];

const ZINTERCARD: &[Arg] = &[
    arg("numkeys", INTEGER),
    key("key", 0).multiple(),
    arg("limit", INTEGER).token("LIMIT").optional(),
];

const ZINTERSTORE: &[Arg] = &[
    key("destination", 0),
    arg("numkeys", INTEGER),
    key("key", 1).multiple(),
    arg("weight", INTEGER)
        .token("WEIGHTS")
        .optional()
        .multiple(),
    oneof(
        "aggregate",
        &[
            arg("sum", PURE_TOKEN).token("SUM"),
            arg("min", PURE_TOKEN).token("MIN"),
            arg("max", PURE_TOKEN).token("MAX"),
        ],
    )
    .token("AGGREGATE")
    .optional(),
];

const ZLEXCOUNT: &[Arg] = &[key("key", 0), arg("min", STRING), arg("max", STRING)];

const ZMPOP: &[Arg] = &[
    arg("numkeys", INTEGER),
    key("key", 0).multiple(),
    oneof(
        "where",
        &[
            arg("min", PURE_TOKEN).token("MIN"),
            arg("max", PURE_TOKEN).token("MAX"),
        ],
    ),
    arg("count", INTEGER).token("COUNT").optional(),
];

const ZMSCORE: &[Arg] = &[key("key", 0), arg("member", STRING).multiple()];

const ZPOPMAX: &[Arg] = &[key("key", 0), arg("count", INTEGER).optional()];

const ZPOPMIN: &[Arg] = &[key("key", 0), arg("count", INTEGER).optional()];

const ZRANDMEMBER: &[Arg] = &[
    key("key", 0),
    block(
        "options",
        &[
            arg("count", INTEGER),
            arg("withscores", PURE_TOKEN).token("WITHSCORES").optional(),
        ],
    )
    .optional(),
];

const ZRANGE: &[Arg] = &[
    key("key", 0),
    arg("start", STRING),
    arg("stop", STRING),
    oneof(
        "sortby",
        &[
            arg("byscore", PURE_TOKEN).token("BYSCORE"),
            arg("bylex", PURE_TOKEN).token("BYLEX"),
        ],
    )
    .since("6.2.0")
    .optional(),
    arg("rev", PURE_TOKEN)
        .token("REV")
        .since("6.2.0")
        .optional(),
    block(
        "offset_count",
        &[arg("offset", INTEGER), arg("count", INTEGER)],
    )
    .token("LIMIT")
    .since("6.2.0")
    .optional(),
    arg("withscores", PURE_TOKEN).token("WITHSCORES").optional(),
];

const ZRANGEBYLEX: &[Arg] = &[
    key("key", 0),
    arg("min", STRING),
    arg("max", STRING),
    block(
        "offset_count",
        &[arg("offset", INTEGER), arg("count", INTEGER)],
    )
    .token("LIMIT")
    .optional(),
];

const ZRANGEBYSCORE: &[Arg] = &[
    key("key", 0),
    arg("min", DOUBLE),
    arg("max", DOUBLE),
    arg("withscores", PURE_TOKEN)
        .token("WITHSCORES")
        .since("2.0.0")
        .optional(),
    block(
        "offset_count",
        &[arg("offset", INTEGER), arg("count", INTEGER)],
    )
    .token("LIMIT")
    .optional(),
];

const ZRANGESTORE: &[Arg] = &[
    key("dst", 0),
    key("src", 1),
    arg("min", STRING),
    arg("max", STRING),
    oneof(
        "sortby",
        &[
            arg("byscore", PURE_TOKEN).token("BYSCORE"),
            arg("bylex", PURE_TOKEN).token("BYLEX"),
        ],
    )
    .optional(),
    arg("rev", PURE_TOKEN).token("REV").optional(),
    block(
        "offset_count",
        &[arg("offset", INTEGER), arg("count", INTEGER)],
    )
    .token("LIMIT")
    .optional(),
];

const ZRANK: &[Arg] = &[key("key", 0), arg("member", STRING)];

const ZREM: &[Arg] = &[key("key", 0), arg("member", STRING).multiple()];

const ZREMRANGEBYLEX: &[Arg] = &[key("key", 0), arg("min", STRING), arg("max", STRING)];

const ZREMRANGEBYRANK: &[Arg] = &[key("key", 0), arg("start", INTEGER), arg("stop", INTEGER)];

const ZREMRANGEBYSCORE: &[Arg] = &[key("key", 0), arg("min", DOUBLE), arg("max", DOUBLE)];

const ZREVRANGE: &[Arg] = &[
    key("key", 0),
    arg("start", INTEGER),
    arg("stop", INTEGER),
    arg("withscores", PURE_TOKEN).token("WITHSCORES").optional(),
];

const ZREVRANGEBYLEX: &[Arg] = &[
    key("key", 0),
    arg("max", STRING),
    arg("min", STRING),
    block(
        "offset_count",
        &[arg("offset", INTEGER), arg("count", INTEGER)],
    )
    .token("LIMIT")
    .optional(),
];

const ZREVRANGEBYSCORE: &[Arg] = &[
    key("key", 0),
    arg("max", DOUBLE),
    arg("min", DOUBLE),
    arg("withscores", PURE_TOKEN).token("WITHSCORES").optional(),
    block(
        "offset_count",
        &[arg("offset", INTEGER), arg("count", INTEGER)],
    )
    .token("LIMIT")
    .optional(),
];

const ZREVRANK: &[Arg] = &[key("key", 0), arg("member", STRING)];

const ZSCAN: &[Arg] = &[
    key("key", 0),
    arg("cursor", INTEGER),
    arg("pattern", PATTERN).token("MATCH").optional(),
    arg("count", INTEGER).token("COUNT").optional(),
];

const ZSCORE: &[Arg] = &[key("key", 0), arg("member", STRING)];

const ZUNION: &[Arg] = &[
    arg("numkeys", INTEGER),
    key("key", 0).multiple(),
    arg("weight", INTEGER)
        .token("WEIGHTS")
        .optional()
        .multiple(),
    oneof(
        "aggregate",
        &[
            arg("sum", PURE_TOKEN).token("SUM"),
            arg("min", PURE_TOKEN).token("MIN"),
            arg("max", PURE_TOKEN).token("MAX"),
        ],
    )
    .token("AGGREGATE")
    .optional(),
    arg("withscores", PURE_TOKEN).token("WITHSCORES").optional(),
];

/// EVAL, EVAL_RO; EVALSHA's first argument is `sha1`, FCALL's `function`.
const EVAL: &[Arg] = &[
    arg("script", STRING),
    arg("numkeys", INTEGER),
    key("key", 0).optional().multiple(),
    arg("arg", STRING).optional().multiple(),
];
const EVALSHA: &[Arg] = &[
    arg("sha1", STRING),
    arg("numkeys", INTEGER),
    key("key", 0).optional().multiple(),
    arg("arg", STRING).optional().multiple(),
];
const FCALL: &[Arg] = &[
    arg("function", STRING),
    arg("numkeys", INTEGER),
    key("key", 0).optional().multiple(),
    arg("arg", STRING).optional().multiple(),
];
const SCRIPT_EXISTS: &[Arg] = &[arg("sha1", STRING).multiple()];
const SCRIPT_FLUSH: &[Arg] = &[oneof(
    "async",
    &[
        arg("async", PURE_TOKEN).token("ASYNC"),
        arg("sync", PURE_TOKEN).token("SYNC"),
    ],
)
.since("6.2.0")
.optional()];
const SCRIPT_LOAD: &[Arg] = &[arg("script", STRING)];
const SCRIPT_DEBUG: &[Arg] = &[oneof(
    "mode",
    &[
        arg("yes", PURE_TOKEN).token("YES"),
        arg("sync", PURE_TOKEN).token("SYNC"),
        arg("no", PURE_TOKEN).token("NO"),
    ],
)];
const FUNCTION_LOAD: &[Arg] = &[
    arg("replace", PURE_TOKEN).token("REPLACE").optional(),
    arg("function-code", STRING),
];
const FUNCTION_DELETE: &[Arg] = &[arg("library-name", STRING)];
const FUNCTION_FLUSH: &[Arg] = &[oneof(
    "async",
    &[
        arg("async", PURE_TOKEN).token("ASYNC"),
        arg("sync", PURE_TOKEN).token("SYNC"),
    ],
)
.optional()];
const FUNCTION_LIST: &[Arg] = &[
    arg("library-name-pattern", STRING)
        .token("LIBRARYNAME")
        .optional(),
    arg("withcode", PURE_TOKEN).token("WITHCODE").optional(),
];
const FUNCTION_RESTORE: &[Arg] = &[
    arg("serialized-value", STRING),
    oneof(
        "policy",
        &[
            arg("flush", PURE_TOKEN).token("FLUSH"),
            arg("append", PURE_TOKEN).token("APPEND"),
            arg("replace", PURE_TOKEN).token("REPLACE"),
        ],
    )
    .optional(),
];

const ZUNIONSTORE: &[Arg] = &[
    key("destination", 0),
    arg("numkeys", INTEGER),
    key("key", 1).multiple(),
    arg("weight", INTEGER)
        .token("WEIGHTS")
        .optional()
        .multiple(),
    oneof(
        "aggregate",
        &[
            arg("sum", PURE_TOKEN).token("SUM"),
            arg("min", PURE_TOKEN).token("MIN"),
            arg("max", PURE_TOKEN).token("MAX"),
        ],
    )
    .token("AGGREGATE")
    .optional(),
];

/// The arguments of `name` (`get`, `client|kill`), as COMMAND DOCS lists them.
pub fn of(name: &str) -> &'static [Arg] {
    match name {
        "append" => APPEND,
        "auth" => AUTH,
        "bitcount" => BITCOUNT,
        "bitfield" => BITFIELD,
        "bitfield_ro" => BITFIELD_RO,
        "bitop" => BITOP,
        "bitpos" => BITPOS,
        "blmove" => BLMOVE,
        "blmpop" => BLMPOP,
        "blpop" => BLPOP,
        "brpop" => BRPOP,
        "brpoplpush" => BRPOPLPUSH,
        "bzmpop" => BZMPOP,
        "bzpopmax" => BZPOPMAX,
        "bzpopmin" => BZPOPMIN,
        "client|kill" => CLIENT_KILL,
        "client|list" => CLIENT_LIST,
        "client|no-evict" => CLIENT_NO_EVICT,
        "client|pause" => CLIENT_PAUSE,
        "client|reply" => CLIENT_REPLY,
        "client|setname" => CLIENT_SETNAME,
        "client|caching" => CLIENT_CACHING,
        "client|tracking" => CLIENT_TRACKING,
        "client|unblock" => CLIENT_UNBLOCK,
        "cluster|addslots" => CLUSTER_ADDSLOTS,
        "cluster|addslotsrange" => CLUSTER_ADDSLOTSRANGE,
        "cluster|count-failure-reports" => CLUSTER_COUNT_FAILURE_REPORTS,
        "cluster|countkeysinslot" => CLUSTER_COUNTKEYSINSLOT,
        "cluster|delslots" => CLUSTER_DELSLOTS,
        "cluster|delslotsrange" => CLUSTER_DELSLOTSRANGE,
        "cluster|failover" => CLUSTER_FAILOVER,
        "cluster|forget" => CLUSTER_FORGET,
        "cluster|getkeysinslot" => CLUSTER_GETKEYSINSLOT,
        "cluster|keyslot" => CLUSTER_KEYSLOT,
        "cluster|meet" => CLUSTER_MEET,
        "cluster|replicas" => CLUSTER_REPLICAS,
        "cluster|replicate" => CLUSTER_REPLICATE,
        "cluster|reset" => CLUSTER_RESET,
        "cluster|set-config-epoch" => CLUSTER_SET_CONFIG_EPOCH,
        "cluster|setslot" => CLUSTER_SETSLOT,
        "cluster|slaves" => CLUSTER_SLAVES,
        "command|docs" => COMMAND_DOCS,
        "command|info" => COMMAND_INFO,
        "command|list" => COMMAND_LIST,
        "config|get" => CONFIG_GET,
        "config|set" => CONFIG_SET,
        "copy" => COPY,
        "decr" => DECR,
        "decrby" => DECRBY,
        "del" => DEL,
        "dump" => DUMP,
        "echo" => ECHO,
        "exists" => EXISTS,
        "expire" => EXPIRE,
        "expireat" => EXPIREAT,
        "expiretime" => EXPIRETIME,
        "failover" => FAILOVER,
        "flushall" => FLUSHALL,
        "flushdb" => FLUSHDB,
        "geoadd" => GEOADD,
        "geodist" => GEODIST,
        "geohash" => GEOHASH,
        "geopos" => GEOPOS,
        "georadius" => GEORADIUS,
        "georadius_ro" => GEORADIUS_RO,
        "georadiusbymember" => GEORADIUSBYMEMBER,
        "georadiusbymember_ro" => GEORADIUSBYMEMBER_RO,
        "geosearch" => GEOSEARCH,
        "geosearchstore" => GEOSEARCHSTORE,
        "get" => GET,
        "getbit" => GETBIT,
        "getdel" => GETDEL,
        "getex" => GETEX,
        "getrange" => GETRANGE,
        "getset" => GETSET,
        "hdel" => HDEL,
        "hello" => HELLO,
        "hexists" => HEXISTS,
        "hget" => HGET,
        "hgetall" => HGETALL,
        "hincrby" => HINCRBY,
        "hincrbyfloat" => HINCRBYFLOAT,
        "hkeys" => HKEYS,
        "hlen" => HLEN,
        "hmget" => HMGET,
        "hmset" => HMSET,
        "hrandfield" => HRANDFIELD,
        "hscan" => HSCAN,
        "hset" => HSET,
        "hsetnx" => HSETNX,
        "hstrlen" => HSTRLEN,
        "hvals" => HVALS,
        "incr" => INCR,
        "incrby" => INCRBY,
        "incrbyfloat" => INCRBYFLOAT,
        "info" => INFO,
        "keys" => KEYS,
        "latency|graph" => LATENCY_GRAPH,
        "latency|histogram" => LATENCY_HISTOGRAM,
        "latency|history" => LATENCY_HISTORY,
        "latency|reset" => LATENCY_RESET,
        "lcs" => LCS,
        "lindex" => LINDEX,
        "linsert" => LINSERT,
        "llen" => LLEN,
        "lmove" => LMOVE,
        "lmpop" => LMPOP,
        "lolwut" => LOLWUT,
        "lpop" => LPOP,
        "lpos" => LPOS,
        "lpush" => LPUSH,
        "lpushx" => LPUSHX,
        "lrange" => LRANGE,
        "lrem" => LREM,
        "lset" => LSET,
        "ltrim" => LTRIM,
        "memory|usage" => MEMORY_USAGE,
        "mget" => MGET,
        "migrate" => MIGRATE,
        "move" => MOVE,
        "mset" => MSET,
        "msetnx" => MSETNX,
        "object|encoding" => OBJECT_ENCODING,
        "object|freq" => OBJECT_FREQ,
        "object|idletime" => OBJECT_IDLETIME,
        "object|refcount" => OBJECT_REFCOUNT,
        "persist" => PERSIST,
        "pexpire" => PEXPIRE,
        "pexpireat" => PEXPIREAT,
        "pexpiretime" => PEXPIRETIME,
        "pfadd" => PFADD,
        "pfcount" => PFCOUNT,
        "pfdebug" => PFDEBUG,
        "pfmerge" => PFMERGE,
        "ping" => PING,
        "psetex" => PSETEX,
        "psubscribe" => PSUBSCRIBE,
        "psync" => PSYNC,
        "pttl" => PTTL,
        "publish" => PUBLISH,
        "pubsub|channels" => PUBSUB_CHANNELS,
        "pubsub|numsub" => PUBSUB_NUMSUB,
        "pubsub|shardchannels" => PUBSUB_SHARDCHANNELS,
        "pubsub|shardnumsub" => PUBSUB_SHARDNUMSUB,
        "punsubscribe" => PUNSUBSCRIBE,
        "rename" => RENAME,
        "renamenx" => RENAMENX,
        "replicaof" => REPLICAOF,
        "restore" => RESTORE,
        "restore-asking" => RESTORE_ASKING,
        "rpop" => RPOP,
        "rpoplpush" => RPOPLPUSH,
        "rpush" => RPUSH,
        "rpushx" => RPUSHX,
        "sadd" => SADD,
        "scan" => SCAN,
        "scard" => SCARD,
        "sdiff" => SDIFF,
        "sdiffstore" => SDIFFSTORE,
        "select" => SELECT,
        "set" => SET,
        "setbit" => SETBIT,
        "setex" => SETEX,
        "setnx" => SETNX,
        "setrange" => SETRANGE,
        "shutdown" => SHUTDOWN,
        "sinter" => SINTER,
        "sintercard" => SINTERCARD,
        "sinterstore" => SINTERSTORE,
        "sismember" => SISMEMBER,
        "slaveof" => SLAVEOF,
        "slowlog|get" => SLOWLOG_GET,
        "smembers" => SMEMBERS,
        "smismember" => SMISMEMBER,
        "smove" => SMOVE,
        "sort" => SORT,
        "sort_ro" => SORT_RO,
        "spop" => SPOP,
        "spublish" => SPUBLISH,
        "srandmember" => SRANDMEMBER,
        "srem" => SREM,
        "sscan" => SSCAN,
        "ssubscribe" => SSUBSCRIBE,
        "strlen" => STRLEN,
        "subscribe" => SUBSCRIBE,
        "substr" => SUBSTR,
        "sunion" => SUNION,
        "sunionstore" => SUNIONSTORE,
        "sunsubscribe" => SUNSUBSCRIBE,
        "swapdb" => SWAPDB,
        "touch" => TOUCH,
        "ttl" => TTL,
        "type" => TYPE,
        "unlink" => UNLINK,
        "unsubscribe" => UNSUBSCRIBE,
        "wait" => WAIT,
        "watch" => WATCH,
        "xack" => XACK,
        "xadd" => XADD,
        "xautoclaim" => XAUTOCLAIM,
        "xclaim" => XCLAIM,
        "xdel" => XDEL,
        "xgroup|create" => XGROUP_CREATE,
        "xgroup|createconsumer" => XGROUP_CREATECONSUMER,
        "xgroup|delconsumer" => XGROUP_DELCONSUMER,
        "xgroup|destroy" => XGROUP_DESTROY,
        "xgroup|setid" => XGROUP_SETID,
        "xinfo|consumers" => XINFO_CONSUMERS,
        "xinfo|groups" => XINFO_GROUPS,
        "xinfo|stream" => XINFO_STREAM,
        "xlen" => XLEN,
        "xpending" => XPENDING,
        "xrange" => XRANGE,
        "xread" => XREAD,
        "xreadgroup" => XREADGROUP,
        "xrevrange" => XREVRANGE,
        "xsetid" => XSETID,
        "xtrim" => XTRIM,
        "zadd" => ZADD,
        "zcard" => ZCARD,
        "zcount" => ZCOUNT,
        "zdiff" => ZDIFF,
        "zdiffstore" => ZDIFFSTORE,
        "zincrby" => ZINCRBY,
        "zinter" => ZINTER,
        "zintercard" => ZINTERCARD,
        "zinterstore" => ZINTERSTORE,
        "zlexcount" => ZLEXCOUNT,
        "zmpop" => ZMPOP,
        "zmscore" => ZMSCORE,
        "zpopmax" => ZPOPMAX,
        "zpopmin" => ZPOPMIN,
        "zrandmember" => ZRANDMEMBER,
        "zrange" => ZRANGE,
        "zrangebylex" => ZRANGEBYLEX,
        "zrangebyscore" => ZRANGEBYSCORE,
        "zrangestore" => ZRANGESTORE,
        "zrank" => ZRANK,
        "zrem" => ZREM,
        "zremrangebylex" => ZREMRANGEBYLEX,
        "zremrangebyrank" => ZREMRANGEBYRANK,
        "zremrangebyscore" => ZREMRANGEBYSCORE,
        "zrevrange" => ZREVRANGE,
        "zrevrangebylex" => ZREVRANGEBYLEX,
        "zrevrangebyscore" => ZREVRANGEBYSCORE,
        "zrevrank" => ZREVRANK,
        "zscan" => ZSCAN,
        "zscore" => ZSCORE,
        "zunion" => ZUNION,
        "zunionstore" => ZUNIONSTORE,
        "eval" | "eval_ro" => EVAL,
        "evalsha" | "evalsha_ro" => EVALSHA,
        "fcall" | "fcall_ro" => FCALL,
        "script|exists" => SCRIPT_EXISTS,
        "script|flush" => SCRIPT_FLUSH,
        "script|load" => SCRIPT_LOAD,
        "script|debug" => SCRIPT_DEBUG,
        "function|load" => FUNCTION_LOAD,
        "function|delete" => FUNCTION_DELETE,
        "function|flush" => FUNCTION_FLUSH,
        "function|list" => FUNCTION_LIST,
        "function|restore" => FUNCTION_RESTORE,
        _ => &[],
    }
}
