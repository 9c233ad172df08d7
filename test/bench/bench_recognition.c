/*
 * bench_recognition.c
 *	  Recognition net speed: ms per 150x150 image, batch 1, one thread,
 *	  median of N runs after warm-up; GFLOP/s (541.7 MFLOP/image) and the
 *	  fraction of this core's fp32 peak, measured with an FMA loop.
 *	  Usage: bench_recognition [runs] [--profile] [--ab] [--batch] [--dump FILE]
 *	  (--ab: the direct convs against Winograd (fi_wino_enabled), alternating
 *	  run by run in this process: per-layer medians and the ratio.
 *	  --batch: a chip and its mirror as two forward passes against one
 *	  pass of both (fi_recognition_forward_n), alternating likewise.  Both
 *	  modes time the thread's CPU time, not the wall clock.)
 *	  (--dump writes the descriptor of the deterministic input, 128 float32 LE,
 *	  for bench_torch.py; the last line "median_ms <x>" is for scripts.)
 *	  Env: FACEID_WEIGHTS (default <repo>/build/faceid_weights.bin).
 *	  The kernel set follows OPENBLAS_CORETYPE (unset = faceid's cpuid pick).
 */
#include "nn/blas.h"
#include "nn/model.h"
#include "nn/winograd.h"
#include "models/recognition.h"
#include "testutil.h"

#include <immintrin.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MFLOP_PER_IMAGE 541.708288	/* 2 x 270,854,144 MACs (spec 8) */
#define MAX_LAYERS 32

/* fp32 FMA peak of one core in GFLOP/s: 12 independent 512-bit FMA chains in registers. */
__attribute__((target("avx512f")))
static double
peak_avx512(void)
{
	__m512		m = _mm512_set1_ps(0.999999f),
				a = _mm512_set1_ps(1e-7f);
	__m512		r0 = _mm512_set1_ps(0), r1 = _mm512_set1_ps(1), r2 = _mm512_set1_ps(2),
				r3 = _mm512_set1_ps(3), r4 = _mm512_set1_ps(4), r5 = _mm512_set1_ps(5),
				r6 = _mm512_set1_ps(6), r7 = _mm512_set1_ps(7), r8 = _mm512_set1_ps(8),
				r9 = _mm512_set1_ps(9), r10 = _mm512_set1_ps(10), r11 = _mm512_set1_ps(11);
	long		iters = 50000000;
	double		t0,
				t1;
	float		sink;

	t0 = t_ms();
	for (long it = 0; it < iters; it++)
	{
#define F(r) r = _mm512_fmadd_ps(r, m, a)
		F(r0); F(r1); F(r2); F(r3); F(r4); F(r5); F(r6); F(r7); F(r8); F(r9); F(r10); F(r11);
		__asm__ volatile ("" : "+v"(r0), "+v"(r1), "+v"(r2), "+v"(r3), "+v"(r4), "+v"(r5));
		__asm__ volatile ("" : "+v"(r6), "+v"(r7), "+v"(r8), "+v"(r9), "+v"(r10), "+v"(r11));
#undef F
	}
	t1 = t_ms();
	sink = _mm512_reduce_add_ps(r0 + r1 + r2 + r3 + r4 + r5 + r6 + r7 + r8 + r9 + r10 + r11);
	if (sink == 12345.0f)
		printf(" ");
	return (double) iters * 12 * 16 * 2 / ((t1 - t0) * 1e6);
}

/* Clock of the per-layer hook: wall time, CPU time in the A/B modes. */
static double (*prof_clock) (void) = t_ms;

/* Per-layer timing through the forward hook. */
typedef struct prof
{
	int			n;
	const char *name[MAX_LAYERS];
	double		t_last;
	double	   *ms[MAX_LAYERS];
	int			run;
} prof;

/* Hook: time since the previous layer report. */
static void
prof_hook(void *arg, const char *name, const fi_tensor *t)
{
	prof	   *p = arg;
	double		now = prof_clock();
	int			i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->name[i], name) == 0)
			break;
	if (i == p->n && p->n < MAX_LAYERS)
		p->name[p->n++] = name;
	if (i < MAX_LAYERS && p->ms[i] != NULL)
		p->ms[i][p->run] = now - p->t_last;
	p->t_last = prof_clock();
}

/*
 * Direct (v = 0) and Winograd (v = 1) convs, alternating run by run (the
 * order swaps each run): per-layer medians of each and the median of the
 * per-run ratios of the whole net.
 */
static void
ab_compare(const fi_model *m, fi_workspace *ws, const float *in, int runs)
{
	prof		p[2] = {{0}, {0}};
	double	   *tot[2],
			   *ratio = malloc(sizeof(double) * runs);
	float		out[FI_REC_DIM];
	fi_error	err = {0};

	for (int v = 0; v < 2; v++)
	{
		tot[v] = malloc(sizeof(double) * runs);
		for (int i = 0; i < MAX_LAYERS; i++)
			p[v].ms[i] = malloc(sizeof(double) * runs);
	}
	for (int r = 0; r < runs; r++)
	{
		for (int k = 0; k < 2; k++)
		{
			int			v = (r + k) % 2;
			double		t0;

			fi_wino_enabled = v == 1;
			p[v].run = r;
			t0 = p[v].t_last = t_cpu_ms();
			fi_recognition_forward(m, ws, in, out, prof_hook, &p[v], NULL, &err);
			tot[v][r] = t_cpu_ms() - t0;
		}
		ratio[r] = tot[1][r] / tot[0][r];
	}
	fi_wino_enabled = true;
	printf("  direct vs Winograd convs, alternating, %d runs (median CPU ms):\n", runs);
	printf("    %-18s %8s %8s %6s\n", "layer", "direct", "wino", "ratio");
	for (int i = 0; i < p[0].n; i++)
	{
		double		a = t_median(p[0].ms[i], runs),
					b = t_median(p[1].ms[i], runs);

		printf("    %-18s %8.3f %8.3f %6.2f\n", p[0].name[i], a, b, a > 0 ? b / a : 0);
	}
	printf("    %-18s %8.3f %8.3f %6.2f (median of per-run ratios)\n", "whole net",
		   t_median(tot[0], runs), t_median(tot[1], runs), t_median(ratio, runs));
	for (int v = 0; v < 2; v++)
	{
		free(tot[v]);
		for (int i = 0; i < MAX_LAYERS; i++)
			free(p[v].ms[i]);
	}
	free(ratio);
}

/* Two single passes (v = 0) against one batch of two (v = 1), alternating. */
static void
batch_compare(const fi_model *m, fi_workspace *ws, const float *in, int runs)
{
	size_t		img = (size_t) 150 * 150 * 3;
	float	   *two = malloc(sizeof(float) * 2 * img),
				out[2][FI_REC_DIM];
	double	   *ms[2] = {malloc(sizeof(double) * runs), malloc(sizeof(double) * runs)},
			   *ratio = malloc(sizeof(double) * runs);
	fi_error	err = {0};

	memcpy(two, in, sizeof(float) * img);
	for (int y = 0; y < 150; y++)		/* the mirror, as the pipeline's flip average */
		for (int x = 0; x < 150; x++)
			memcpy(two + img + ((size_t) y * 150 + x) * 3, in + ((size_t) y * 150 + 149 - x) * 3,
				   sizeof(float) * 3);
	for (int r = 0; r < runs; r++)
	{
		for (int k = 0; k < 2; k++)
		{
			int			v = (r + k) % 2;
			double		t0 = t_cpu_ms();

			if (v == 0)
			{
				fi_recognition_forward(m, ws, two, out[0], NULL, NULL, NULL, &err);
				fi_recognition_forward(m, ws, two + img, out[1], NULL, NULL, NULL, &err);
			}
			else
				fi_recognition_forward_n(m, ws, two, 2, out[0], NULL, NULL, NULL, &err);
			ms[v][r] = t_cpu_ms() - t0;
		}
		ratio[r] = ms[1][r] / ms[0][r];
	}
	printf("  chip + mirror, alternating, %d runs (CPU time): two passes %.3f ms, one batch of 2 %.3f ms, "
		   "ratio %.2f (median of per-run ratios)\n", runs, t_median(ms[0], runs),
		   t_median(ms[1], runs), t_median(ratio, runs));
	free(two);
	free(ms[0]);
	free(ms[1]);
	free(ratio);
}

/* Load the model, then time the net and each of its layers. */
int
main(int argc, char **argv)
{
	int			runs = 100,
				warm = 10;
	bool		profile = false,
				ab = false,
				batch = false;
	const char *dump = NULL;
	char		weights[PATH_MAX + 64];
	const char *e = getenv("FACEID_WEIGHTS");
	fi_model   *m;
	fi_workspace *ws;
	fi_error	err = {0};
	const fi_blas *bl;
	float	   *in,
				out[FI_REC_DIM];
	double	   *ms,
				med,
				peak;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--profile") == 0)
			profile = true;
		else if (strcmp(argv[i], "--ab") == 0)
			ab = true;
		else if (strcmp(argv[i], "--batch") == 0)
			batch = true;
		else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
			dump = argv[++i];
		else
			runs = atoi(argv[i]) >= 30 ? atoi(argv[i]) : 30;
	if (e != NULL && e[0])
		snprintf(weights, sizeof(weights), "%s", e);
	else
	{
		char		exe[PATH_MAX];
		ssize_t		k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		exe[k > 0 ? k : 0] = '\0';
		for (int i = 0; i < 3; i++)
			if (strrchr(exe, '/'))
				*strrchr(exe, '/') = '\0';	/* <repo>/build/bench/x -> <repo> */
		snprintf(weights, sizeof(weights), "%s/build/faceid_weights.bin", exe);
	}
	if (fi_model_open(weights, &m, &err) != FI_OK || fi_blas_load(&bl, &err) != FI_OK)
	{
		fprintf(stderr, "bench_recognition: %s\n", err.msg);
		return 1;
	}
	ws = fi_workspace_new();
	in = malloc(sizeof(float) * 150 * 150 * 3);
	for (int y = 0; y < 150; y++)
		for (int x = 0; x < 150; x++)
			for (int c = 0; c < 3; c++)
			{
				/* the golden deterministic input, normalised per spec 2.1 */
				static const float mean[3] = {122.782f, 117.001f, 104.298f};

				in[(y * 150 + x) * 3 + c] =
					((float) ((x * 7 + y * 13 + c * 50) % 256) - mean[c]) / 255.0f;
			}
	ms = malloc(sizeof(double) * runs);

	for (int i = 0; i < warm; i++)
		fi_recognition_forward(m, ws, in, out, NULL, NULL, NULL, &err);
	for (int i = 0; i < runs; i++)
	{
		double		t0 = t_ms();

		if (fi_recognition_forward(m, ws, in, out, NULL, NULL, NULL, &err) != FI_OK)
		{
			fprintf(stderr, "bench_recognition: %s\n", err.msg);
			return 1;
		}
		ms[i] = t_ms() - t0;
	}
	med = t_median(ms, runs);
	peak = __builtin_cpu_supports("avx512f") ? peak_avx512() : 0;
	printf("OpenBLAS core %-9s (OPENBLAS_CORETYPE %s: %s)\n", bl->corename,
		   bl->coretype[0] ? bl->coretype : "unset", bl->coretype_origin);
	printf("  recognition 150x150, batch 1, 1 thread, %d runs: median %.3f ms, min %.3f ms, "
		   "%.1f GFLOP/s", runs, med, ms[0], MFLOP_PER_IMAGE / med);
	if (peak > 0)
		printf(", %.0f%% of the measured fp32 peak %.0f GFLOP/s (AVX-512 FMA loop)",
			   100.0 * MFLOP_PER_IMAGE / med / peak, peak);
	printf("\n");

	if (profile)
	{
		prof		p = {0};

		for (int i = 0; i < MAX_LAYERS; i++)
			p.ms[i] = malloc(sizeof(double) * runs);
		for (p.run = 0; p.run < runs; p.run++)
		{
			p.t_last = t_ms();
			fi_recognition_forward(m, ws, in, out, prof_hook, &p, NULL, &err);
		}
		printf("  per layer (median ms; a block's time includes its two convs):\n");
		for (int i = 0; i < p.n; i++)
			printf("    %-18s %7.3f\n", p.name[i], t_median(p.ms[i], runs));
		for (int i = 0; i < MAX_LAYERS; i++)
			free(p.ms[i]);
	}
	if (ab)
	{
		prof_clock = t_cpu_ms;
		ab_compare(m, ws, in, runs);
		prof_clock = t_ms;
	}
	if (batch)
		batch_compare(m, ws, in, runs);
	if (dump != NULL)
	{
		FILE	   *f = fopen(dump, "wb");

		fi_recognition_forward(m, ws, in, out, NULL, NULL, NULL, &err);
		if (f == NULL || fwrite(out, sizeof(float), FI_REC_DIM, f) != FI_REC_DIM || fclose(f) != 0)
		{
			fprintf(stderr, "bench_recognition: cannot write %s\n", dump);
			return 1;
		}
	}
	printf("median_ms %.4f\n", med);
	free(ms);
	free(in);
	fi_workspace_free(ws);
	fi_model_close(m);
	return 0;
}
