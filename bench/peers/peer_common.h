// Shared by the libbpf peers under bench/peers/: their command-line flags,
// a monotonic clock, JSON
// string output, reading a whole file, and a comparison for qsort.
// Each peer is one translation unit, so these are static definitions.
#ifndef TSBPF_PEER_COMMON_H
#define TSBPF_PEER_COMMON_H

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_ROUNDS 64

struct options {
	long passes;	// fixed passes per round; 0 = time-based
	double seconds; // time budget per file, after warm-up
	int rounds;
};

static void usage(const char *synopsis)
{
	fprintf(stderr, "usage: %s\n", synopsis);
	exit(2);
}

// The peers' common flags: -n passes, -t seconds, -r rounds, then files
// from optind on (at least one).
static struct options parse_options(int argc, char **argv, const char *synopsis)
{
	struct options opt = {.passes = 0, .seconds = 1.0, .rounds = 5};
	int c;
	while ((c = getopt(argc, argv, "n:t:r:")) != -1) {
		char *end;
		switch (c) {
		case 'n':
			opt.passes = strtol(optarg, &end, 10);
			if (*end || opt.passes <= 0)
				usage(synopsis);
			break;
		case 't':
			opt.seconds = strtod(optarg, &end);
			if (*end || opt.seconds <= 0)
				usage(synopsis);
			break;
		case 'r':
			opt.rounds = (int)strtol(optarg, &end, 10);
			if (*end || opt.rounds <= 0 || opt.rounds > MAX_ROUNDS)
				usage(synopsis);
			break;
		default:
			usage(synopsis);
		}
	}
	if (optind >= argc)
		usage(synopsis);
	return opt;
}

static double now_seconds(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		perror("clock_gettime");
		exit(1);
	}
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static int read_file(const char *path, void **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	// Files under /sys report a size of 4096 to stat: read until EOF.
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	int err = buf ? 0 : -ENOMEM;
	while (!err) {
		if (len == cap) {
			char *bigger = realloc(buf, cap * 2);
			if (!bigger) {
				err = -ENOMEM;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				err = -EIO;
			break;
		}
	}
	if (fclose(f) != 0 && !err)
		err = -errno;
	if (err) {
		free(buf);
		return err;
	}
	*data = buf;
	*size = len;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

#endif
