//! Which sources there are: [`Source`] and its names, made from the rows of the table in
//! `src/source/mod.rs` (`source_table!`). A leaf that imports nothing, so the option parser
//! (config.rs), the ECS writer (ecs.rs) and the C ABI (ffi/) name a source without depending on
//! the sources' code, and no import cycle runs through them.

/// The table of sources, the crate's only list of them. One row per source: its [`Source`]
/// variant, its name (the word of the `sources` option, the key of its state in a state file,
/// the tag of its events), then the module implementing [`SourceKind`] for it and the variant
/// of [`SourceState`] its streams' state files hold.
///
/// Adding a fourth source means one new module under `src/source/` (its state, requests, page
/// reader and verdicts, usually with a new `src/slack/` endpoint file) plus one row here. Its
/// `format = ecs` mapping is written with the ECS writer's parts, next to the other mappings in
/// src/ecs.rs, and named by its [`SourceKind::ecs`]; nothing dispatches on it. Everything that differs by source comes from these rows ([`Source`] in id.rs, the
/// code below) or from the source's [`SourceKind`]; tests/repo_consistency.rs fails if a
/// `match` on a source appears outside src/source/.
///
/// `then` is the macro the rows are handed to: id.rs makes [`Source`] of them, and this file
/// [`SourceState`] and [`kind`].
macro_rules! source_table {
    ($then:ident) => {
        $then! {
            Audit = "audit" => audit::Audit(audit::AuditState),
            Access = "access" => access::Access(access::AccessState),
            Integration = "integration" => integration::Integration(integration::IntegrationState),
        }
    };
}
pub(crate) use source_table;

use std::ffi::CStr;

macro_rules! source_ids {
    ($($variant:ident = $name:literal => $module:ident :: $unit:ident ( $state:ty )),* $(,)?) => {
        /// A data source of the collector; each becomes one or more streams.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Source {
            $($variant),*
        }

        impl Source {
            /// Every source, in the table's order.
            pub const ALL: &'static [Source] = &[$(Source::$variant),*];
            /// Their names, in the same order (the choices of the `sources` option).
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The word of the `sources` option, the key of the source's state in a state file,
            /// the tag of its events (`source` in Fluent Bit records).
            pub fn name(self) -> &'static str {
                match self {
                    $(Source::$variant => $name),*
                }
            }

            /// The name, NUL-terminated, for the C ABI (checked when compiling).
            pub fn c_name(self) -> &'static CStr {
                match self {
                    $(Source::$variant => const { nul_terminated(concat!($name, "\0")) }),*
                }
            }

            /// The ECS `event.dataset` of its events (`slack.<name>`, as Elastic's Slack
            /// integration names them).
            pub fn ecs_dataset(self) -> &'static str {
                match self {
                    $(Source::$variant => concat!("slack.", $name)),*
                }
            }
        }
    };
}

source_table!(source_ids);

impl Source {
    /// The source called `name` (exactly, as [`Source::name`] gives it).
    pub fn named(name: &str) -> Option<Source> {
        Source::ALL.iter().copied().find(|s| s.name() == name)
    }
}

const fn nul_terminated(s: &'static str) -> &'static CStr {
    match CStr::from_bytes_with_nul(s.as_bytes()) {
        Ok(c) => c,
        Err(_) => panic!("a source name holds a NUL byte"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_one_source_and_the_same_for_c() {
        assert_eq!(Source::ALL.len(), Source::NAMES.len());
        for (&s, &name) in Source::ALL.iter().zip(Source::NAMES) {
            assert_eq!(s.name(), name);
            assert_eq!(Source::named(name), Some(s));
            assert_eq!(s.c_name().to_str(), Ok(name));
            assert_eq!(s.ecs_dataset(), format!("slack.{name}"));
        }
        assert_eq!(Source::named("Audit"), None);
        assert!(Source::NAMES.contains(&"audit"), "{:?}", Source::NAMES);
    }
}
