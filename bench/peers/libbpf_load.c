// libbpf_load: how fast libbpf loads eBPF ELF objects into the kernel.
//
// For each file it reads the bytes into memory once, then times
// bpf_object__open_mem() + bpf_object__load() + bpf_object__close() in a
// loop: a warm-up, then rounds until the time budget is spent (or -n passes
// per round), and prints one JSON line per file with the median round, then
// a total line. Within each pass the part after the open (load + close) is
// timed too ("msLoad"): libbpf's counterpart of loading a parsed spec.
//
// Build: cc -O2 -Wall -Wextra -o libbpf_load libbpf_load.c -lbpf
// Usage: libbpf_load [-n passes] [-t seconds] [-r rounds] file.o...
//
// A file libbpf can't open or load (legacy `maps` sections, an attach target
// the kernel refuses, ...) gets an "error" quoting libbpf's last warning and
// is left out of the total, which says so. The first load of each file runs
// with libbpf's debug messages on, to see whether it reads the kernel's BTF
// ("kernelBtf": libbpf does that per object, for CO-RE and BTF attach).
// Needs root (or CAP_BPF + CAP_PERFMON) like any bpf(2) user.

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "peer_common.h"

struct result {
	long iterations;
	double ms_per_object;
	// In the median round: milliseconds per object of bpf_object__load + close.
	double ms_load;
	bool kernel_btf;
};

// One round's figures: per object, everything and the load + close part.
struct round {
	double ms_per_object;
	double ms_load;
};

// libbpf reports why a load failed only through its print callback: keep
// the last warning so the error line can quote it, and note whether a debug
// message says the kernel's BTF was read. Quiet while timing.
static char last_warning[512];
static bool quiet = true;
static bool saw_kernel_btf;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (quiet)
		return 0;
	if (level == LIBBPF_DEBUG) {
		if (strstr(fmt, "loading kernel BTF") != NULL)
			saw_kernel_btf = true;
		return 0;
	}
	if (level != LIBBPF_WARN)
		return 0;
	char msg[sizeof(last_warning)];
	int n = vsnprintf(msg, sizeof(msg), fmt, args);
	if (n <= 0)
		return 0;
	size_t len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	// The verifier log and "failed to load object" follow the real reason:
	// keep the first warning that names a failure (or the first of all).
	bool names = strstr(msg, "failed") != NULL || strstr(msg, "error") != NULL;
	bool kept_names = strstr(last_warning, "failed") != NULL ||
			  strstr(last_warning, "error") != NULL;
	if (last_warning[0] == '\0' || (names && !kept_names))
		memcpy(last_warning, msg, len + 1);
	return 0;
}

// One object's life: open from memory, load into the kernel, close (which
// closes every map, program and BTF fd the load created). Adds the seconds
// spent from after the open to after the close to *load_seconds.
static int load_close(const void *data, size_t size, const char *name, double *load_seconds)
{
	// Naming the object keeps libbpf from naming it after the buffer's address.
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
	struct bpf_object *obj = bpf_object__open_mem(data, size, &opts);
	long err = libbpf_get_error(obj);
	if (err)
		return (int)err;
	double opened = now_seconds();
	err = bpf_object__load(obj);
	bpf_object__close(obj);
	*load_seconds += now_seconds() - opened;
	return (int)err;
}

// One round: the fixed number of passes, or as many as fit in budget.
static struct round run_round(const void *data, size_t size, const char *name, long passes,
			      double budget, long *done)
{
	double start = now_seconds(), elapsed = 0, load = 0;
	long n = 0;
	while (passes > 0 ? n < passes : elapsed < budget) {
		if (load_close(data, size, name, &load) != 0) {
			fprintf(stderr, "libbpf_load: %s: load failed after succeeding before\n",
				name);
			exit(1);
		}
		n++;
		elapsed = now_seconds() - start;
	}
	*done = n;
	return (struct round){.ms_per_object = elapsed * 1e3 / (double)n,
			      .ms_load = load * 1e3 / (double)n};
}

static int cmp_round(const void *a, const void *b)
{
	return cmp_double(&((const struct round *)a)->ms_per_object,
			  &((const struct round *)b)->ms_per_object);
}

static int bench_file(const char *path, const struct options *opt, struct result *res, char *error,
		      size_t error_len)
{
	void *data = NULL;
	size_t size = 0;
	int err = read_file(path, &data, &size);
	if (err) {
		snprintf(error, error_len, "read %s: %s", path, strerror(-err));
		return err;
	}

	// The first load doubles as the error check, with libbpf's messages kept.
	last_warning[0] = '\0';
	saw_kernel_btf = false;
	quiet = false;
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	double ignored = 0;
	err = load_close(data, size, name, &ignored);
	quiet = true;
	res->kernel_btf = saw_kernel_btf;
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

	struct round rounds[MAX_ROUNDS];
	long total = 0;
	for (int i = 0; i < opt->rounds; i++) {
		long n;
		rounds[i] =
		    run_round(data, size, name, opt->passes, opt->seconds / opt->rounds, &n);
		total += n;
	}
	// The median round by total time, with that round's load figure.
	qsort(rounds, (size_t)opt->rounds, sizeof(rounds[0]), cmp_round);
	res->iterations = total;
	res->ms_per_object = rounds[opt->rounds / 2].ms_per_object;
	res->ms_load = rounds[opt->rounds / 2].ms_load;
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	struct options opt = parse_options(argc, argv, "libbpf_load [-n passes] [-t seconds] [-r rounds] file.o...");
	// libbpf_set_print returns the previous callback: nothing to check.
	(void)libbpf_set_print(print_fn);

	double total_ms = 0;
	int files = 0, excluded = 0;
	for (int i = optind; i < argc; i++) {
		struct result res = {0};
		char error[768] = "";
		int err = bench_file(argv[i], &opt, &res, error, sizeof(error));
		printf("{\"file\":");
		print_json_string(argv[i]);
		if (err) {
			printf(",\"iterations\":0,\"msPerObject\":null,\"kernelBtf\":%s,\"error\":",
			       res.kernel_btf ? "true" : "false");
			print_json_string(error);
			printf("}\n");
			excluded++;
			continue;
		}
		printf(",\"iterations\":%ld,\"msPerObject\":%.6f,\"msLoad\":%.6f,\"kernelBtf\":%s,"
		       "\"error\":null}\n",
		       res.iterations, res.ms_per_object, res.ms_load, res.kernel_btf ? "true" : "false");
		total_ms += res.ms_per_object;
		files++;
	}
	// The total is one load of every file libbpf could load.
	printf("{\"file\":\"total\",\"version\":");
	print_json_string(libbpf_version_string());
	printf(",\"files\":%d,\"excluded\":%d,\"msPerObject\":%.6f,\"note\":", files, excluded,
	       total_ms);
	print_json_string(excluded ? "files libbpf could not load are excluded from the total"
				   : "all files included");
	printf("}\n");
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("libbpf_load: stdout");
		return 1;
	}
	return 0;
}
