//! Which sources there are: the table of sources (`source_table!`) and the [`Source`] enum and
//! names made from its rows. A leaf (layer 0) that imports nothing, so the option parser
//! (config.rs), the ECS writer (format/ecs.rs) and the C ABI (ffi/) name a source without
//! depending on the sources' code, and no import cycle runs through them.

use std::ffi::CStr;

/// The table of sources, the crate's only list of them. One row per source: its `Source`
/// variant, its name (the word of the `sources` option, the key of its state in a state file,
/// the tag of its events), then the `SourceKind` unit of its folder under src/source/ and the
/// variant of `SourceState` its streams' state files hold.
///
/// The rows are handed to the macro `then`: this file makes [`Source`] of them, and
/// src/source/mod.rs the enum of states and the lookup of a source's code. The module paths in
/// a row (`access::Access`) are resolved where the table is expanded, in src/source/mod.rs: this
/// file holds their names only, and imports nothing from above it. How to add a source is in
/// src/source/mod.rs.
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
