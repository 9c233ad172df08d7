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
 *	                  [--no-retry] [--[no-]ssd-fallback] [--no-flip] [--frame-always]
 *	                  [--only lfw|dlib|neg] [--limit N] [--tune] [--assert]
 *	  Defaults are the pipeline's (fi_pipeline_opts_default); --ssd-fallback,
 *	  --no-ssd-fallback, --no-flip and --frame-always switch those options.
 *	  --tune: also try similarity chip geometries, pick the best on DevTrain.
 *	  --assert: exit 1 unless DevTest >= 98.2% (calibrated, similarity), at
 *	  most 1 photo without a face in DevTrain + DevTest, no face on plain,
 *	  recall >= 0.9.
 */
#include "face/pipeline.h"
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
static bool flip_average = true;	/* opts.flip_average (--no-flip) */
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
	qsort(v, n, sizeof(double), t_dcmp);
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

/* Accuracy figures of one descriptor set; returns the calibrated DevTest accuracy. */
static double
report(const char *label, const pair *pr, int np, const float *desc, const bool *found,
	   double *train_acc)
{
	double	   *d = malloc(sizeof(double) * np);
	double		t,
				acc;
	int			same06 = 0,
				diff06 = 0,
				ns = 0,
				ndf = 0,
				scored = 0,
				ntest = 0;

	for (int i = 0; i < np; i++)
	{
		ntest += pr[i].test;
		d[i] = (found[pr[i].a] && found[pr[i].b]) ?
			t_dist(desc + (size_t) pr[i].a * FI_REC_DIM, desc + (size_t) pr[i].b * FI_REC_DIM) : -1;
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
	acc = 100.0 * correct_at(pr, np, true, d, t) / ntest;
	*train_acc = 100.0 * correct_at(pr, np, false, d, t) / (np - ntest);
	printf("  %-24s DevTest: %.1f%% at 0.6, %.1f%% at the DevTrain threshold %.4f (DevTrain %.2f%%); "
		   "scored %d/%d; same <= 0.6: %d/%d, different <= 0.6: %d/%d\n",
		   label, 100.0 * correct_at(pr, np, true, d, 0.6) / ntest, acc, t, *train_acc,
		   scored, ntest, same06, ns, diff06, ndf);
	free(d);
	return acc;
}

/* Descriptors of every found face with one alignment (geom for similarity). */
static void
embed_all(fi_pipeline *p, fi_face *faces, const bool *found, fi_alignment al,
		  const fi_chip_geometry *geom, const bool *only, float *desc)
{
	fi_pipeline_opts o;

	fi_pipeline_opts_default(&o);
	o.alignment = al;
	o.flip_average = flip_average;
	float	   *chip = malloc(sizeof(float) * FI_REC_SIZE * FI_REC_SIZE * 3);

	for (int i = 0; i < nnames; i++)
	{
		fi_image	img;
		fi_error	err = {0};
		fi_face		f = faces[i];

		if (!found[i] || (only != NULL && !only[i]) || t_load_image(names[i], &img) != 0)
			continue;
		if (al == FI_ALIGN_FACEAPI)
		{
			/* a face found on the bordered retry: clip its landmark crop to the photo (6.2) */
			f.landmark_crop = fi_clip_floor(f.x, f.y, f.w, f.h, img.width, img.height);
			if (fi_face_descriptor(p, &img, &o, &f, NULL, &err) == FI_OK)
				memcpy(desc + (size_t) i * FI_REC_DIM, f.descriptor, sizeof(float) * FI_REC_DIM);
		}
		else if (geom == NULL)
		{
			if (fi_face_descriptor(p, &img, &o, &f, NULL, &err) == FI_OK)
				memcpy(desc + (size_t) i * FI_REC_DIM, f.descriptor, sizeof(float) * FI_REC_DIM);
		}
		else
		{
			/* a geometry under test (no flip) */
			fi_similarity_chip(&img, f.landmarks, geom, chip);
			fi_recognition_forward(fi_pipeline_model(p), fi_pipeline_workspace(p), chip,
								   desc + (size_t) i * FI_REC_DIM, NULL, NULL, NULL, &err);
		}
		fi_image_free(&img);
	}
	free(chip);
}

/* LFW View 1 for both alignments; returns the calibrated DevTest accuracy of similarity. */
static double
eval_lfw(fi_pipeline *p, const char *shared, const fi_pipeline_opts *base, int limit, bool tune,
		 int *without_face)
{
	char		dir[1024];
	pair	   *pr = NULL;
	int			np = 0,
				ntest = 0,
				nofaces = 0,
				skipped = 0,
				by_pass[FI_PASS_SSD_BORDER + 1] = {0};
	float	   *desc;
	bool	   *found;
	fi_face    *faces;
	double		t0 = t_ms(),
				result = 0,
				tr;

	snprintf(dir, sizeof(dir), "%s/faces/lfw-view1", shared);
	if (read_pairs(dir, "pairsDevTrain.txt", false, &pr, &np) != 0 ||
		read_pairs(dir, "pairsDevTest.txt", true, &pr, &np) != 0)
	{
		printf("SKIP: %s/pairsDev*.txt absent\n", dir);
		return -1;
	}
	for (int i = 0; i < np; i++)
		ntest += pr[i].test;
	desc = calloc((size_t) nnames * FI_REC_DIM, sizeof(float));
	found = calloc(nnames, sizeof(bool));
	faces = calloc(nnames, sizeof(fi_face));
	for (int i = 0; i < nnames && (limit <= 0 || i < limit); i++)
	{
		fi_image	img;
		fi_face    *fs = NULL;
		int			nf = 0;
		fi_pipeline_opts o = *base;
		fi_error	err = {0};
		int64_t		r0,
					r1,
					e;

		if (t_load_image(names[i], &img) != 0)
			continue;
		o.embed = false;
		o.largest_only = true;
		fi_pipeline_counters(p, &r0, &e);
		if (fi_faces_detect(p, &img, &o, &fs, &nf, NULL, &err) != FI_OK)
			fprintf(stderr, "%s: %s\n", names[i], err.msg);
		fi_pipeline_counters(p, &r1, &e);
		skipped += nf > 0 && r1 - r0 == 1 && o.retry && o.detector == FI_DETECTOR_TINY;
		if (nf > 0)
		{
			by_pass[fs[0].attempt]++;
			faces[i] = fs[0];
			found[i] = true;
		}
		else
		{
			nofaces++;
			if (getenv("FACEID_EVAL_VERBOSE") != NULL)
				fprintf(stderr, "no face: %s\n", names[i]);
		}
		free(fs);
		fi_image_free(&img);
		if ((i + 1) % 1000 == 0)
			fprintf(stderr, "  %d/%d photos\n", i + 1, nnames);
	}
	*without_face = nofaces;
	printf("LFW View 1: %d photos (%d DevTrain pairs, %d DevTest pairs); detection + landmarks %.1f ms/photo\n",
		   nnames, np - ntest, ntest, (t_ms() - t0) / nnames);
	printf("  photos without a face: %d; face found by the photo pass %d, the frame pass %d; "
		   "only on a retry: %d (at 256 %d, at 192 %d, SSD %d)\n", nofaces,
		   by_pass[FI_PASS_PHOTO], by_pass[FI_PASS_FRAME],
		   nnames - nofaces - by_pass[FI_PASS_PHOTO] - by_pass[FI_PASS_FRAME],
		   by_pass[FI_PASS_RETRY_BORDER], by_pass[FI_PASS_RETRY_SMALL],
		   by_pass[FI_PASS_SSD_PHOTO] + by_pass[FI_PASS_SSD_BORDER]);
	printf("  the frame pass skipped (the photo pass's face outweighs it) on %d photos\n", skipped);
	fflush(stdout);
	if (tune)
	{
		/* similarity chip geometry: pick the best DevTrain accuracy, report its DevTest */
		static const double cys[] = {0.40, 0.43, 0.46};
		static const double ds[] = {0.40, 0.45, 0.50};
		fi_chip_geometry best = fi_chip_default;
		double		besttr = -1;
		bool	   *train = calloc(nnames, sizeof(bool));

		for (int i = 0; i < np; i++)
			if (!pr[i].test)
				train[pr[i].a] = train[pr[i].b] = true;
		/* DevTrain photos only: the DevTest figures printed here are meaningless */
		for (int a = 0; a < 3; a++)
			for (int b = 0; b < 3; b++)
			{
				fi_chip_geometry g = {0.5, cys[a], ds[b], fi_chip_default.ratio};
				char		label[64];

				snprintf(label, sizeof(label), "sim cy %.2f d %.2f r %.2f", g.cy, g.d, g.ratio);
				embed_all(p, faces, found, FI_ALIGN_SIMILARITY, &g, train, desc);
				report(label, pr, np, desc, found, &tr);
				fflush(stdout);
				if (tr > besttr)
				{
					besttr = tr;
					best = g;
				}
			}
		printf("  best on DevTrain: cy %.2f d %.2f ratio %.2f\n", best.cy, best.d, best.ratio);
		free(train);
	}
	t0 = t_ms();
	embed_all(p, faces, found, FI_ALIGN_SIMILARITY, NULL, NULL, desc);
	printf("  (similarity descriptors: %.1f ms/photo)\n", (t_ms() - t0) / (nnames - nofaces));
	result = report("similarity", pr, np, desc, found, &tr);
	embed_all(p, faces, found, FI_ALIGN_FACEAPI, NULL, NULL, desc);
	report("faceapi", pr, np, desc, found, &tr);
	free(desc);
	free(found);
	free(faces);
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
			snprintf(path, sizeof(path), "%s/%.255s", dir, files[i]);
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

/* Options, then negatives, dlib recall, LFW. */
int
main(int argc, char **argv)
{
	const char *shared = t_shared();
	const char *only = NULL;
	fi_model   *m = NULL;
	fi_pipeline *p = NULL;
	fi_error	err = {0};
	fi_pipeline_opts o;
	bool		assert_ = false,
				tune = false;
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
		else if (strcmp(argv[i], "--no-ssd-fallback") == 0)
			o.ssd_fallback = false;
		else if (strcmp(argv[i], "--ssd-fallback") == 0)
			o.ssd_fallback = true;
		else if (strcmp(argv[i], "--frame-always") == 0)
			o.frame_always = true;
		else if (strcmp(argv[i], "--no-flip") == 0)
			flip_average = false;
		else if (strcmp(argv[i], "--tune") == 0)
			tune = true;
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
	printf("config: detector %s, size %d, min_score %.2f, retry %s, ssd fallback %s, flip %s\n",
		   o.detector == FI_DETECTOR_SSD ? "ssd" : "tiny", o.detect_size, o.min_score,
		   o.retry ? "on" : "off", o.ssd_fallback ? "on" : "off", flip_average ? "on" : "off");
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
		int			without = 0;
		double		acc = eval_lfw(p, shared, &o, limit, tune, &without);

		if (assert_ && acc >= 0)
		{
			t_check(acc >= 98.2 - 1e-9, "LFW DevTest accuracy %.1f%% >= 98.2%% (DevTrain threshold)", acc);
			t_check(without <= 1, "LFW View 1 (DevTrain + DevTest) photos without a face: %d <= 1",
					without);
		}
	}
	fi_pipeline_free(p);
	fi_model_close(m);
	return t_done();
}
