/*
 * landmarks68.c
 *	  Encoder study helper: for each photo path on stdin, face_embed's main
 *	  face (fi_face_embed_primary, default options) as one line:
 *	    PATH 1 X Y W H  x0 y0 ... x67 y67  d0 ... d127
 *	  (detector box, the 68 landmarks in photo pixels, faceid's 128-d
 *	  descriptor), or "PATH 0" when the photo has no face.  The study
 *	  (run_study.sh) aligns chips for the candidate encoders from the
 *	  landmarks and scores faceid's own descriptor beside them.
 */
#include "face/pipeline.h"
#include "testutil.h"

/* Photos on stdin, one line per photo on stdout. */
int
main(int argc, char **argv)
{
	fi_model   *m = NULL;
	fi_pipeline *p = NULL;
	fi_error	err = {0};
	fi_pipeline_opts o;
	char		line[1200];
	int			n = 0;

	if (fi_model_open(t_weights(), &m, &err) != FI_OK || fi_pipeline_new(m, &p, &err) != FI_OK)
	{
		fprintf(stderr, "FAIL: %s\n", err.msg);
		return 1;
	}
	fi_pipeline_opts_default(&o);
	while (fgets(line, sizeof(line), stdin) != NULL)
	{
		fi_image	img;
		fi_face		f;
		float		d[FI_REC_DIM];
		bool		found = false;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (t_load_image(line, &img) == 0)
		{
			if (fi_face_embed_primary(p, &img, &o, d, &found, &f, NULL, &err) != FI_OK)
				found = false;
			fi_image_free(&img);
		}
		printf("%s %d", line, found ? 1 : 0);
		if (found)
		{
			printf(" %.2f %.2f %.2f %.2f", f.x, f.y, f.w, f.h);
			for (int k = 0; k < FI_LM_POINTS; k++)
				printf(" %.3f %.3f", f.landmarks[k][0], f.landmarks[k][1]);
			for (int k = 0; k < FI_REC_DIM; k++)
				printf(" %.6g", d[k]);
		}
		putchar('\n');
		if (++n % 500 == 0)
			fprintf(stderr, "  %d photos\n", n);
	}
	fi_pipeline_free(p);
	fi_model_close(m);
	return 0;
}
