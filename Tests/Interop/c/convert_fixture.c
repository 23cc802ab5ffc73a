/* Links the C ABI through its header and converts a fixture: HF -> Megatron (TP2) with a progress callback,
 * then back to HF; checks the ABI version, the envelopes, and that a callback returning non-zero cancels
 * without creating the output. Run by Tests/Interop/test_c_abi.py:
 *     convert_fixture HF_DIR OUT_PARENT            (exit 0 when every step behaved) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt_bridge.h"

static int32_t count_progress(int64_t done, int64_t total, const char *tensor, void *user) {
    (void)tensor;
    long *calls = user;
    *calls += 1;
    return done > total; /* never true: keep going */
}

static int32_t cancel_at_once(int64_t done, int64_t total, const char *tensor, void *user) {
    (void)done; (void)total; (void)tensor; (void)user;
    return 1;
}

static int ok(const char *what, char *envelope) {
    int good = envelope && strncmp(envelope, "{\"ok\":true", 10) == 0;
    printf("%s: %s\n", what, envelope ? envelope : "(null)");
    ckpt_bridge_free(envelope);
    return good;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s HF_DIR OUT_PARENT\n", argv[0]); return 64; }
    if (ckpt_bridge_abi_version() != CKPT_BRIDGE_ABI_VERSION) { fprintf(stderr, "ABI version mismatch\n"); return 1; }
    char req[8192], meg[2048], hf[2048], cancelled[2048];
    snprintf(meg, sizeof meg, "%s/megatron", argv[2]);
    snprintf(hf, sizeof hf, "%s/hf", argv[2]);
    snprintf(cancelled, sizeof cancelled, "%s/cancelled", argv[2]);

    long calls = 0;
    snprintf(req, sizeof req, "{\"hf_dir\": \"%s\", \"out_dir\": \"%s\", \"tp\": 2}", argv[1], meg);
    if (!ok("import", ckpt_bridge_import(req, count_progress, &calls)) || calls < 2) return 1;
    snprintf(req, sizeof req, "{\"megatron_dir\": \"%s\", \"out_dir\": \"%s\"}", meg, hf);
    if (!ok("export", ckpt_bridge_export(req, NULL, NULL))) return 1;
    snprintf(req, sizeof req, "{\"a\": \"%s\", \"b\": \"%s\"}", argv[1], hf);
    char *diff = ckpt_bridge_diff(req);
    int equal = diff && strstr(diff, "\"equal\":true") != NULL;
    if (!ok("diff", diff) || !equal) return 1;

    snprintf(req, sizeof req, "{\"hf_dir\": \"%s\", \"out_dir\": \"%s\"}", argv[1], cancelled);
    char *c = ckpt_bridge_import(req, cancel_at_once, NULL);
    int was_cancelled = c && strstr(c, "\"code\":\"cancelled\"") != NULL;
    printf("cancelled import: %s\n", c ? c : "(null)");
    ckpt_bridge_free(c);
    struct stat st;
    if (!was_cancelled || stat(cancelled, &st) == 0) return 1;

    char *bad = ckpt_bridge_inspect("{\"path\": 1}");
    int refused = bad && strstr(bad, "\"ok\":false") && strstr(bad, "\"key\":\"path\"");
    printf("bad request: %s\n", bad ? bad : "(null)");
    ckpt_bridge_free(bad);
    if (!refused) return 1;
    printf("C ABI: all steps passed\n");
    return 0;
}
