/*
 * bench_photos.c
 *	  The photo pipeline per stage and per photo set, single thread, CPU time
 *	  of the thread (the machine is shared: waiting for a core is not
 *	  counted).  One round prints one line per figure, "name<TAB>ms", each
 *	  the median over the photos of the set:
 *	  - stages on 100 LFW photos (250x250): JPEG decode, the detector's photo
 *	    pass, the landmark net, the similarity chip, one encoder pass;
 *	  - face_embed on the 100 LFW photos (decoded pixels given);
 *	  - face_embed_all on the six sample photos (build/faceid_sample*.jpg);
 *	  - face_embed on the 44 photos of negatives_nonface/plain (no face);
 *	  - "from bytes": the same sets decoded in the timing, as the SQL
 *	    functions do (a tree with fi_photo decodes large JPEGs scaled and the
 *	    faces' regions at full size; an older tree decodes at full size);
 *	  - with FACEID_BENCH_PHONE="faces.jpg:noface.jpg" (phone-size photos
 *	    bench_compare.sh generates), decode, face_embed and face_embed_all
 *	    on them, from bytes.
 *	  Usage: bench_photos [rounds]   (env FACEID_SHARED, FACEID_WEIGHTS)
 *	  bench_compare.sh runs it from two source trees, round by round.
 */
#include "face/pipeline.h"
#include "models/landmarks.h"
#include "models/recognition.h"
#include "testutil.h"

#include <dirent.h>
#include <time.h>

#define MAX_PHOTOS 100

/* One photo set: the JPEG bytes and the decoded pixels. */
typedef struct photos
{
	int			n;
	unsigned char *jpeg[MAX_PHOTOS];
	size_t		len[MAX_PHOTOS];
	fi_image	img[MAX_PHOTOS];
} photos;

/* Add a photo to a set. */
static void
add_photo(photos *ps, const char *path)
{
	fi_error	err = {0};

	if (ps->n == MAX_PHOTOS || (ps->jpeg[ps->n] = t_read(path, &ps->len[ps->n])) == NULL)
		return;
	if (fi_image_decode(ps->jpeg[ps->n], ps->len[ps->n], 50000000, &ps->img[ps->n], &err) != FI_OK)
	{
		free(ps->jpeg[ps->n]);
		return;
	}
	ps->n++;
}

/* Name order, for a stable set. */
static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The first n photos (name order) of LFW View 1, one per person folder. */
static void
load_lfw(photos *ps, const char *shared, int n)
{
	char		dir[1024],
				path[2048];
	char	   *names[8192];
	int			nn = 0;
	DIR		   *d;
	struct dirent *e;

	snprintf(dir, sizeof(dir), "%s/faces/lfw-view1", shared);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL && nn < 8192)
		if (e->d_name[0] != '.')
			names[nn++] = strdup(e->d_name);
	closedir(d);
	qsort(names, nn, sizeof(char *), name_cmp);
	for (int i = 0; i < nn; i++)
	{
		if (ps->n < n)
		{
			snprintf(path, sizeof(path), "%s/%s/%s_0001.jpg", dir, names[i], names[i]);
			add_photo(ps, path);
		}
		free(names[i]);
	}
}

/* Every .jpg/.png of a folder (name order). */
static void
load_dir(photos *ps, const char *dir)
{
	char	   *names[MAX_PHOTOS];
	char		path[2048];
	int			nn = 0;
	DIR		   *d;
	struct dirent *e;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL && nn < MAX_PHOTOS)
		if (strstr(e->d_name, ".jpg") || strstr(e->d_name, ".png"))
			names[nn++] = strdup(e->d_name);
	closedir(d);
	qsort(names, nn, sizeof(char *), name_cmp);
	for (int i = 0; i < nn; i++)
	{
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		add_photo(ps, path);
		free(names[i]);
	}
}

#ifdef FI_IMAGE_HAS_PHOTO
/* Decode as the SQL functions do: at the scale the pipeline allows. */
static fi_status
photo_of(const unsigned char *data, size_t len, const fi_pipeline_opts *o, fi_photo *ph,
		 fi_error *err)
{
	int			w = 0,
				h = 0,
				scale = 1;

	if (fi_image_probe(data, len, NULL, &w, &h, NULL) == FI_OK)
		scale = fi_pipeline_decode_scale(o, w, h);
	return fi_photo_decode(data, len, 50000000, scale, ph, err);
}
#endif

/* The decode step of the SQL functions alone, from bytes. */
static void
bytes_decode(const unsigned char *data, size_t len, const fi_pipeline_opts *o)
{
	fi_error	err = {0};
#ifdef FI_IMAGE_HAS_PHOTO
	fi_photo	ph;

	if (photo_of(data, len, o, &ph, &err) == FI_OK)
		fi_photo_free(&ph);
#else
	fi_image	im;

	if (fi_image_decode(data, len, 50000000, &im, &err) == FI_OK)
		fi_image_free(&im);
#endif
}

/* face_embed_all (all) or face_embed from bytes, as the SQL functions run them; the face count. */
static int
bytes_faces(fi_pipeline *p, const unsigned char *data, size_t len, const fi_pipeline_opts *o,
			bool all)
{
	fi_error	err = {0};
	fi_face    *fs = NULL;
	int			n = 0;
	bool		found = false;
	float		desc[FI_REC_DIM];
#ifdef FI_IMAGE_HAS_PHOTO
	fi_photo	ph;

	if (photo_of(data, len, o, &ph, &err) != FI_OK)
		return -1;
	if (all)
		fi_faces_detect_photo(p, &ph, o, &fs, &n, NULL, &err);
	else
		fi_face_embed_primary_photo(p, &ph, o, desc, &found, NULL, NULL, &err);
	fi_photo_free(&ph);
#else
	fi_image	im;

	if (fi_image_decode(data, len, 50000000, &im, &err) != FI_OK)
		return -1;
	if (all)
		fi_faces_detect(p, &im, o, &fs, &n, NULL, &err);
	else
		fi_face_embed_primary(p, &im, o, desc, &found, NULL, NULL, &err);
	fi_image_free(&im);
#endif
	free(fs);
	return all ? n : found;
}

/* Print the median of t[0..n-1] (sorts t). */
static void
report(const char *name, double *t, int n)
{
	printf("%s\t%.3f\n", name, n > 0 ? t_median(t, n) : -1.0);
}

/* CPU ms of f(i) for each photo of a set, into t. */
#define TIME_SET(t, set, expr) \
	for (int i_ = 0; i_ < (set)->n; i_++) { double t0_ = t_cpu_ms(); int i = i_; (void) i; expr; (t)[i_] = t_cpu_ms() - t0_; }

/* The rows from bytes: the sets decoded in the timing, and the phone-size photos. */
static void
round_bytes(fi_pipeline *p, photos *samples, photos *neg, photos *phone)
{
	fi_pipeline_opts o;
	static double t[MAX_PHOTOS];
	const char *what[2] = {"phone 4000x3000, 3 faces", "phone 4000x3000, no face"};

	fi_pipeline_opts_default(&o);
	TIME_SET(t, samples, bytes_faces(p, samples->jpeg[i], samples->len[i], &o, true));
	printf("sample1 from bytes: decode + face_embed_all\t%.3f\n", t[0]);
	report("samples from bytes: decode + face_embed_all", t, samples->n);
	TIME_SET(t, neg, bytes_faces(p, neg->jpeg[i], neg->len[i], &o, false));
	report("negatives from bytes: decode + face_embed", t, neg->n);
	for (int i = 0; i < phone->n; i++)
	{
		double		t0 = t_cpu_ms();

		bytes_decode(phone->jpeg[i], phone->len[i], &o);
		printf("%s: decode\t%.3f\n", what[i], t_cpu_ms() - t0);
		t0 = t_cpu_ms();
		bytes_faces(p, phone->jpeg[i], phone->len[i], &o, false);
		printf("%s: decode + face_embed\t%.3f\n", what[i], t_cpu_ms() - t0);
		t0 = t_cpu_ms();
		bytes_faces(p, phone->jpeg[i], phone->len[i], &o, true);
		printf("%s: decode + face_embed_all\t%.3f\n", what[i], t_cpu_ms() - t0);
	}
	fflush(stdout);
}

/* One round of every figure. */
static void
round_once(fi_pipeline *p, photos *lfw, photos *samples, photos *neg)
{
	const fi_model *m = fi_pipeline_model(p);
	fi_workspace *ws = fi_pipeline_workspace(p);
	fi_pipeline_opts o;
	fi_error	err = {0};
	static double t[6][MAX_PHOTOS];
	static float chip[FI_REC_SIZE * FI_REC_SIZE * 3];
	int			k = 0;

	fi_pipeline_opts_default(&o);
	for (int i = 0; i < lfw->n; i++)
	{
		const fi_image *img = &lfw->img[i];
		fi_image	im;
		fi_detection *d = NULL;
		int			nd = 0;
		fi_face		f;
		bool		found;
		float		desc[FI_REC_DIM];
		double		pts[2 * FI_LM_POINTS],
					t0;

		t0 = t_cpu_ms();
		if (fi_image_decode(lfw->jpeg[i], lfw->len[i], 50000000, &im, &err) == FI_OK)
			fi_image_free(&im);
		t[0][i] = t_cpu_ms() - t0;
		t0 = t_cpu_ms();
		fi_pipeline_detections(p, img, &o, &d, &nd, NULL, &err);
		t[1][i] = t_cpu_ms() - t0;
		free(d);
		t0 = t_cpu_ms();
		fi_face_embed_primary(p, img, &o, desc, &found, &f, NULL, &err);
		t[5][i] = t_cpu_ms() - t0;
		if (!found)
			continue;
		t0 = t_cpu_ms();
		fi_landmarks_detect(m, ws, o.tiny_landmarks, img, &f.landmark_crop, pts, NULL, &err);
		t[2][k] = t_cpu_ms() - t0;
		t0 = t_cpu_ms();
		fi_similarity_chip(img, f.landmarks, NULL, chip);
		t[3][k] = t_cpu_ms() - t0;
		t0 = t_cpu_ms();
		fi_recognition_forward(m, ws, chip, desc, NULL, NULL, NULL, &err);
		t[4][k] = t_cpu_ms() - t0;
		k++;
	}
	report("lfw: decode (JPEG 250x250)", t[0], lfw->n);
	report("lfw: detector, photo pass", t[1], lfw->n);
	report("lfw: landmark net", t[2], k);
	report("lfw: similarity chip", t[3], k);
	report("lfw: encoder, one pass", t[4], k);
	report("lfw: face_embed (100 photos)", t[5], lfw->n);
	for (int i = 0; i < samples->n; i++)
	{
		fi_face    *fs = NULL;
		int			nf = 0;
		double		t0 = t_cpu_ms();

		fi_faces_detect(p, &samples->img[i], &o, &fs, &nf, NULL, &err);
		t[0][i] = t_cpu_ms() - t0;
		free(fs);
		if (i == 0)
			printf("sample1: face_embed_all (1920x1280, %d faces)\t%.3f\n", nf, t[0][0]);
	}
	report("samples: face_embed_all (6 photos)", t[0], samples->n);
	for (int i = 0; i < neg->n; i++)
	{
		bool		found;
		float		desc[FI_REC_DIM];
		double		t0 = t_cpu_ms();

		fi_face_embed_primary(p, &neg->img[i], &o, desc, &found, NULL, NULL, &err);
		t[0][i] = t_cpu_ms() - t0;
	}
	report("negatives: face_embed (44 photos, no face)", t[0], neg->n);
	fflush(stdout);
}

/* Load the sets, warm up, run the rounds. */
int
main(int argc, char **argv)
{
	int			rounds = argc > 1 ? atoi(argv[1]) : 1;
	const char *shared = t_shared();
	static photos lfw,
				samples,
				neg,
				phone;
	const char *phone_env = getenv("FACEID_BENCH_PHONE");
	fi_model   *m = NULL;
	fi_pipeline *p = NULL;
	fi_error	err = {0};
	char		path[1024];

	if (shared == NULL)
	{
		printf("SKIP: ../shared (or FACEID_SHARED) absent\n");
		return 0;
	}
	if (fi_model_open(t_weights(), &m, &err) != FI_OK || fi_pipeline_new(m, &p, &err) != FI_OK)
	{
		printf("FAIL: %s\n", err.msg);
		return 1;
	}
	load_lfw(&lfw, shared, 100);
	for (int i = 1; i <= 6; i++)
	{
		const char *w = t_weights();
		const char *slash = strrchr(w, '/');

		snprintf(path, sizeof(path), "%.*s/faceid_sample%d.jpg",
				 slash != NULL ? (int) (slash - w) : 1, slash != NULL ? w : ".", i);
		add_photo(&samples, path);
	}
	snprintf(path, sizeof(path), "%s/faces/negatives_nonface/plain", shared);
	load_dir(&neg, path);
	if (phone_env != NULL && strchr(phone_env, ':') != NULL)
	{
		const char *colon = strchr(phone_env, ':');

		snprintf(path, sizeof(path), "%.*s", (int) (colon - phone_env), phone_env);
		add_photo(&phone, path);
		add_photo(&phone, colon + 1);
	}
	printf("# %d LFW photos, %d samples, %d negatives, %d phone-size photos\n", lfw.n, samples.n,
		   neg.n, phone.n);
	if (lfw.n == 0 || samples.n == 0 || neg.n == 0)
	{
		printf("FAIL: photo sets missing\n");
		return 1;
	}
	{
		bool		found;
		float		desc[FI_REC_DIM];
		fi_pipeline_opts o;

		fi_pipeline_opts_default(&o);
		fi_face_embed_primary(p, &lfw.img[0], &o, desc, &found, NULL, NULL, &err);	/* warm-up */
	}
	for (int r = 0; r < rounds; r++)
	{
		round_once(p, &lfw, &samples, &neg);
		round_bytes(p, &samples, &neg, &phone);
	}
	fi_pipeline_free(p);
	fi_model_close(m);
	return 0;
}
