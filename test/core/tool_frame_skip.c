/*
 * tool_frame_skip.c
 *	  Study of face_embed's frame-pass skip (detect.c, FRAME_SKIP_WEIGHT):
 *	  each photo whose path is read from stdin is encoded twice, with the
 *	  frame pass always run (opts.frame_always) and with the skip, and the
 *	  tool counts the photos where the skip fired (one detector run fewer),
 *	  where the answer "has a face" differs, and where the descriptor differs
 *	  (and the largest Euclidean distance), naming each photo that differs.
 *	    find ../shared/faces/lfw-view1 -name '*.jpg' | ./tool_frame_skip.bin
 *	  (from test/core, make tools).  Exit status 1 when any photo differs.
 */
#include "face/pipeline.h"
#include "testutil.h"

/* face_embed of img with and without the skip; the detector runs of each. */
static fi_status
embed_both(fi_pipeline *p, const fi_image *img, float d[2][FI_REC_DIM], bool found[2],
		   int runs[2], fi_error *err)
{
	for (int k = 0; k < 2; k++)
	{
		fi_pipeline_opts o;
		int64_t		r0,
					r1,
					e;
		fi_status	s;

		fi_pipeline_opts_default(&o);
		o.frame_always = k == 0;
		fi_pipeline_counters(p, &r0, &e);
		if ((s = fi_face_embed_primary(p, img, &o, d[k], &found[k], NULL, NULL, err)) != FI_OK)
			return s;
		fi_pipeline_counters(p, &r1, &e);
		runs[k] = (int) (r1 - r0);
	}
	return FI_OK;
}

/* Read paths, compare, print the summary. */
int
main(void)
{
	fi_model   *m = t_open_model();
	fi_pipeline *p = NULL;
	fi_error	err = {0};
	char		line[4096];
	int			n = 0,
				fired = 0,
				found_differ = 0,
				desc_differ = 0;
	double		worst = 0;

	if (m == NULL || fi_pipeline_new(m, &p, &err) != FI_OK)
	{
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	while (fgets(line, sizeof(line), stdin) != NULL)
	{
		fi_image	img;
		float		d[2][FI_REC_DIM];
		bool		found[2];
		int			runs[2];

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || t_load_image(line, &img) != 0)
			continue;
		if (embed_both(p, &img, d, found, runs, &err) != FI_OK)
		{
			fprintf(stderr, "%s: %s\n", line, err.msg);
			fi_image_free(&img);
			return 1;
		}
		n++;
		fired += runs[1] < runs[0];
		if (found[0] != found[1])
		{
			found_differ++;
			printf("face found differs: %s\n", line);
		}
		else if (found[0] && memcmp(d[0], d[1], sizeof(d[0])) != 0)
		{
			double		dist = t_dist(d[0], d[1]);

			desc_differ++;
			worst = fmax(worst, dist);
			printf("descriptor differs by %.6f: %s\n", dist, line);
		}
		fi_image_free(&img);
	}
	printf("%d photos: the skip fired on %d; face found differs on %d, descriptor on %d "
		   "(largest distance %.6f)\n", n, fired, found_differ, desc_differ, worst);
	fi_pipeline_free(p);
	fi_model_close(m);
	return found_differ + desc_differ > 0;
}
