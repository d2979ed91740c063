/*
 * An example failure-handler plugin in C (see sandbox_plugin.h and docs/c-plugins.md): it
 * tolerates a refused network namespace when the refusal is EPERM and the supervisor sees an
 * outer boundary (gVisor, or a container clue), and aborts everything else, saying why. It takes
 * no configuration.
 *
 *   cc -std=c11 -fPIC -O2 -Wall -Wextra -Werror -c plugin.c -o plugin.o
 *   ar rcs libc_example_plugin.a plugin.o
 */
#include <stdio.h>
#include <string.h>

#include "sandbox_plugin.h"

#define EPERM_VALUE 1

int sandbox_plugin_init(const char *config_json, char *message, size_t message_len)
{
    /* No configuration, or an empty object. */
    if (config_json[0] == '\0' || strcmp(config_json, "{}") == 0) {
        return 0;
    }
    snprintf(message, message_len, "takes no configuration");
    return 1;
}

size_t sandbox_plugin_tolerates(uint32_t *kinds, size_t capacity)
{
    if (capacity < 1) {
        return 0;
    }
    kinds[0] = SANDBOX_KIND_NETWORK_NAMESPACE;
    return 1;
}

int sandbox_plugin_decide(const struct sandbox_report *report, char *reason, size_t reason_len)
{
    if (report->kind != SANDBOX_KIND_NETWORK_NAMESPACE) {
        snprintf(reason, reason_len, "only a refused network namespace is tolerated");
        return SANDBOX_VERDICT_ABORT;
    }
    if (report->errno_value != EPERM_VALUE) {
        snprintf(reason, reason_len, "%s is not an outer runtime's refusal", report->errno_name);
        return SANDBOX_VERDICT_ABORT;
    }
    /* A missing clue is unknown, not absent: without both, do not tolerate. */
    if (report->missing & (SANDBOX_CONTEXT_GVISOR | SANDBOX_CONTEXT_CONTAINER)) {
        snprintf(reason, reason_len, "the supervisor sent no gvisor or container clue");
        return SANDBOX_VERDICT_ABORT;
    }
    if (report->gvisor) {
        snprintf(reason, reason_len, "outer boundary: gVisor (uid %u)", (unsigned)report->uid);
        return SANDBOX_VERDICT_TOLERATE;
    }
    if (report->container != NULL) {
        snprintf(reason, reason_len, "outer boundary: container (%s, uid %u)", report->container,
                 (unsigned)report->uid);
        return SANDBOX_VERDICT_TOLERATE;
    }
    snprintf(reason, reason_len, "no outer boundary: not gVisor and no container clue");
    return SANDBOX_VERDICT_ABORT;
}
