/*
 * engine.h
 *	  Per-backend state of the inference engine and the glue between core
 *	  status codes and ereport: the model (mapped lazily), the workspace, the
 *	  cancel callback and the counters of faceid_stats().
 */
#ifndef FACEID_ENGINE_H
#define FACEID_ENGINE_H

#include "postgres.h"

#include "core/fi_core.h"
#include "core/image/fi_image.h"
#include "core/nn/model.h"
#include "core/face/pipeline.h"
#include "core/nn/tensor.h"

/* GUCs. */
extern char *faceid_model_path;
extern int	faceid_max_image_pixels;
extern int	faceid_detector;
extern int	faceid_alignment;
extern int	faceid_detect_size;
extern double faceid_min_score;

/* Counters reported by faceid_stats(). */
typedef struct FaceidStats
{
	int64		images_decoded;
	int64		detector_runs;
	int64		encoder_runs;
	double		ms_total;
} FaceidStats;

extern FaceidStats faceid_stats_counters;

/* Define the engine's GUCs (called from _PG_init). */
extern void faceid_engine_init(void);

/* The model, mapped on first use; ERROR naming the path when unusable. */
extern const fi_model *faceid_get_model(void);

/* The backend's workspace (scratch buffers reused across calls). */
extern fi_workspace *faceid_get_workspace(void);

/* The backend's pipeline on the current model. */
extern fi_pipeline *faceid_get_pipeline(void);

/* Pipeline options from the GUCs. */
extern void faceid_pipeline_opts(fi_pipeline_opts *opts);

/* Encode the main face of a photo into out; false when there is none. */
extern bool faceid_embed_photo(const bytea *photo, float *out);

/* The cancel callback that asks whether a cancel/terminate is pending. */
extern const fi_cancel *faceid_cancel(void);

/* Raise the ERROR for a failed core call (checks interrupts on FI_CANCELLED). */
extern void faceid_report(fi_status status, const fi_error *err, const char *what) pg_attribute_noreturn();

/* Decode a bytea photo to RGB under faceid.max_image_pixels; ERROR on failure. */
extern void faceid_decode(const bytea *photo, fi_image *img);
extern void faceid_decode_photo(const bytea *photo, const fi_pipeline_opts *opts,
								fi_photo *ph);

#endif							/* FACEID_ENGINE_H */
