/*
 * tool_scaled.c
 *	  What the scaled JPEG decode changes, photo by photo: each JPEG is run
 *	  through the pipeline decoded at full size (fi_faces_detect, the path
 *	  before the scaled decode) and at the scale fi_pipeline_decode_scale
 *	  picks (fi_faces_detect_photo), default options.  One line a photo:
 *	    path W H scale faces_full faces_scaled matched max_dist
 *	    primary_full primary_scaled primary_dist cpu_ms_full cpu_ms_scaled
 *	  faces are matched by IoU >= 0.5 (max_dist: the largest descriptor
 *	  distance over matched faces, -1 when none); primary_*: whether
 *	  face_embed finds a face, primary_dist the distance of the two main
 *	  faces' descriptors (-1 when either has none).  CPU times include the
 *	  decode.
 *	  Usage: tool_scaled.bin photo.jpg ...   (env FACEID_WEIGHTS)
 */
#include "face/pipeline.h"
#include "models/tinyface.h"
#include "testutil.h"
#include "toolutil.h"

#include <math.h>
#include <time.h>

/* The faces and main face of one photo decoded at 1/scale. */
static fi_status
run(fi_pipeline *p, const uint8_t *data, size_t len, int scale, fi_face **fs, int *n,
	bool *found, float *desc, double *ms, fi_error *err)
{
	fi_pipeline_opts o;
	fi_photo	ph;
	fi_status	s;
	double		t0 = t_cpu_ms();

	fi_pipeline_opts_default(&o);
	if ((s = fi_photo_decode(data, len, 100000000, scale, &ph, err)) != FI_OK)
		return s;
	s = fi_faces_detect_photo(p, &ph, &o, fs, n, NULL, err);
	fi_photo_free(&ph);
	*ms = t_cpu_ms() - t0;
	if (s != FI_OK)
		return s;
	if ((s = fi_photo_decode(data, len, 100000000, scale, &ph, err)) != FI_OK)
		return s;
	s = fi_face_embed_primary_photo(p, &ph, &o, desc, found, NULL, NULL, err);
	fi_photo_free(&ph);
	return s;
}

/* Compare the two decodes of one photo and print its line. */
static void
compare(fi_pipeline *p, const char *path)
{
	size_t		len;
	uint8_t    *data = tool_slurp(path, &len);
	fi_pipeline_opts o;
	fi_error	err = {0};
	fi_face    *fa = NULL,
			   *fb = NULL;
	int			na = 0,
				nb = 0,
				w = 0,
				h = 0,
				scale,
				matched = 0;
	bool		ga = false,
				gb = false;
	float		da[FI_REC_DIM],
				db[FI_REC_DIM];
	double		ta,
				tb,
				maxd = -1;

	fi_pipeline_opts_default(&o);
	if (fi_image_probe(data, len, NULL, &w, &h, &err) != FI_OK)
	{
		printf("%s ERROR %s\n", path, err.msg);
		free(data);
		return;
	}
	scale = fi_pipeline_decode_scale(&o, w, h);
	if (run(p, data, len, 1, &fa, &na, &ga, da, &ta, &err) != FI_OK ||
		run(p, data, len, scale, &fb, &nb, &gb, db, &tb, &err) != FI_OK)
	{
		printf("%s ERROR %s\n", path, err.msg);
		free(data);
		return;
	}
	for (int i = 0; i < na; i++)
	{
		fi_detection a = {fa[i].x, fa[i].y, fa[i].w, fa[i].h, fa[i].score};

		for (int j = 0; j < nb; j++)
		{
			fi_detection b = {fb[j].x, fb[j].y, fb[j].w, fb[j].h, fb[j].score};

			if (fi_iou(&a, &b) >= 0.5)
			{
				double		d = t_dist(fa[i].descriptor, fb[j].descriptor);

				matched++;
				maxd = d > maxd ? d : maxd;
				break;
			}
		}
	}
	printf("%s %d %d %d %d %d %d %.4f %d %d %.4f %.1f %.1f\n", path, w, h, scale, na, nb, matched,
		   maxd, ga, gb, ga && gb ? t_dist(da, db) : -1.0, ta, tb);
	fflush(stdout);
	free(fa);
	free(fb);
	free(data);
}

/* Open the model and compare every photo named. */
int
main(int argc, char **argv)
{
	fi_model   *m = NULL;
	fi_pipeline *p = NULL;
	fi_error	err = {0};

	if (fi_model_open(t_weights(), &m, &err) != FI_OK || fi_pipeline_new(m, &p, &err) != FI_OK)
	{
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	for (int i = 1; i < argc; i++)
		compare(p, argv[i]);
	fi_pipeline_free(p);
	fi_model_close(m);
	return 0;
}
