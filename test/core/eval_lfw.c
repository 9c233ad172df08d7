/*
 * eval_lfw.c
 *	  Accuracy figures of the face pipeline on ../shared/faces:
 *	  - LFW View 1: embed every photo of pairsDevTrain/pairsDevTest (largest
 *	    face, retry when none), calibrate the threshold on DevTrain, report
 *	    DevTest accuracy at 0.6 and at the calibrated threshold, for both
 *	    alignments, counting every pair (a photo without a face makes its
 *	    pairs wrong);
 *	  - detector recall at IoU >= 0.5 on dlib's testing.xml (raw boxes, and
 *	    with a fixed box correction fitted on training.xml);
 *	  - false faces on negatives_nonface/plain (must be 0) and /hard.
 *	  Usage: eval_lfw [--detector tiny|ssd] [--size N] [--min-score S]
 *	                  [--no-retry] [--only lfw|dlib|neg] [--limit N] [--assert]
 *	  --assert: exit 1 unless DevTest >= 98.0% (calibrated, similarity),
 *	  no face on plain, recall >= 0.9.
 */
#include "pipeline.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>

typedef struct pair
{
	int			a,
				b;
	bool		same;
	bool		test;			/* DevTest (else DevTrain) */
} pair;

static char **names;			/* unique image paths */
static int	nnames,
			capnames;

/* Index of an image path, added when new (linear probe hash). */
static int
name_index(const char *path)
{
	static int *table;
	static int	tcap;
	unsigned	h = 5381;

	if (table == NULL)
	{
		tcap = 1 << 15;
		table = malloc(sizeof(int) * tcap);
		for (int i = 0; i < tcap; i++)
			table[i] = -1;
	}
	for (const char *s = path; *s; s++)
		h = h * 33 + (unsigned char) *s;
	for (unsigned i = h & (tcap - 1);; i = (i + 1) & (tcap - 1))
	{
		if (table[i] < 0)
		{
			if (nnames == capnames)
				names = realloc(names, sizeof(char *) * (capnames = capnames ? capnames * 2 : 1024));
			names[nnames] = strdup(path);
			table[i] = nnames;
			return nnames++;
		}
		if (strcmp(names[table[i]], path) == 0)
			return table[i];
	}
}

/* Read one View 1 pairs file. */
static int
read_pairs(const char *dir, const char *file, bool test, pair **pairs, int *np)
{
	char		path[1024],
				line[512];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) == NULL)	/* count */
	{
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char		n1[200],
					n2[200],
					p1[600],
					p2[600];
		int			i,
					j;
		pair		pr;

		if (sscanf(line, "%199s %d %199s %d", n1, &i, n2, &j) == 4)
			pr.same = false;
		else if (sscanf(line, "%199s %d %d", n1, &i, &j) == 3)
		{
			strcpy(n2, n1);
			pr.same = true;
		}
		else
			continue;
		snprintf(p1, sizeof(p1), "%s/%s/%s_%04d.jpg", dir, n1, n1, i);
		snprintf(p2, sizeof(p2), "%s/%s/%s_%04d.jpg", dir, n2, n2, j);
		pr.a = name_index(p1);
		pr.b = name_index(p2);
		pr.test = test;
		*pairs = realloc(*pairs, sizeof(pair) * (*np + 1));
		(*pairs)[(*np)++] = pr;
	}
	fclose(f);
	return 0;
}

/* Euclidean distance. */
static double
dist(const float *a, const float *b)
{
	double		s = 0;

	for (int i = 0; i < FI_REC_DIM; i++)
		s += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
	return sqrt(s);
}

/* Correct pairs of a set at threshold t (d <= t: same); missing faces are wrong. */
static int
correct_at(const pair *pr, int np, bool test, const double *d, double t)
{
	int			ok = 0;

	for (int i = 0; i < np; i++)
		if (pr[i].test == test && d[i] >= 0 && (d[i] <= t) == pr[i].same)
			ok++;
	return ok;
}

/* Ascending doubles. */
static int
dcmp(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* Threshold maximising DevTrain accuracy: the middle of the best plateau. */
static double
calibrate(const pair *pr, int np, const double *d)
{
	double	   *v = malloc(sizeof(double) * (np + 2));
	int			n = 0,
				best = -1;
	double		bt = 0.6;

	for (int i = 0; i < np; i++)
		if (!pr[i].test && d[i] >= 0)
			v[n++] = d[i];
	qsort(v, n, sizeof(double), dcmp);
	for (int i = 0; i + 1 < n; i++)
	{
		double		t = (v[i] + v[i + 1]) / 2;
		int			c = correct_at(pr, np, false, d, t);

		if (c > best)
		{
			best = c;
			bt = t;
		}
	}
	free(v);
	return bt;
}

/* LFW View 1 for both alignments; returns the calibrated DevTest accuracy of similarity. */
static double
eval_lfw(fi_pipeline *p, const char *shared, const fi_pipeline_opts *base, int limit)
{
	char		dir[1024];
	pair	   *pr = NULL;
	int			np = 0,
				ntrain,
				ntest,
				nofaces = 0,
				retried = 0;
	float	   *desc[2];
	bool	   *found;
	double		t0 = t_ms(),
				result = 0;
	const char *alname[2] = {"similarity", "faceapi"};

	snprintf(dir, sizeof(dir), "%s/faces/lfw-view1", shared);
	if (read_pairs(dir, "pairsDevTrain.txt", false, &pr, &np) != 0 ||
		read_pairs(dir, "pairsDevTest.txt", true, &pr, &np) != 0)
	{
		printf("SKIP: %s/pairsDev*.txt absent\n", dir);
		return -1;
	}
	ntest = 0;
	for (int i = 0; i < np; i++)
		ntest += pr[i].test;
	ntrain = np - ntest;
	desc[0] = calloc((size_t) nnames * FI_REC_DIM, sizeof(float));
	desc[1] = calloc((size_t) nnames * FI_REC_DIM, sizeof(float));
	found = calloc(nnames, sizeof(bool));
	for (int i = 0; i < nnames && (limit <= 0 || i < limit); i++)
	{
		fi_image	img;
		fi_face    *fs = NULL;
		int			nf = 0;
		fi_pipeline_opts o = *base;
		fi_error	err = {0};

		if (t_load_image(names[i], &img) != 0)
			continue;
		o.embed = false;
		o.largest_only = true;
		if (fi_faces_detect(p, &img, &o, &fs, &nf, NULL, &err) != FI_OK)
			fprintf(stderr, "%s: %s\n", names[i], err.msg);
		if (nf > 0)
		{
			/* a retried face lies partly outside the photo: detect_once on a bordered copy */
			if (fs[0].landmark_crop.x < 0 || fs[0].landmark_crop.y < 0)
				retried++;
			/* descriptors: similarity on the photo itself; faceapi needs the crop inside it */
			fi_face		f = fs[0];

			if (fi_face_descriptor(p, &img, FI_ALIGN_SIMILARITY, &f, NULL, &err) == FI_OK)
				memcpy(desc[0] + (size_t) i * FI_REC_DIM, f.descriptor, sizeof(float) * FI_REC_DIM);
			f = fs[0];
			if (f.landmark_crop.x < 0 || f.landmark_crop.y < 0 ||
				f.landmark_crop.x + f.landmark_crop.width > img.width ||
				f.landmark_crop.y + f.landmark_crop.height > img.height)
			{
				/* found on the bordered copy: clip the landmark crop to the photo for 6.4 */
				f.landmark_crop = fi_clip_floor(f.x, f.y, f.w, f.h, img.width, img.height);
			}
			if (fi_face_descriptor(p, &img, FI_ALIGN_FACEAPI, &f, NULL, &err) == FI_OK)
				memcpy(desc[1] + (size_t) i * FI_REC_DIM, f.descriptor, sizeof(float) * FI_REC_DIM);
			found[i] = true;
		}
		else
			nofaces++;
		free(fs);
		fi_image_free(&img);
		if ((i + 1) % 500 == 0)
			fprintf(stderr, "  %d/%d photos, %.1f ms/photo\n", i + 1, nnames, (t_ms() - t0) / (i + 1));
	}
	printf("LFW View 1: %d photos (%d DevTrain pairs, %d DevTest pairs), %.1f ms/photo (detect + landmarks + 2 descriptors)\n",
		   nnames, ntrain, ntest, (t_ms() - t0) / nnames);
	printf("  photos without a face: %d; found only on the bordered retry: %d\n", nofaces, retried);
	for (int al = 0; al < 2; al++)
	{
		double	   *d = malloc(sizeof(double) * np);
		double		t;
		int			same06 = 0,
					diff06 = 0,
					ns = 0,
					ndf = 0,
					scored = 0;

		for (int i = 0; i < np; i++)
		{
			d[i] = (found[pr[i].a] && found[pr[i].b]) ?
				dist(desc[al] + (size_t) pr[i].a * FI_REC_DIM, desc[al] + (size_t) pr[i].b * FI_REC_DIM) : -1;
			if (pr[i].test && d[i] >= 0)
			{
				scored++;
				if (pr[i].same)
				{
					ns++;
					same06 += d[i] <= 0.6;
				}
				else
				{
					ndf++;
					diff06 += d[i] <= 0.6;
				}
			}
		}
		t = calibrate(pr, np, d);
		printf("  %-10s DevTest: %.1f%% at 0.6, %.1f%% at the DevTrain threshold %.4f (DevTrain %.1f%%); "
			   "scored %d/%d; same <= 0.6: %d/%d, different <= 0.6: %d/%d\n",
			   alname[al], 100.0 * correct_at(pr, np, true, d, 0.6) / ntest,
			   100.0 * correct_at(pr, np, true, d, t) / ntest, t,
			   100.0 * correct_at(pr, np, false, d, t) / ntrain, scored, ntest, same06, ns, diff06, ndf);
		if (al == 0)
			result = 100.0 * correct_at(pr, np, true, d, t) / ntest;
		free(d);
	}
	free(desc[0]);
	free(desc[1]);
	free(found);
	free(pr);
	return result;
}

typedef struct gbox
{
	double		x,
				y,
				w,
				h;
} gbox;

/* Parse dlib's imglab XML: calls back per image with its boxes. */
static int
read_xml(const char *path, char files[][256], gbox boxes[][64], int *nboxes, int maxim)
{
	FILE	   *f = fopen(path, "r");
	char		line[1024];
	int			ni = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char	   *s;

		if ((s = strstr(line, "<image file='")) != NULL && ni + 1 < maxim)
		{
			ni++;
			sscanf(s + 13, "%255[^']", files[ni]);
			nboxes[ni] = 0;
		}
		else if ((s = strstr(line, "<box ")) != NULL && ni >= 0 && nboxes[ni] < 64)
		{
			gbox	   *b = &boxes[ni][nboxes[ni]];

			if (sscanf(s, "<box top='%lf' left='%lf' width='%lf' height='%lf'", &b->y, &b->x, &b->w, &b->h) == 4)
				nboxes[ni]++;
		}
	}
	fclose(f);
	return ni + 1;
}

/* IoU of two boxes. */
static double
iou(gbox a, gbox b)
{
	fi_detection da = {a.x, a.y, a.w, a.h, 0},
				db = {b.x, b.y, b.w, b.h, 0};

	return fi_iou(&da, &db);
}

/* Detected boxes of a photo (default pipeline, no descriptors). */
static int
detect_boxes(fi_pipeline *p, const fi_pipeline_opts *base, const char *path, gbox *out, int max)
{
	fi_image	img;
	fi_face    *fs = NULL;
	int			nf = 0;
	fi_pipeline_opts o = *base;
	fi_error	err = {0};

	if (t_load_image(path, &img) != 0)
		return -1;
	o.embed = false;
	if (fi_faces_detect(p, &img, &o, &fs, &nf, NULL, &err) != FI_OK)
		fprintf(stderr, "%s: %s\n", path, err.msg);
	for (int i = 0; i < nf && i < max; i++)
		out[i] = (gbox) {fs[i].x, fs[i].y, fs[i].w, fs[i].h};
	free(fs);
	fi_image_free(&img);
	return nf < max ? nf : max;
}

/* Recall at IoU >= 0.5 on testing.xml, raw and with a correction fitted on training.xml. */
static double
eval_dlib(fi_pipeline *p, const char *shared, const fi_pipeline_opts *base)
{
	static char files[32][256];
	static gbox gt[32][64],
				det[32][64];
	int			ngt[32],
				ndet[32];
	char		dir[1024],
				path[1400];
	double		corr[4] = {0, 0, 0, 0};
	int			ncorr = 0,
				total = 0,
				hit[2] = {0, 0},
				fp[2] = {0, 0};
	double		recall = 0;

	snprintf(dir, sizeof(dir), "%s/faces/dlib_examples/examples/faces", shared);
	for (int set = 0; set < 2; set++)
	{
		int			ni;

		snprintf(path, sizeof(path), "%s/%s", dir, set == 0 ? "training.xml" : "testing.xml");
		if ((ni = read_xml(path, files, gt, ngt, 32)) < 0)
		{
			printf("SKIP: %s absent\n", path);
			return -1;
		}
		for (int i = 0; i < ni; i++)
		{
			snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
			ndet[i] = detect_boxes(p, base, path, det[i], 64);
		}
		if (set == 0)
		{
			/* box correction: mean of ground truth relative to the best-overlapping detection */
			for (int i = 0; i < ni; i++)
				for (int g = 0; g < ngt[i]; g++)
				{
					int			best = -1;
					double		bi = 0.2;

					for (int k = 0; k < ndet[i]; k++)
						if (iou(gt[i][g], det[i][k]) > bi)
						{
							bi = iou(gt[i][g], det[i][k]);
							best = k;
						}
					if (best < 0)
						continue;
					corr[0] += (gt[i][g].x - det[i][best].x) / det[i][best].w;
					corr[1] += (gt[i][g].y - det[i][best].y) / det[i][best].h;
					corr[2] += gt[i][g].w / det[i][best].w;
					corr[3] += gt[i][g].h / det[i][best].h;
					ncorr++;
				}
			for (int k = 0; k < 4; k++)
				corr[k] = ncorr > 0 ? corr[k] / ncorr : (k < 2 ? 0 : 1);
			continue;
		}
		for (int c = 0; c < 2; c++)
			for (int i = 0; i < ni; i++)
			{
				bool		used[64] = {false};

				if (c == 0)
					total += ngt[i];
				for (int g = 0; g < ngt[i]; g++)
				{
					int			best = -1;
					double		bi = 0.5;

					for (int k = 0; k < ndet[i]; k++)
					{
						gbox		d = det[i][k];

						if (c == 1)
							d = (gbox) {d.x + corr[0] * d.w, d.y + corr[1] * d.h, corr[2] * d.w, corr[3] * d.h};
						if (!used[k] && iou(gt[i][g], d) >= bi)
						{
							bi = iou(gt[i][g], d);
							best = k;
						}
					}
					if (best >= 0)
					{
						used[best] = true;
						hit[c]++;
					}
				}
				for (int k = 0; k < ndet[i]; k++)
					fp[c] += !used[k];
			}
	}
	printf("dlib testing.xml: %d faces; recall at IoU >= 0.5: raw boxes %.3f (%d), corrected %.3f (%d); "
		   "unmatched detections %d / %d\n", total, (double) hit[0] / total, hit[0],
		   (double) hit[1] / total, hit[1], fp[0], fp[1]);
	printf("  box correction fitted on training.xml (%d faces): x += %.3f w, y += %.3f h, w *= %.3f, h *= %.3f\n",
		   ncorr, corr[0], corr[1], corr[2], corr[3]);
	recall = (double) hit[1] / total;
	return recall;
}

/* Faces found on every photo of a folder. */
static int
eval_negatives(fi_pipeline *p, const char *shared, const fi_pipeline_opts *base, const char *sub)
{
	char		dir[1024],
				path[1400];
	DIR		   *dh;
	struct dirent *de;
	int			nphotos = 0,
				nfaces = 0,
				withface = 0;

	snprintf(dir, sizeof(dir), "%s/faces/negatives_nonface/%s", shared, sub);
	if ((dh = opendir(dir)) == NULL)
	{
		printf("SKIP: %s absent\n", dir);
		return -1;
	}
	while ((de = readdir(dh)) != NULL)
	{
		gbox		b[64];
		int			n;

		if (strstr(de->d_name, ".jpg") == NULL && strstr(de->d_name, ".png") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = detect_boxes(p, base, path, b, 64);
		if (n < 0)
			continue;
		nphotos++;
		nfaces += n;
		withface += n > 0;
		if (n > 0)
			printf("  %s/%s: %d false face(s)\n", sub, de->d_name, n);
	}
	closedir(dh);
	printf("negatives_nonface/%s: %d photos, %d with a face, %d false faces\n", sub, nphotos, withface, nfaces);
	return nfaces;
}

int
main(int argc, char **argv)
{
	const char *shared = t_shared();
	const char *only = NULL;
	fi_model   *m = NULL;
	fi_pipeline *p = NULL;
	fi_error	err = {0};
	fi_pipeline_opts o;
	bool		assert_ = false;
	int			limit = 0;

	fi_pipeline_opts_default(&o);
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--detector") == 0 && i + 1 < argc)
			o.detector = strcmp(argv[++i], "ssd") == 0 ? FI_DETECTOR_SSD : FI_DETECTOR_TINY;
		else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
			o.detect_size = atoi(argv[++i]);
		else if (strcmp(argv[i], "--min-score") == 0 && i + 1 < argc)
			o.min_score = atof(argv[++i]);
		else if (strcmp(argv[i], "--no-retry") == 0)
			o.retry = false;
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
			limit = atoi(argv[++i]);
		else if (strcmp(argv[i], "--assert") == 0)
			assert_ = true;
	}
	if (shared == NULL)
	{
		printf("SKIP: ../shared (or FACEID_SHARED) absent\n");
		return t_done();
	}
	if (fi_model_open(t_weights(), &m, &err) != FI_OK || fi_pipeline_new(m, &p, &err) != FI_OK)
	{
		printf("FAIL: %s\n", err.msg);
		return 1;
	}
	printf("config: detector %s, size %d, min_score %.2f, retry %s\n",
		   o.detector == FI_DETECTOR_SSD ? "ssd" : "tiny", o.detect_size, o.min_score,
		   o.retry ? "on" : "off");
	if (only == NULL || strcmp(only, "neg") == 0)
	{
		int			plain = eval_negatives(p, shared, &o, "plain");

		eval_negatives(p, shared, &o, "hard");
		if (assert_ && plain >= 0)
			t_check(plain == 0, "no face on negatives_nonface/plain (%d)", plain);
	}
	if (only == NULL || strcmp(only, "dlib") == 0)
	{
		double		r = eval_dlib(p, shared, &o);

		if (assert_ && r >= 0)
			t_check(r >= 0.9, "dlib testing.xml recall %.3f >= 0.9", r);
	}
	if (only == NULL || strcmp(only, "lfw") == 0)
	{
		double		acc = eval_lfw(p, shared, &o, limit);

		if (assert_ && acc >= 0)
			t_check(acc >= 98.0, "LFW DevTest accuracy %.1f%% >= 98.0%%", acc);
	}
	fi_pipeline_free(p);
	fi_model_close(m);
	return t_done();
}
