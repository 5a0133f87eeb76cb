//! The types of etcdflow values and the records that actions and facts return.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    Str,
    Int,
    Bool,
    Duration,
    Size,
    Path,
    Url,
    Port,
    Host,
    Hosts,
    Secret,
    /// Parsed JSON: dynamically typed, checked at run time.
    Json,
    /// The type of `none`.
    NoneTy,
    /// An ordering of a step's hosts (`leader_last(main)`).
    Ordering,
    /// A declared etcd cluster, with its facts as fields.
    Cluster,
    List(Box<Ty>),
    Map(Box<Ty>),
    Optional(Box<Ty>),
    Record(Record),
    /// An expression that already had an error: unifies with everything, so one mistake
    /// gives one diagnostic.
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Record {
    CommandResult,
    /// A command fed a secret on `stdin:`: its output is secret too.
    SecretCommandResult,
    FileResult,
    FileRead,
    TlsFiles,
    HostInfo,
    EtcdMember,
    EndpointStatus,
    EndpointHealth,
    SnapshotInfo,
    Kv,
    HashKv,
    MemberAdded,
    Restored,
}

impl Record {
    pub const ALL: [Record; 14] = [
        Record::CommandResult,
        Record::SecretCommandResult,
        Record::FileResult,
        Record::FileRead,
        Record::TlsFiles,
        Record::HostInfo,
        Record::EtcdMember,
        Record::EndpointStatus,
        Record::EndpointHealth,
        Record::SnapshotInfo,
        Record::Kv,
        Record::HashKv,
        Record::MemberAdded,
        Record::Restored,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Record::CommandResult => "command_result",
            Record::SecretCommandResult => "secret_command_result",
            Record::FileResult => "file_result",
            Record::FileRead => "file_read",
            Record::TlsFiles => "tls_files",
            Record::HostInfo => "host",
            Record::EtcdMember => "etcd_member",
            Record::EndpointStatus => "endpoint_status",
            Record::EndpointHealth => "endpoint_health",
            Record::SnapshotInfo => "snapshot_info",
            Record::Kv => "kv",
            Record::HashKv => "hash_kv",
            Record::MemberAdded => "member_added",
            Record::Restored => "restore_result",
        }
    }

    pub fn fields(self) -> Vec<(&'static str, Ty)> {
        use Ty::*;
        let list = |t: Ty| List(Box::new(t));
        match self {
            Self::CommandResult => vec![
                ("rc", Int),
                ("ok", Bool),
                ("stdout", Str),
                ("stderr", Str),
                ("lines", list(Str)),
                ("json", Json),
                ("duration", Duration),
                ("skipped", Bool),
            ],
            Self::SecretCommandResult => vec![
                ("rc", Int),
                ("ok", Bool),
                ("stdout", Secret),
                ("stderr", Secret),
                ("lines", list(Secret)),
                ("json", Secret),
                ("duration", Duration),
                ("skipped", Bool),
            ],
            Self::FileResult => vec![
                ("path", Path),
                ("sha256", Str),
                ("size", Size),
                ("changed", Bool),
            ],
            Self::FileRead => vec![
                ("path", Path),
                ("exists", Bool),
                ("text", Str),
                ("value", Json),
                ("sha256", Str),
            ],
            Self::TlsFiles => vec![("cert", Path), ("key", Path), ("changed", Bool)],
            Self::HostInfo => vec![
                ("name", Str),
                ("address", Str),
                ("port", Port),
                ("user", Str),
                ("groups", list(Str)),
                ("vars", Map(Box::new(Str))),
            ],
            Self::EtcdMember => vec![
                ("id", Str),
                ("name", Str),
                ("peer_urls", list(Url)),
                ("client_urls", list(Url)),
                ("learner", Bool),
                ("started", Bool),
                ("is_leader", Bool),
                ("host", Optional(Box::new(Host))),
            ],
            Self::EndpointStatus => vec![
                ("endpoint", Url),
                ("member_id", Str),
                ("version", Str),
                ("db_size", Size),
                ("db_size_in_use", Size),
                ("leader_id", Str),
                ("is_leader", Bool),
                ("is_learner", Bool),
                ("raft_index", Int),
                ("raft_applied_index", Int),
                ("raft_term", Int),
                ("alarms", list(Str)),
                ("cluster_id", Str),
                ("revision", Int),
            ],
            Self::EndpointHealth => vec![
                ("endpoint", Url),
                ("healthy", Bool),
                ("took", Duration),
                ("error", Str),
            ],
            Self::SnapshotInfo => vec![
                ("path", Path),
                ("sha256", Str),
                ("size", Size),
                ("revision", Int),
                ("key_count", Int),
                ("verified", Bool),
                ("endpoint", Url),
                ("taken_at", Str),
            ],
            Self::Kv => vec![
                ("key", Str),
                ("value", Str),
                ("found", Bool),
                ("mod_revision", Int),
                ("version", Int),
            ],
            Self::MemberAdded => vec![
                ("id", Str),
                ("name", Str),
                ("peer_urls", list(Url)),
                ("learner", Bool),
                ("initial_cluster", Str),
                ("already", Bool),
            ],
            Self::Restored => vec![
                ("sha256", Str),
                ("revision", Int),
                ("key_count", Int),
                ("already", Bool),
                ("note", Str),
            ],
            Self::HashKv => vec![
                ("endpoint", Url),
                ("member_id", Str),
                ("hash", Str),
                ("revision", Int),
                ("compact_revision", Int),
            ],
        }
    }
}

/// The facts a `cluster` value has as fields (`main.leader`, `main.members`...).
pub fn cluster_fields() -> Vec<(&'static str, Ty)> {
    use Ty::*;
    let rec = Record;
    let list = |t: Ty| List(Box::new(t));
    vec![
        ("name", Str),
        ("hosts", Hosts),
        ("endpoints", list(Url)),
        ("members", list(rec(self::Record::EtcdMember))),
        ("voters", list(rec(self::Record::EtcdMember))),
        ("learners", list(rec(self::Record::EtcdMember))),
        ("leader", rec(self::Record::EtcdMember)),
        ("followers", list(rec(self::Record::EtcdMember))),
        ("status", list(rec(self::Record::EndpointStatus))),
        ("health", list(rec(self::Record::EndpointHealth))),
        ("healthy", Bool),
        ("cluster_id", Str),
        ("revision", Int),
        ("quorum", Int),
    ]
}

impl Ty {
    pub fn list(t: Ty) -> Ty {
        Ty::List(Box::new(t))
    }

    /// Whether a value of type `self` may be used where `want` is expected.
    pub fn fits(&self, want: &Ty) -> bool {
        use Ty::*;
        match (self, want) {
            (Error, _) | (_, Error) => true,
            (a, b) if a == b => true,
            (Json, w) => !matches!(w, Secret | Hosts | Cluster | Ordering),
            (_, Json) => !matches!(self, Secret | Cluster | Ordering),
            (Str, Path | Url) | (Path | Url, Str) | (Port, Int) | (Int, Port) => true,
            (Host, Hosts) => true,
            (NoneTy, Optional(_)) => true,
            (Optional(a), Optional(b)) => a.fits(b),
            (a, Optional(b)) => a.fits(b),
            (List(a), List(b)) => a.fits(b),
            (Map(a), Map(b)) => a.fits(b),
            _ => false,
        }
    }

    pub fn strip_optional(&self) -> &Ty {
        match self {
            Ty::Optional(t) => t,
            t => t,
        }
    }

    /// Values that `{{ }}` can render into text.
    pub fn interpolable(&self) -> bool {
        use Ty::*;
        matches!(
            self.strip_optional(),
            Str | Int | Bool | Duration | Size | Path | Url | Port | Host | Json | Error
        )
    }

    /// A secret, or a value that holds one (a list, a map, an optional, or a record with
    /// secret fields such as `secret_command_result`): it can only go where secrets go.
    pub fn contains_secret(&self) -> bool {
        match self {
            Ty::Secret => true,
            Ty::List(t) | Ty::Map(t) | Ty::Optional(t) => t.contains_secret(),
            Ty::Record(r) => r.fields().iter().any(|(_, t)| t.contains_secret()),
            _ => false,
        }
    }

    /// A record some of whose fields are secrets (`secret_command_result`).
    pub fn has_secret_fields(&self) -> bool {
        match self.strip_optional() {
            Ty::Record(r) => r.fields().iter().any(|(_, t)| t.contains_secret()),
            _ => false,
        }
    }

    pub fn field(&self, name: &str) -> Option<Ty> {
        match self.strip_optional() {
            Ty::Record(r) => r
                .fields()
                .into_iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t),
            Ty::Host => Record::HostInfo
                .fields()
                .into_iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t),
            Ty::Cluster => cluster_fields()
                .into_iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t),
            Ty::Json | Ty::Error => Some(self.clone()),
            _ => None,
        }
    }

    pub fn field_names(&self) -> Vec<&'static str> {
        match self.strip_optional() {
            Ty::Record(r) => r.fields().into_iter().map(|(n, _)| n).collect(),
            Ty::Host => Record::HostInfo
                .fields()
                .into_iter()
                .map(|(n, _)| n)
                .collect(),
            Ty::Cluster => cluster_fields().into_iter().map(|(n, _)| n).collect(),
            _ => Vec::new(),
        }
    }

    /// Names accepted in `param x: TYPE`.
    pub const SCALAR_NAMES: [&'static str; 12] = [
        "str", "int", "bool", "duration", "size", "path", "url", "port", "host", "hosts", "secret",
        "json",
    ];

    pub fn from_name(name: &str) -> Option<Ty> {
        use Ty::*;
        Some(match name {
            "str" => Str,
            "int" => Int,
            "bool" => Bool,
            "duration" => Duration,
            "size" => Size,
            "path" => Path,
            "url" => Url,
            "port" => Port,
            "host" => Host,
            "hosts" => Hosts,
            "secret" => Secret,
            "json" => Json,
            _ => {
                return self::Record::ALL
                    .iter()
                    .find(|r| r.name() == name)
                    .map(|r| Ty::Record(*r))
            }
        })
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Ty::*;
        match self {
            Str => f.write_str("str"),
            Int => f.write_str("int"),
            Bool => f.write_str("bool"),
            Duration => f.write_str("duration"),
            Size => f.write_str("size"),
            Path => f.write_str("path"),
            Url => f.write_str("url"),
            Port => f.write_str("port"),
            Host => f.write_str("host"),
            Hosts => f.write_str("hosts"),
            Secret => f.write_str("secret"),
            Json => f.write_str("json"),
            NoneTy => f.write_str("none"),
            Ordering => f.write_str("ordering"),
            Cluster => f.write_str("cluster"),
            List(t) => write!(f, "list[{t}]"),
            Map(t) => write!(f, "map[{t}]"),
            Optional(t) => write!(f, "{t}?"),
            Record(r) => f.write_str(r.name()),
            Error => f.write_str("<error>"),
        }
    }
}
