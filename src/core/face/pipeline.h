/*
 * pipeline.h
 *	  Photo -> faces: detection (tiny or SSD), landmark crop (spec 6.2),
 *	  68 landmarks (6.3), alignment, and the 128-d descriptor.
 *
 * Two alignments feed the recognition net:
 *   FI_ALIGN_FACEAPI     face-api's dlib-style box crop (spec 6.4) without
 *                        rotation: reproduces the golden descriptors;
 *   FI_ALIGN_SIMILARITY  a rotation-correcting similarity transform that maps
 *                        the eye centres and the mouth centre (least squares)
 *                        onto fixed positions of a 150x150 chip, sampled
 *                        bilinearly (black outside the photo).
 * Where faces are looked for (detect.c): the first look runs the detector on
 * the photo and, with the tiny detector and opts.retry, once more on a copy
 * with a black border of 1/4 of its long side at input 192 (the "frame
 * pass": faces that fill the frame, as LFW's); the two lists are merged.
 * When only the main face is wanted (largest_only: face_embed, the trigger)
 * and the photo pass found a face that outweighs any the frame pass could
 * add (detect.c, FRAME_SKIP_WEIGHT), the frame pass is skipped.  A
 * photo whose bordered copy would exceed 1024 px is first shrunk by an
 * integer factor (box average), so the copy stays small.  Only when both
 * find nothing: the bordered copy at input 256, then the photo at 192 (both at
 * min_score + 0.05: they run on every photo without a face), then, with
 * opts.ssd_fallback, the SSD.  Results are mapped back to the photo's
 * coordinates (boxes of a face found on the bordered copy may extend past the
 * photo; its crops are those of the copy, mapped back).
 */
#ifndef FI_PIPELINE_H
#define FI_PIPELINE_H

#include "image/fi_image.h"
#include "image/image.h"
#include "models/landmarks.h"
#include "nn/netops.h"
#include "models/recognition.h"

typedef enum fi_detector_kind
{
	FI_DETECTOR_TINY,
	FI_DETECTOR_SSD
} fi_detector_kind;

typedef enum fi_alignment
{
	FI_ALIGN_SIMILARITY,
	FI_ALIGN_FACEAPI
} fi_alignment;

typedef struct fi_pipeline_opts
{
	fi_detector_kind detector;	/* default tiny */
	int			detect_size;	/* tiny input 320/416/608 (default 416) */
	int			native_max;		/* tiny: a photo with long side <= native_max is fed at
								 * its own size rounded up to 32 (min 160) instead of
								 * detect_size (default 640; 0 = always detect_size,
								 * as face-api) */
	bool		tiny_square;	/* tiny: feed the whole padded square as face-api does
								 * (default false: only the lines holding the photo,
								 * 2/3 of the cost for a 3:2 photo) */
	double		min_score;		/* default 0.5 */
	fi_alignment alignment;		/* default similarity */
	bool		embed;			/* compute descriptors (default true) */
	bool		flip_average;	/* descriptor = mean of the chip's and its mirror's (2x
								 * encoder cost; default true: LFW DevTest 97.9% -> 98.2%) */
	bool		largest_only;	/* landmarks + descriptor only for the main face
								 * (fi_face_primary) */
	bool		faceapi_landmark_quirk; /* shift landmarks by the unfloored box origin (spec 6.3) */
	bool		tiny_landmarks; /* use the tiny 68-point net */
	bool		retry;			/* nothing found: retry with a border (default true) */
	bool		frame_always;	/* largest_only: run the frame pass even when the photo
								 * pass has a face it cannot outweigh (default false;
								 * true = the old two-pass first look, for tests) */
	bool		ssd_fallback;	/* the tiny detector found nothing even on the retries:
								 * try the SSD (photo, then bordered copy) at score >=
								 * 0.7 (default false: with the frame pass it rescues
								 * no LFW photo, and costs ~0.3 s on every photo
								 * without a face) */
	int			max_faces;		/* 0 = no limit */
} fi_pipeline_opts;

/* The detector passes, in the order they run (fi_face.attempt). */
typedef enum fi_pass
{
	FI_PASS_PHOTO,				/* first look: the photo */
	FI_PASS_FRAME,				/* first look: the bordered copy at input 192 */
	FI_PASS_RETRY_BORDER,		/* retry: the bordered copy at input 256 */
	FI_PASS_RETRY_SMALL,		/* retry: the photo at input 192 */
	FI_PASS_SSD_PHOTO,			/* SSD fallback on the photo */
	FI_PASS_SSD_BORDER			/* SSD fallback on the bordered copy */
} fi_pass;

/* One face, in image pixels. */
typedef struct fi_face
{
	double		score;
	int			attempt;		/* the pass that found it: fi_pass */
	double		x,
				y,
				w,
				h;				/* detector box, not clipped */
	double		landmarks[FI_LM_POINTS][2];
	bool		has_landmarks;
	bool		landmarks_faceapi;	/* landmarks carry face-api's shift (quirk) */
	fi_rect		landmark_crop;	/* spec 6.2 */
	fi_rect		descriptor_crop;	/* spec 6.4 (faceapi alignment only) */
	bool		has_descriptor;
	float		descriptor[FI_REC_DIM];
} fi_face;

/* What a backend keeps between calls: the model, scratch buffers, the folded SSD. */
typedef struct fi_pipeline fi_pipeline;

/* The defaults listed in fi_pipeline_opts. */
void		fi_pipeline_opts_default(fi_pipeline_opts *o);

/* A context on an open model (which must outlive it). */
fi_status	fi_pipeline_new(const fi_model *m, fi_pipeline **out, fi_error *err);

/* Free a context (NULL is fine). */
void		fi_pipeline_free(fi_pipeline *p);

/*
 * Every face of img, highest score first: box, score, landmarks and (when
 * opts->embed) the descriptor.  *faces is malloc'd (free with free();
 * NULL when *nfaces == 0).
 */
fi_status	fi_faces_detect(fi_pipeline *p, const fi_image *img, const fi_pipeline_opts *opts,
							fi_face **faces, int *nfaces, const fi_cancel *c, fi_error *err);

/*
 * The factor (1, 2, 4 or 8) by which a width x height JPEG may be decoded
 * for fi_faces_detect_photo with these options: the largest that leaves the
 * detector's photo-pass input no larger than the decoded photo (1 for a
 * photo the tiny detector reads at its own size, and for the faceapi
 * alignment, whose crop depends on the photo's edges).
 */
int			fi_pipeline_decode_scale(const fi_pipeline_opts *opts, int width, int height);

/*
 * fi_faces_detect on a photo decoded at 1/ph->scale (fi_photo_decode).  The
 * detector passes run on the decoded pixels as they would on the full-size
 * photo (the photo pass at the input the full size asks for); the landmarks
 * and chips of the faces found on the photo pass are computed on the
 * full-size pixels of the faces' region (fi_photo_region), so they are the
 * full decode's for the same box.  Boxes and landmarks are in the photo's
 * full-size coordinates.  A photo with no face decodes nothing more.
 */
fi_status	fi_faces_detect_photo(fi_pipeline *p, const fi_photo *ph, const fi_pipeline_opts *opts,
								  fi_face **faces, int *nfaces, const fi_cancel *c, fi_error *err);

/* fi_face_embed_primary on a photo decoded at 1/ph->scale. */
fi_status	fi_face_embed_primary_photo(fi_pipeline *p, const fi_photo *ph,
										const fi_pipeline_opts *opts, float out[FI_REC_DIM],
										bool *found, fi_face *face, const fi_cancel *c,
										fi_error *err);

/*
 * The descriptor of the photo's main face (fi_face_primary): *found = false
 * when the photo has no face (not an error).  face (may be NULL) receives
 * the face.
 */
fi_status	fi_face_embed_primary(fi_pipeline *p, const fi_image *img,
								  const fi_pipeline_opts *opts, float out[FI_REC_DIM],
								  bool *found, fi_face *face, const fi_cancel *c, fi_error *err);

/*
 * Which of n faces (photo coordinates, n >= 1) of a W x H photo is its main
 * face, the one face_embed encodes (choose.c).
 */
int			fi_face_primary(const fi_face *faces, int n, int W, int H);

/* What fi_face_primary maximises: the box side times (1 - distance from the centre). */
double		fi_face_weight(const fi_face *f, int W, int H);

/* The steps, for tests and tools. */

/* The tiny detector's input for a width x height photo (detect_size, or its own size). */
int			fi_pipeline_tiny_size(const fi_pipeline_opts *opts, int width, int height);

/* Raw detections of the configured detector (no retry). */
fi_status	fi_pipeline_detections(fi_pipeline *p, const fi_image *img,
								   const fi_pipeline_opts *opts, fi_detection **dets,
								   int *n, const fi_cancel *c, fi_error *err);

/* spec 6.2 clip_floor of a box against a W x H image (width/height may be <= 0). */
fi_rect		fi_clip_floor(double x, double y, double w, double h, int W, int H);

/* Landmarks of face f (box set) on crop f->landmark_crop. */
fi_status	fi_face_landmarks(fi_pipeline *p, const fi_image *img, const fi_pipeline_opts *opts,
							  fi_face *f, const fi_cancel *c, fi_error *err);

/*
 * spec 6.4 descriptor rect (before clip_floor) from f's landmarks, taken in
 * face-api's convention (box-origin shift) whatever f->landmarks_faceapi says,
 * so the faceapi alignment always reproduces face-api's crop.
 */
void		fi_faceapi_descriptor_rect(const fi_face *f, double *x, double *y, double *w,
									   double *h);

/* Descriptor of face f (landmarks set) with opts->alignment and opts->flip_average. */
fi_status	fi_face_descriptor(fi_pipeline *p, const fi_image *img, const fi_pipeline_opts *opts,
							   fi_face *f, const fi_cancel *c, fi_error *err);

/*
 * The same for n faces, face i on imgs[i], their chips batched through the
 * encoder (FI_REC_MAX_BATCH at a time); each descriptor is bit for bit the
 * one fi_face_descriptor gives.
 */
fi_status	fi_face_descriptors(fi_pipeline *p, const fi_image *const *imgs,
								const fi_pipeline_opts *opts, fi_face *f, int n,
								const fi_cancel *c, fi_error *err);

/*
 * Geometry of the similarity chip, as fractions of its side: the centroid of
 * (left eye, right eye, mouth) at (cx, cy), mean eye-to-mouth distance d,
 * eye distance / eye-to-mouth height = ratio.
 */
typedef struct fi_chip_geometry
{
	double		cx,
				cy,
				d,
				ratio;
} fi_chip_geometry;

/* The geometry the pipeline uses (calibrated on LFW DevTrain, see pipeline.c). */
extern const fi_chip_geometry fi_chip_default;

/*
 * The similarity chip: 150x150x3 normalised recognition input from
 * landmarks (image pixels); geom NULL = fi_chip_default.
 */
void		fi_similarity_chip(const fi_image *img, const double landmarks[FI_LM_POINTS][2],
							   const fi_chip_geometry *geom, float *out);

/*
 * The pixels fi_similarity_chip reads for these landmarks (geom NULL =
 * fi_chip_default): columns x0..x1 and rows y0..y1, inclusive, with slack.
 */
void		fi_similarity_chip_extent(const double landmarks[FI_LM_POINTS][2],
									  const fi_chip_geometry *geom, int *x0, int *y0, int *x1,
									  int *y1);

/* Detector and recognition-net runs of this context since it was created. */
void		fi_pipeline_counters(const fi_pipeline *p, int64_t *detector_runs,
								 int64_t *encoder_runs);

/* The underlying model / workspace of a context. */
const fi_model *fi_pipeline_model(const fi_pipeline *p);
fi_workspace *fi_pipeline_workspace(fi_pipeline *p);

#endif							/* FI_PIPELINE_H */
