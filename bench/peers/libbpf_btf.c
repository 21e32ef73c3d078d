// libbpf_btf: how fast libbpf opens a raw BTF blob (such as
// /sys/kernel/btf/vmlinux), and how much memory one open BTF object holds.
//
// For each file it reads the bytes into memory once, then:
//
//   - opens it once with btf__new() (the error check, libbpf's messages kept)
//     and measures what that BTF object adds while it is alive: the peak RSS
//     delta (VmHWM from /proc/self/status, else getrusage ru_maxrss, before
//     and after) and, with glibc, the malloc'd bytes delta (mallinfo2
//     uordblks + hblkhd). The peak only grows, so the RSS figure is only
//     meaningful for the first file of a run: give one file per run for it;
//   - times btf__new() + btf__free() in a loop: a warm-up, then rounds until
//     the time budget is spent (or -n passes per round).
//
// It prints one JSON line per file with the median round.
//
// btf__new() copies the blob, checks the header and the string section, and
// walks the type section once, recording each type's offset and checking its
// size; types are not otherwise decoded.
//
// Build: cc -O2 -Wall -Wextra -o libbpf_btf libbpf_btf.c -lbpf
// Usage: libbpf_btf [-n passes] [-t seconds] [-r rounds] file...

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "peer_common.h"

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define HAVE_MALLINFO2 1
#endif

struct result {
	long iterations;
	double ms_per_pass;
	unsigned types;
	long long rss_bytes;  // peak RSS delta of the first open; -1 if unknown
	long long heap_bytes; // malloc'd bytes held by one BTF object; -1 if unknown
};

// libbpf reports why an open failed only through its print callback, and
// for a bad BTF header only at debug level: keep the last message of the
// first open so the error line can quote it.
static char last_warning[512];
static int quiet;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	if (quiet)
		return 0;
	int n = vsnprintf(last_warning, sizeof(last_warning), fmt, args);
	if (n > 0) {
		size_t len = strlen(last_warning);
		while (len > 0 && last_warning[len - 1] == '\n')
			last_warning[--len] = '\0';
	}
	return 0;
}

// Peak resident set size of this process image so far, in bytes, or -1.
// VmHWM first: getrusage's ru_maxrss survives fork + exec, so under a
// parent bigger than us (a JS runtime) it is the parent's peak, not ours.
static long long peak_rss(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (f) {
		char line[256];
		long long kib = -1;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "VmHWM: %lld kB", &kib) == 1)
				break;
		if (fclose(f) == 0 && kib >= 0)
			return kib * 1024;
	}
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return (long long)ru.ru_maxrss * 1024; // Linux reports KiB
}

// Bytes malloc currently hands out (small blocks and mmap'd ones), or -1.
static long long malloc_in_use(void)
{
#ifdef HAVE_MALLINFO2
	struct mallinfo2 mi = mallinfo2();
	return (long long)(mi.uordblks + mi.hblkhd);
#else
	return -1;
#endif
}

static int open_close(const void *data, size_t size)
{
	struct btf *btf = btf__new(data, (__u32)size);
	long err = libbpf_get_error(btf);
	if (err)
		return (int)err;
	btf__free(btf);
	return 0;
}

// One round: the fixed number of passes, or as many as fit in budget.
static double run_round(const void *data, size_t size, long passes, double budget, long *done)
{
	double start = now_seconds(), elapsed = 0;
	long n = 0;
	while (passes > 0 ? n < passes : elapsed < budget) {
		if (open_close(data, size) != 0) {
			fprintf(stderr, "libbpf_btf: btf__new failed after succeeding before\n");
			exit(1);
		}
		n++;
		elapsed = now_seconds() - start;
	}
	*done = n;
	return elapsed * 1e3 / (double)n;
}

static int bench_file(const char *path, const struct options *opt, struct result *res, char *error,
		      size_t error_len, size_t *bytes)
{
	void *data = NULL;
	size_t size = 0;
	int err = read_file(path, &data, &size);
	if (err) {
		snprintf(error, error_len, "read %s: %s", path, strerror(-err));
		return err;
	}
	*bytes = size;
	if (size > 0xffffffffu) {
		snprintf(error, error_len, "%zu bytes: more than btf__new() takes", size);
		free(data);
		return -EFBIG;
	}

	// The first open doubles as the error check and the memory measurement:
	// ru_maxrss only grows, so it must come before the timed loop.
	last_warning[0] = '\0';
	quiet = 0;
	long long rss_before = peak_rss(), heap_before = malloc_in_use();
	struct btf *btf = btf__new(data, (__u32)size);
	err = (int)libbpf_get_error(btf);
	quiet = 1;
	if (err) {
		char reason[128];
		if (libbpf_strerror(err, reason, sizeof(reason)) != 0)
			snprintf(reason, sizeof(reason), "error %d", err);
		snprintf(error, error_len, "%s%s%s", reason, last_warning[0] ? ": " : "",
			 last_warning);
		free(data);
		return err;
	}
	long long rss_after = peak_rss(), heap_after = malloc_in_use();
	res->rss_bytes = rss_before < 0 || rss_after < 0 ? -1 : rss_after - rss_before;
	res->heap_bytes = heap_before < 0 || heap_after < 0 ? -1 : heap_after - heap_before;
	res->types = btf__type_cnt(btf) - 1; // the count includes void
	btf__free(btf);

	long warm;
	run_round(data, size, 0, opt->seconds / 5, &warm);

	double rounds[MAX_ROUNDS];
	long total = 0;
	for (int i = 0; i < opt->rounds; i++) {
		long n;
		rounds[i] = run_round(data, size, opt->passes, opt->seconds / opt->rounds, &n);
		total += n;
	}
	qsort(rounds, (size_t)opt->rounds, sizeof(rounds[0]), cmp_double);
	res->iterations = total;
	res->ms_per_pass = rounds[opt->rounds / 2];
	free(data);
	return 0;
}

static void print_bytes_field(const char *name, long long value)
{
	if (value < 0)
		printf(",\"%s\":null", name);
	else
		printf(",\"%s\":%lld", name, value);
}

int main(int argc, char **argv)
{
	struct options opt = parse_options(argc, argv, "libbpf_btf [-n passes] [-t seconds] [-r rounds] file...");
	libbpf_set_print(print_fn);

	for (int i = optind; i < argc; i++) {
		struct result res = {0};
		char error[768] = "";
		size_t bytes = 0;
		int err = bench_file(argv[i], &opt, &res, error, sizeof(error), &bytes);
		printf("{\"file\":");
		print_json_string(argv[i]);
		printf(",\"version\":");
		print_json_string(libbpf_version_string());
		if (err) {
			printf(",\"bytes\":%zu,\"iterations\":0,\"msPerPass\":null,\"error\":", bytes);
			print_json_string(error);
			printf("}\n");
			continue;
		}
		printf(",\"bytes\":%zu,\"types\":%u,\"iterations\":%ld,\"msPerPass\":%.6f", bytes,
		       res.types, res.iterations, res.ms_per_pass);
		print_bytes_field("rssBytes", res.rss_bytes);
		print_bytes_field("heapBytes", res.heap_bytes);
		printf(",\"error\":null}\n");
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("libbpf_btf: stdout");
		return 1;
	}
	return 0;
}
