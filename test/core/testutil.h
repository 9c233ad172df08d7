/*
 * testutil.h
 *	  What the core tests share: locating ../shared and the weights file,
 *	  pass/fail counting with the "N passed, M failed" last line, file and
 *	  JPEG reading.  Header-only.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#pragma GCC diagnostic ignored "-Wunused-function"

#include "fi_core.h"
#include "image/image.h"
#include "nn/model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int	t_passed,
			t_failed;

/* Record one check; print the failures (and passes when verbose). */
static void
t_check(int ok, const char *fmt,...)
{
	va_list		ap;

	if (ok)
		t_passed++;
	else
		t_failed++;
	if (!ok || getenv("FACEID_TEST_VERBOSE") != NULL)
	{
		printf("%s: ", ok ? "ok" : "FAIL");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
}

/* Print the summary line and return the exit code. */
static int
t_done(void)
{
	printf("%d passed, %d failed\n", t_passed, t_failed);
	return t_failed > 0 ? 1 : 0;
}

/* True when path is a directory. */
static int
t_isdir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The shared folder: env FACEID_SHARED, else <repo>/../shared from test/core or test/bench. */
static const char *
t_shared(void)
{
	static char buf[1024];
	const char *env = getenv("FACEID_SHARED");
	const char *cands[] = {"../../../shared", "../../shared", "../shared"};

	if (env != NULL && t_isdir(env))
		return env;
	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
	{
		snprintf(buf, sizeof(buf), "%s/golden", cands[i]);
		if (t_isdir(buf))
			return cands[i];
	}
	return NULL;
}

/* The weights file: env FACEID_WEIGHTS, else <repo>/build/faceid_weights.bin. */
static const char *
t_weights(void)
{
	const char *env = getenv("FACEID_WEIGHTS");
	const char *cands[] = {"../../build/faceid_weights.bin", "build/faceid_weights.bin"};
	struct stat st;

	if (env != NULL)
		return env;
	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
		if (stat(cands[i], &st) == 0)
			return cands[i];
	return cands[0];
}

/* Whole file into a malloc'd, NUL-terminated buffer; NULL when unreadable. */
static unsigned char *
t_read(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	unsigned char *buf;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n + 1);
	if (buf == NULL || fread(buf, 1, n, f) != (size_t) n)
	{
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = n;
	return buf;
}

/* Decode a JPEG/PNG file with the core decoder; 0 on success. */
static int
t_load_image(const char *path, fi_image *img)
{
	size_t		len;
	unsigned char *data = t_read(path, &len);
	fi_error	err = {0};
	fi_status	s;

	img->rgb = NULL;
	if (data == NULL)
		return -1;
	s = fi_image_decode(data, len, 50000000, img, &err);
	free(data);
	if (s != FI_OK)
	{
		fprintf(stderr, "%s: %s\n", path, err.msg);
		return -1;
	}
	return 0;
}

/* The deterministic w x h input image of the golden layer files. */
static fi_image
t_pattern(int w, int h)
{
	fi_image	img = {w, h, malloc((size_t) w * h * 3)};

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < 3; c++)
				img.rgb[((size_t) y * w + x) * 3 + c] = (uint8_t) ((x * 7 + y * 13 + c * 50) % 256);
	return img;
}

/* Open the weights file (t_weights); on failure count it and say how to build it. */
static fi_model *
t_open_model(void)
{
	fi_model   *m = NULL;
	fi_error	err = {0};

	if (fi_model_open(t_weights(), &m, &err) == FI_OK)
		return m;
	printf("FAIL: weights: %s (build them: sh src/tools/fetch_weights.sh && node src/tools/convert_weights.js, or set FACEID_WEIGHTS)\n", err.msg);
	t_failed++;
	return NULL;
}

/* Monotonic time in ms. */
static double
t_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU time of this thread in ms (waiting for a core is not counted). */
static double
t_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* qsort order of doubles, ascending. */
static int
t_dcmp(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* Median of n values (sorts them). */
static double
t_median(double *v, int n)
{
	qsort(v, n, sizeof(double), t_dcmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Euclidean distance of two 128-d descriptors, in double. */
static double
t_dist(const float *a, const float *b)
{
	double		s = 0;

	for (int i = 0; i < 128; i++)
		s += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
	return sqrt(s);
}

#endif							/* TESTUTIL_H */
