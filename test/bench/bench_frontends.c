/*
 * bench_frontends.c
 *	  faceid's front end beside dlib's, on the same LFW View 1 pairs and the
 *	  same encoder (run_bench_dlib.sh drives it):
 *	    bench_frontends list            the View 1 photos (DevTrain + DevTest),
 *	                                    one path a line, in the order used below
 *	    bench_frontends compare CHIPDIR DLIB_LINES
 *	                                    faceid: face_embed's path (detection,
 *	                                    landmarks, similarity chip, encoder with
 *	                                    the mirror average); dlib: CHIPDIR/<i>.png
 *	                                    (dlib_chips.cpp's chips) encoded as
 *	                                    face_embed_crop does (pad, resize to
 *	                                    150, encode; no mirror), and with the
 *	                                    mirror average too.  DLIB_LINES is
 *	                                    dlib_chips' output (its ms per photo).
 *	    bench_frontends time < photos   faceid's front end alone on the listed
 *	                                    photos: median and mean ms per photo
 *	  For each front end: DevTest accuracy over all 1000 pairs (a photo
 *	  without a face makes its pairs wrong) at its own DevTrain-calibrated
 *	  threshold and at 0.6, and the front end's ms per photo (from the decoded
 *	  photo to the 150x150 chip; the encoder's cost is the same for both).
 */
#include "face/pipeline.h"
#include "testutil.h"

#include <math.h>
#include <unistd.h>

#define MAXP 8192

typedef struct pair
{
	int			a,
				b;
	bool		same,
				test;
} pair;

static char *names[MAXP];
static int	nnames;
static pair pairs[4000];
static int	npairs;

/* Index of a photo path, added when new (linear: a few thousand photos, once). */
static int
name_index(const char *p)
{
	for (int i = nnames - 1; i >= 0; i--)
		if (strcmp(names[i], p) == 0)
			return i;
	if (nnames == MAXP)
		return 0;
	names[nnames] = strdup(p);
	return nnames++;
}

/* One View 1 pairs file; -1 when absent. */
static int
read_pairs(const char *dir, const char *file, bool test)
{
	char		path[1024],
				line[512];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL && npairs < 4000)
	{
		char		n1[200],
					n2[200],
					p[700];
		int			i,
					j;
		pair		pr = {0};

		if (sscanf(line, "%199s %d %199s %d", n1, &i, n2, &j) == 4)
			pr.same = false;
		else if (sscanf(line, "%199s %d %d", n1, &i, &j) == 3)
		{
			strcpy(n2, n1);
			pr.same = true;
		}
		else
			continue;			/* the count line */
		snprintf(p, sizeof(p), "%s/%s/%s_%04d.jpg", dir, n1, n1, i);
		pr.a = name_index(p);
		snprintf(p, sizeof(p), "%s/%s/%s_%04d.jpg", dir, n2, n2, j);
		pr.b = name_index(p);
		pr.test = test;
		pairs[npairs++] = pr;
	}
	fclose(f);
	return 0;
}

/* Euclidean distance; -1 when either photo has no descriptor. */
static double
dist(const float *d, const bool *ok, int a, int b)
{
	double		s = 0;

	if (!ok[a] || !ok[b])
		return -1;
	for (int k = 0; k < FI_REC_DIM; k++)
	{
		double		x = (double) d[(size_t) a * FI_REC_DIM + k] - d[(size_t) b * FI_REC_DIM + k];

		s += x * x;
	}
	return sqrt(s);
}

/* Correct pairs of DevTrain (test false) or DevTest at threshold t. */
static int
correct(const double *d, bool test, double t)
{
	int			c = 0;

	for (int i = 0; i < npairs; i++)
		if (pairs[i].test == test && d[i] >= 0 && (d[i] <= t) == pairs[i].same)
			c++;
	return c;
}

/* One row of the table: DevTest at the DevTrain threshold and at 0.6. */
static void
row(const char *label, const float *desc, const bool *ok, double ms)
{
	double	   *d = malloc(sizeof(double) * npairs);
	double		best_t = 0.6;
	int			best = -1,
				ntest = 0,
				nofaces = 0;

	for (int i = 0; i < npairs; i++)
	{
		d[i] = dist(desc, ok, pairs[i].a, pairs[i].b);
		ntest += pairs[i].test;
	}
	for (int i = 0; i < nnames; i++)
		nofaces += !ok[i];
	/* DevTrain threshold: scan the candidate thresholds 0.30 .. 0.90 by 0.001 */
	for (double t = 0.30; t <= 0.90; t += 0.001)
	{
		int			c = correct(d, false, t);

		if (c > best)
		{
			best = c;
			best_t = t;
		}
	}
	printf("| %-40s | %5.1f%% (%.3f) | %5.1f%% | %4d | %6.1f |\n", label,
		   100.0 * correct(d, true, best_t) / ntest, best_t,
		   100.0 * correct(d, true, 0.6) / ntest, nofaces, ms);
	free(d);
}

/* dlib_chips' per-photo lines: mean ms over the photos. */
static double
dlib_ms(const char *path)
{
	FILE	   *f = fopen(path, "r");
	char		line[256];
	double		sum = 0;
	int			n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		int			i,
					found;
		double		ms;

		if (sscanf(line, "%d %d %lf", &i, &found, &ms) == 3)
		{
			sum += ms;
			n++;
		}
	}
	fclose(f);
	return n > 0 ? sum / n : -1;
}

/* Mirror a decoded image left-right in place. */
static void
mirror(fi_image *img)
{
	for (int y = 0; y < img->height; y++)
		for (int x = 0; x < img->width / 2; x++)
			for (int ch = 0; ch < 3; ch++)
			{
				uint8_t    *a = img->rgb + ((size_t) y * img->width + x) * 3 + ch;
				uint8_t    *b = img->rgb + ((size_t) y * img->width + img->width - 1 - x) * 3 + ch;
				uint8_t		t = *a;

				*a = *b;
				*b = t;
			}
}

/* Both front ends over every photo, then the table. */
static int
compare(const char *chipdir, const char *dlib_lines)
{
	fi_model   *m = NULL;
	fi_pipeline *p = NULL;
	fi_error	err = {0};
	fi_pipeline_opts o;
	float	   *fd = calloc((size_t) nnames * FI_REC_DIM, sizeof(float)),
			   *dd = calloc((size_t) nnames * FI_REC_DIM, sizeof(float)),
			   *dm = calloc((size_t) nnames * FI_REC_DIM, sizeof(float)),
			   *chip = malloc(sizeof(float) * FI_REC_SIZE * FI_REC_SIZE * 3);
	bool	   *fok = calloc(nnames, sizeof(bool)),
			   *dok = calloc(nnames, sizeof(bool));
	double		front_ms = 0;
	int			ntest = 0;

	for (int i = 0; i < npairs; i++)
		ntest += pairs[i].test;
	if (fi_model_open(t_weights(), &m, &err) != FI_OK || fi_pipeline_new(m, &p, &err) != FI_OK)
	{
		printf("FAIL: %s\n", err.msg);
		return 1;
	}
	fi_pipeline_opts_default(&o);
	for (int i = 0; i < nnames; i++)
	{
		fi_image	img;
		fi_face    *fs = NULL;
		int			nf = 0;
		char		path[1200];
		double		t0;

		if (t_load_image(names[i], &img) == 0)
		{
			/* faceid: face_embed's front end, timed from the decoded photo to the chip */
			fi_pipeline_opts fo = o;

			fo.embed = false;
			fo.largest_only = true;
			t0 = t_ms();
			if (fi_faces_detect(p, &img, &fo, &fs, &nf, NULL, &err) == FI_OK && nf > 0)
				fi_similarity_chip(&img, fs[0].landmarks, NULL, chip);
			front_ms += t_ms() - t0;
			if (nf > 0 && fi_face_descriptor(p, &img, &o, &fs[0], NULL, &err) == FI_OK)
			{
				memcpy(fd + (size_t) i * FI_REC_DIM, fs[0].descriptor, sizeof(float) * FI_REC_DIM);
				fok[i] = true;
			}
			free(fs);
			fi_image_free(&img);
		}
		/* dlib: its chip through face_embed_crop's path, then with the mirror average */
		snprintf(path, sizeof(path), "%s/%d.png", chipdir, i);
		if (access(path, R_OK) == 0 && t_load_image(path, &img) == 0)
		{
			float		d2[FI_REC_DIM];
			fi_workspace *ws = fi_pipeline_workspace(p);

			if (fi_recognition_embed(m, ws, &img, NULL, dd + (size_t) i * FI_REC_DIM, NULL, &err) == FI_OK)
			{
				mirror(&img);
				dok[i] = fi_recognition_embed(m, ws, &img, NULL, d2, NULL, &err) == FI_OK;
				for (int k = 0; k < FI_REC_DIM; k++)
					dm[(size_t) i * FI_REC_DIM + k] = (dd[(size_t) i * FI_REC_DIM + k] + d2[k]) / 2;
			}
			fi_image_free(&img);
		}
		if ((i + 1) % 1000 == 0)
			fprintf(stderr, "  %d/%d photos\n", i + 1, nnames);
	}
	printf("LFW View 1: %d photos; DevTest: all %d pairs (a photo without a face makes its pairs wrong)\n\n",
		   nnames, ntest);
	printf("| %-40s | %-15s | %-6s | %-8s | %-4s | %-6s |\n", "front end", "DevTest (thr.)", "at 0.6",
		   "DevTrain", "none", "ms");
	printf("|---|---|---|---|---|---|\n");
	row("faceid face_embed (mirror average)", fd, fok, front_ms / nnames);
	row("dlib chip + face_embed_crop", dd, dok, dlib_ms(dlib_lines));
	row("dlib chip + mirror average", dm, dok, dlib_ms(dlib_lines));
	printf("\n(DevTest at the front end's own DevTrain threshold; none = photos without a face;\n"
		   " ms = mean front end per photo over this run, decoded photo -> 150x150 chip,\n"
		   " single thread; see the interleaved timing below for a fair ratio)\n");
	fi_pipeline_free(p);
	fi_model_close(m);
	free(fd);
	free(dd);
	free(dm);
	free(chip);
	free(fok);
	free(dok);
	return 0;
}

/* Ascending doubles. */
static int
dcmp(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* faceid's front end over the photos listed on stdin: median and mean ms. */
static int
time_front(void)
{
	fi_model   *m = NULL;
	fi_pipeline *p = NULL;
	fi_error	err = {0};
	fi_pipeline_opts o;
	float	   *chip = malloc(sizeof(float) * FI_REC_SIZE * FI_REC_SIZE * 3);
	double	   *t = malloc(sizeof(double) * MAXP),
				sum = 0;
	char		line[1200];
	int			n = 0,
				found = 0;

	if (fi_model_open(t_weights(), &m, &err) != FI_OK || fi_pipeline_new(m, &p, &err) != FI_OK)
	{
		printf("FAIL: %s\n", err.msg);
		return 1;
	}
	fi_pipeline_opts_default(&o);
	o.embed = false;
	o.largest_only = true;
	while (n < MAXP && fgets(line, sizeof(line), stdin) != NULL)
	{
		fi_image	img;
		fi_face    *fs = NULL;
		int			nf = 0;
		double		t0;

		line[strcspn(line, "\n")] = 0;
		if (t_load_image(line, &img) != 0)
			continue;
		t0 = t_ms();
		if (fi_faces_detect(p, &img, &o, &fs, &nf, NULL, &err) == FI_OK && nf > 0)
			fi_similarity_chip(&img, fs[0].landmarks, NULL, chip);
		t[n] = t_ms() - t0;
		sum += t[n++];
		found += nf > 0;
		free(fs);
		fi_image_free(&img);
	}
	if (n > 0)
	{
		qsort(t, n, sizeof(double), dcmp);
		printf("faceid: %d photos, %d with a face, %.2f ms median, %.2f ms mean\n", n, found,
			   t[n / 2], sum / n);
	}
	fi_pipeline_free(p);
	fi_model_close(m);
	free(chip);
	free(t);
	return 0;
}

/* list | compare CHIPDIR DLIB_LINES | time (photos on stdin) */
int
main(int argc, char **argv)
{
	const char *shared = t_shared();
	char		dir[1024];

	if (shared == NULL)
	{
		printf("SKIP: ../shared (or FACEID_SHARED) absent\n");
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s/faces/lfw-view1", shared);
	if (read_pairs(dir, "pairsDevTrain.txt", false) != 0 || read_pairs(dir, "pairsDevTest.txt", true) != 0)
	{
		printf("SKIP: %s/pairsDev*.txt absent\n", dir);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "list") == 0)
	{
		for (int i = 0; i < nnames; i++)
			printf("%s\n", names[i]);
		return 0;
	}
	if (argc > 3 && strcmp(argv[1], "compare") == 0)
		return compare(argv[2], argv[3]);
	if (argc > 1 && strcmp(argv[1], "time") == 0)
		return time_front();
	fprintf(stderr, "usage: bench_frontends list | compare CHIPDIR DLIB_LINES | time < photos\n");
	return 2;
}
