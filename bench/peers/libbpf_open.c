// libbpf_open: how fast libbpf parses eBPF ELF objects.
//
// For each file it reads the bytes into memory once, then times
// bpf_object__open_mem() + bpf_object__close() in a loop: a warm-up, then
// rounds until the time budget is spent (or -n passes per round), and prints
// one JSON line per file with the median round, then a total line.
//
// Build: cc -O2 -Wall -Wextra -o libbpf_open libbpf_open.c -lbpf
// Usage: libbpf_open [-n passes] [-t seconds] [-r rounds] file.o...
//
// libbpf >= 1.0 refuses legacy `maps` sections (struct bpf_map_def): such a
// file gets an "error" and is left out of the total, which says so.

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "peer_common.h"

struct result {
	long iterations;
	double ms_per_pass;
	double mb_per_sec;
};

// libbpf reports why an open failed only through its print callback: keep
// the last warning so the error line can quote it.
static char last_warning[512];
static int quiet;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level != LIBBPF_WARN || quiet)
		return 0;
	int n = vsnprintf(last_warning, sizeof(last_warning), fmt, args);
	if (n > 0) {
		size_t len = strlen(last_warning);
		while (len > 0 && last_warning[len - 1] == '\n')
			last_warning[--len] = '\0';
	}
	return 0;
}

static int open_close(const void *data, size_t size, const char *name)
{
	// Naming the object keeps libbpf from naming it after the buffer's address.
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
	struct bpf_object *obj = bpf_object__open_mem(data, size, &opts);
	long err = libbpf_get_error(obj);
	if (err)
		return (int)err;
	bpf_object__close(obj);
	return 0;
}

// One round: the fixed number of passes, or as many as fit in budget.
static double run_round(const void *data, size_t size, const char *name, long passes,
			double budget, long *done)
{
	double start = now_seconds(), elapsed = 0;
	long n = 0;
	while (passes > 0 ? n < passes : elapsed < budget) {
		if (open_close(data, size, name) != 0) {
			fprintf(stderr, "libbpf_open: open failed after succeeding before\n");
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

	// The first open doubles as the error check, with libbpf's warnings kept.
	last_warning[0] = '\0';
	quiet = 0;
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	err = open_close(data, size, name);
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

	long warm;
	run_round(data, size, name, 0, opt->seconds / 5, &warm);

	double rounds[MAX_ROUNDS];
	long total = 0;
	for (int i = 0; i < opt->rounds; i++) {
		long n;
		rounds[i] =
		    run_round(data, size, name, opt->passes, opt->seconds / opt->rounds, &n);
		total += n;
	}
	qsort(rounds, (size_t)opt->rounds, sizeof(rounds[0]), cmp_double);
	res->iterations = total;
	res->ms_per_pass = rounds[opt->rounds / 2];
	res->mb_per_sec = (double)size / 1e6 / (res->ms_per_pass / 1e3);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	struct options opt = parse_options(argc, argv, "libbpf_open [-n passes] [-t seconds] [-r rounds] file.o...");
	libbpf_set_print(print_fn);

	double total_ms = 0;
	size_t total_bytes = 0;
	int files = 0, excluded = 0;
	for (int i = optind; i < argc; i++) {
		struct result res = {0};
		char error[768] = "";
		size_t bytes = 0;
		int err = bench_file(argv[i], &opt, &res, error, sizeof(error), &bytes);
		printf("{\"file\":");
		print_json_string(argv[i]);
		if (err) {
			printf(",\"iterations\":0,\"msPerPass\":null,\"mbPerSec\":null,\"error\":");
			print_json_string(error);
			printf("}\n");
			excluded++;
			continue;
		}
		printf(",\"bytes\":%zu,\"iterations\":%ld,\"msPerPass\":%.6f,\"mbPerSec\":%.3f,\"error\":null}\n",
		       bytes, res.iterations, res.ms_per_pass, res.mb_per_sec);
		total_ms += res.ms_per_pass;
		total_bytes += bytes;
		files++;
	}
	// The total is one pass over every file libbpf could open.
	printf("{\"file\":\"total\",\"version\":");
	print_json_string(libbpf_version_string());
	printf(",\"files\":%d,\"excluded\":%d,\"bytes\":%zu,\"msPerPass\":%.6f,\"mbPerSec\":%.3f,"
	       "\"note\":",
	       files, excluded, total_bytes, total_ms,
	       total_ms > 0 ? (double)total_bytes / 1e6 / (total_ms / 1e3) : 0.0);
	print_json_string(excluded ? "files libbpf could not open are excluded from the total"
				   : "all files included");
	printf("}\n");
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("libbpf_open: stdout");
		return 1;
	}
	return 0;
}
