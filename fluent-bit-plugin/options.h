/* The option table of src/config.rs (`slack_audit::config::OPTIONS`), in the same order.
 * Every name is read with input_get_property and passed to the library as a JSON key.
 * tests/fluent_bit_plugin.rs checks that this list equals OPTIONS: update both together. */
#ifndef SLACK_AUDIT_FLB_OPTIONS_H
#define SLACK_AUDIT_FLB_OPTIONS_H

static const char *const slack_audit_option_names[] = {
    "token",
    "token_env",
    "token_file",
    "api_url",
    "web_api_url",
    "sources",
    "actions",
    "exclude_actions",
    "actor",
    "entity",
    "since",
    "state_dir",
    "lock_wait",
    "limit",
    "interval",
    "lag",
    "overlap",
    "max_calls_per_minute",
    "web_max_calls_per_minute",
    "timeout",
    "max_retries",
    "stall_warning_after",
    "format",
    "tls_insecure",
};

#endif
