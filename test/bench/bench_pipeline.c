/*
 * bench_pipeline.c
 *	  Per-net and per-photo timings of the core, medians of repeated runs on
 *	  one thread: each detector (incl. resize and decoding), both landmark
 *	  nets, the recognition net, face_embed on a 250x250 LFW photo and all
 *	  faces of sample1.jpg (1920x1280) with the default options.
 *	  Usage: bench_pipeline [runs]   (env FACEID_SHARED, FACEID_WEIGHTS)
 */
#include "models/landmarks.h"
#include "face/pipeline.h"
#include "models/ssd.h"
#include "testutil.h"
#include "models/tinyface.h"

#include <math.h>

#define TIME(label, runs, stmt) \
	do { \
		double ts_[1000]; \
		int n_ = (runs) > 1000 ? 1000 : (runs); \
		stmt;				/* warm-up */ \
		for (int r_ = 0; r_ < n_; r_++) \
		{ \
			double t0_ = t_ms(); \
			stmt; \
			ts_[r_] = t_ms() - t0_; \
		} \
		double med_ = t_median(ts_, n_);	/* sorts ts_ */ \
		printf("%-52s %8.2f ms median, %8.2f min (%d runs)\n", label, med_, ts_[0], n_); \
	} while (0)

/* Every timing in turn. */
int
main(int argc, char **argv)
{
	int			runs = argc > 1 ? atoi(argv[1]) : 15;
	const char *shared = t_shared();
	fi_model   *m = NULL;
	fi_pipeline *p = NULL;
	fi_error	err = {0};
	fi_image	img,
				lfw;
	char		path[1024];
	fi_detection *d = NULL;
	int			nd = 0;
	fi_pipeline_opts o;
	fi_ssd	   *ssd = NULL;
	const fi_blas *bl;
	unsigned char *jpeg;
	size_t		jlen;

	if (shared == NULL)
	{
		printf("SKIP: ../shared (or FACEID_SHARED) absent\n");
		return 0;
	}
	if (fi_model_open(t_weights(), &m, &err) != FI_OK || fi_pipeline_new(m, &p, &err) != FI_OK ||
		fi_ssd_load(m, &ssd, &err) != FI_OK || fi_blas_load(&bl, &err) != FI_OK)
	{
		printf("FAIL: %s\n", err.msg);
		return 1;
	}
	printf("OpenBLAS %s, kernels %s\n", bl->path, bl->corename);
	snprintf(path, sizeof(path), "%s/golden/images/sample1.jpg", shared);
	if (t_load_image(path, &img) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/faces/lfw-view1/Aaron_Peirsol/Aaron_Peirsol_0001.jpg", shared);
	if (t_load_image(path, &lfw) != 0)
		return 1;
	fi_workspace *ws = fi_pipeline_workspace(p);

	for (int size = 320; size <= 608; size += size == 320 ? 96 : 192)
	{
		char		label[80];

		snprintf(label, sizeof(label), "tiny detector %d (sample1, resize+net+NMS)", size);
		TIME(label, runs, (fi_tinyface_detect(m, ws, &img, size, 0.5, &d, &nd, NULL, &err), free(d)));
	}
	TIME("SSD MobileNet v1 512 (sample1, resize+net+NMS)", runs,
		 (fi_ssd_detect(ssd, ws, &img, 0.5, 100, &d, &nd, NULL, &err), free(d)));
	{
		fi_rect		crop = {414, 354, 177, 239};
		double		pts[136];
		float		desc[128];

		TIME("landmark68 (crop 177x239 -> 112)", runs * 4,
			 fi_landmarks_detect(m, ws, false, &img, &crop, pts, NULL, &err));
		TIME("landmark68 tiny (crop 177x239 -> 112)", runs * 4,
			 fi_landmarks_detect(m, ws, true, &img, &crop, pts, NULL, &err));
		TIME("recognition (crop 212x212 -> 150)", runs * 4,
			 fi_recognition_embed(m, ws, &img, &(fi_rect) {369, 395, 212, 212}, desc, NULL, &err));
	}
	fi_pipeline_opts_default(&o);
	{
		float		desc[128];
		bool		found;

		snprintf(path, sizeof(path), "%s/faces/lfw-view1/Aaron_Peirsol/Aaron_Peirsol_0001.jpg", shared);
		jpeg = t_read(path, &jlen);
		TIME("face_embed, 250x250 LFW photo (defaults; pixels given)", runs * 2,
			 fi_face_embed_primary(p, &lfw, &o, desc, &found, NULL, NULL, &err));
		TIME("face_embed, 250x250 LFW photo (incl. JPEG decode)", runs * 2,
			 ({ fi_image im; fi_image_decode(jpeg, jlen, 50000000, &im, &err);
				fi_face_embed_primary(p, &im, &o, desc, &found, NULL, NULL, &err); fi_image_free(&im); }));
		o.flip_average = false;
		TIME("face_embed, 250x250 LFW photo, flip_average off", runs * 2,
			 fi_face_embed_primary(p, &lfw, &o, desc, &found, NULL, NULL, &err));
		o.alignment = FI_ALIGN_FACEAPI;
		TIME("face_embed, 250x250 LFW photo, faceapi, flip off", runs * 2,
			 fi_face_embed_primary(p, &lfw, &o, desc, &found, NULL, NULL, &err));
		o.flip_average = true;
		o.alignment = FI_ALIGN_SIMILARITY;
		free(jpeg);
	}
	{
		fi_image	neg;
		float		desc[128];
		bool		found;

		snprintf(path, sizeof(path), "%s/faces/negatives_nonface/plain/skimage_rocket.jpg", shared);
		if (t_load_image(path, &neg) == 0)
		{
			char		label[96];

			snprintf(label, sizeof(label), "face_embed, %dx%d photo without a face (retries)", neg.width, neg.height);
			TIME(label, runs, fi_face_embed_primary(p, &neg, &o, desc, &found, NULL, NULL, &err));
			o.ssd_fallback = !o.ssd_fallback;
			snprintf(label, sizeof(label), "  the same with ssd_fallback %s", o.ssd_fallback ? "on" : "off");
			TIME(label, runs, fi_face_embed_primary(p, &neg, &o, desc, &found, NULL, NULL, &err));
			o.ssd_fallback = !o.ssd_fallback;
			fi_image_free(&neg);
		}
	}
	{
		fi_face    *fs = NULL;
		int			nf = 0;

		snprintf(path, sizeof(path), "%s/golden/images/sample1.jpg", shared);
		jpeg = t_read(path, &jlen);
		TIME("all faces of sample1 1920x1280 (pixels given)", runs,
			 (fi_faces_detect(p, &img, &o, &fs, &nf, NULL, &err), free(fs)));
		TIME("all faces of sample1 1920x1280 (defaults, incl. JPEG decode)", runs,
			 ({ fi_image im; fi_image_decode(jpeg, jlen, 50000000, &im, &err);
				fi_faces_detect(p, &im, &o, &fs, &nf, NULL, &err); free(fs); fi_image_free(&im); }));
		fi_faces_detect(p, &img, &o, &fs, &nf, NULL, &err);
		printf("(sample1: %d faces with the default options)\n", nf);
		free(fs);
		o.flip_average = false;
		TIME("all faces of sample1, flip_average off", runs,
			 (fi_faces_detect(p, &img, &o, &fs, &nf, NULL, &err), free(fs)));
		o.flip_average = true;
		o.detector = FI_DETECTOR_SSD;
		TIME("all faces of sample1, SSD (pixels given)", runs,
			 (fi_faces_detect(p, &img, &o, &fs, &nf, NULL, &err), free(fs)));
		free(jpeg);
	}
	fi_image_free(&img);
	fi_image_free(&lfw);
	fi_ssd_free(ssd);
	fi_pipeline_free(p);
	fi_model_close(m);
	return 0;
}
