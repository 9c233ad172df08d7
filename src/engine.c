/*
 * engine.c
 *	  Glue between the PostgreSQL-free core and the server: GUCs, the lazily
 *	  mapped model, the cancel callback, error reporting, faceid_info() and
 *	  faceid_stats().
 */
#include "postgres.h"

#include <math.h>
#include <sys/stat.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "engine.h"
#include "core/nn/blas.h"
#include "core/embedding/distance.h"
#include "core/image/image.h"

#define FACEID_VERSION "0.1.0"

char	   *faceid_model_path = NULL;
int			faceid_max_image_pixels = 50000000;
int			faceid_detector = FI_DETECTOR_TINY;
int			faceid_alignment = FI_ALIGN_SIMILARITY;
int			faceid_detect_size = 416;
double		faceid_min_score = 0.5;

static const struct config_enum_entry detector_options[] = {
	{"tiny", FI_DETECTOR_TINY, false},
	{"ssd", FI_DETECTOR_SSD, false},
	{NULL, 0, false}
};

static const struct config_enum_entry alignment_options[] = {
	{"similarity", FI_ALIGN_SIMILARITY, false},
	{"faceapi", FI_ALIGN_FACEAPI, false},
	{NULL, 0, false}
};
FaceidStats faceid_stats_counters;

static fi_model *model = NULL;
static char *model_loaded_from = NULL;
static fi_workspace *workspace = NULL;
static fi_pipeline *pipeline = NULL;
static const fi_model *pipeline_model = NULL;

PG_FUNCTION_INFO_V1(faceid_info);
PG_FUNCTION_INFO_V1(faceid_stats);

/* The installed weights file: <sharedir>/extension/faceid_weights.bin. */
static char *
default_model_path(void)
{
	char		sharepath[MAXPGPATH];

	get_share_path(my_exec_path, sharepath);
	return psprintf("%s/extension/faceid_weights.bin", sharepath);
}

/* faceid.detect_size accepts only the tiny detector's input sizes. */
static bool
check_detect_size(int *newval, void **extra, GucSource source)
{
	if (*newval == 320 || *newval == 416 || *newval == 608)
		return true;
	GUC_check_errdetail("faceid.detect_size must be 320, 416 or 608.");
	return false;
}

/* Define the engine's GUCs. */
void
faceid_engine_init(void)
{
	DefineCustomEnumVariable("faceid.detector",
							 "Face detector: tiny (fast) or ssd (SSD MobileNet v1, slower).",
							 NULL,
							 &faceid_detector,
							 FI_DETECTOR_TINY, detector_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomEnumVariable("faceid.alignment",
							 "Face alignment before encoding: similarity (rotation-correcting chip) or faceapi (face-api's box crop).",
							 NULL,
							 &faceid_alignment,
							 FI_ALIGN_SIMILARITY, alignment_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("faceid.detect_size",
							"Input size of the tiny detector: 320, 416 or 608.",
							NULL,
							&faceid_detect_size,
							416, 320, 608,
							PGC_USERSET, 0,
							check_detect_size, NULL, NULL);
	DefineCustomRealVariable("faceid.min_score",
							 "Smallest detector score that counts as a face.",
							 NULL,
							 &faceid_min_score,
							 0.5, 0.0, 1.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("faceid.model_path",
							   "Path of the faceid weights file (superuser only).",
							   "Empty means the file installed with the extension.",
							   &faceid_model_path,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("faceid.max_image_pixels",
							"Largest image (width x height) faceid decodes; checked from the header before any pixel is decoded.",
							NULL,
							&faceid_max_image_pixels,
							50000000, 1, 250000000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
}

/* The path the model is (or would be) read from. */
static char *
current_model_path(void)
{
	if (faceid_model_path != NULL && faceid_model_path[0] != '\0')
		return pstrdup(faceid_model_path);
	return default_model_path();
}

/* Map the model unless it is already; NULL and *err when it cannot be. */
static const fi_model *
try_model(fi_status *st, fi_error *err)
{
	char	   *path = current_model_path();
	fi_model   *m;

	*st = FI_OK;
	if (model != NULL && strcmp(path, model_loaded_from) == 0)
		return model;
	*st = fi_model_open(path, &m, err);
	if (*st != FI_OK)
		return NULL;
	if (model != NULL)
		fi_model_close(model);
	if (model_loaded_from != NULL)
		pfree(model_loaded_from);
	model = m;
	model_loaded_from = MemoryContextStrdup(TopMemoryContext, path);
	return model;
}

/* Map the model on first use, or again after faceid.model_path changed. */
const fi_model *
faceid_get_model(void)
{
	fi_error	err = {0};
	fi_status	st;
	const fi_model *m = try_model(&st, &err);

	if (m == NULL)
		faceid_report(st, &err, "cannot load the faceid model");
	return m;
}

/* The backend's workspace, created on first use. */
fi_workspace *
faceid_get_workspace(void)
{
	if (workspace == NULL)
	{
		workspace = fi_workspace_new();
		if (workspace == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory creating the faceid workspace")));
	}
	return workspace;
}

/* The backend's pipeline, rebuilt when the model changed. */
fi_pipeline *
faceid_get_pipeline(void)
{
	const fi_model *m = faceid_get_model();
	fi_error	err = {0};
	fi_status	st;

	if (pipeline != NULL && pipeline_model == m)
		return pipeline;
	if (pipeline != NULL)
		fi_pipeline_free(pipeline);
	pipeline = NULL;
	st = fi_pipeline_new(m, &pipeline, &err);
	if (st != FI_OK)
		faceid_report(st, &err, "cannot set up the face pipeline");
	pipeline_model = m;
	return pipeline;
}

/* Pipeline options from the GUCs. */
void
faceid_pipeline_opts(fi_pipeline_opts *opts)
{
	fi_pipeline_opts_default(opts);
	opts->detector = (fi_detector_kind) faceid_detector;
	opts->alignment = (fi_alignment) faceid_alignment;
	opts->detect_size = faceid_detect_size;
	opts->min_score = faceid_min_score;
}

/* Encode the main face of a photo (fi_face_primary); false when it has none. */
bool
faceid_embed_photo(const bytea *photo, float *out)
{
	fi_pipeline *p = faceid_get_pipeline();
	fi_pipeline_opts opts;
	fi_photo	ph;
	fi_error	err = {0};
	fi_status	st;
	bool		found = false;

	faceid_pipeline_opts(&opts);
	faceid_decode_photo(photo, &opts, &ph);
	st = fi_face_embed_primary_photo(p, &ph, &opts, out, &found, NULL, faceid_cancel(), &err);
	fi_photo_free(&ph);
	if (st != FI_OK)
		faceid_report(st, &err, "cannot encode face");
	faceid_stats_counters.detector_runs++;
	if (found)
	{
		faceid_stats_counters.encoder_runs++;
		for (int i = 0; i < FI_DIM; i++)
			if (!isfinite(out[i]))
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("face encoding element %d is not finite", i + 1)));
	}
	return found;
}

/* Answer the core's "should I stop?": a cancel or terminate is pending. */
static bool
interrupt_pending(void *arg)
{
	return QueryCancelPending || ProcDiePending;
}

/* The cancel callback handed to every core call. */
const fi_cancel *
faceid_cancel(void)
{
	static const fi_cancel cancel = {interrupt_pending, NULL};

	return &cancel;
}

/* The SQLSTATE of a core status. */
static int
status_errcode(fi_status st)
{
	switch (st)
	{
		case FI_ERR_CORRUPT:
			return ERRCODE_INVALID_BINARY_REPRESENTATION;
		case FI_ERR_UNSUPPORTED:
			return ERRCODE_FEATURE_NOT_SUPPORTED;
		case FI_ERR_LIMIT:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case FI_ERR_INVALID:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case FI_ERR_NOMEM:
			return ERRCODE_OUT_OF_MEMORY;
		case FI_ERR_MODEL_MISSING:
			return ERRCODE_UNDEFINED_FILE;
		case FI_ERR_MODEL_CORRUPT:
			return ERRCODE_DATA_CORRUPTED;
		case FI_CANCELLED:
			return ERRCODE_QUERY_CANCELED;
		default:
			return ERRCODE_INTERNAL_ERROR;
	}
}

/*
 * Raise the ERROR for a failed core call.  When the core stopped because an
 * interrupt is pending, let CHECK_FOR_INTERRUPTS() raise the real one.
 */
void
faceid_report(fi_status status, const fi_error *err, const char *what)
{
	if (status == FI_CANCELLED)
	{
		CHECK_FOR_INTERRUPTS();
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling statement due to user request")));
	}
	if (status == FI_ERR_LIMIT)
		ereport(ERROR,
				(errcode(status_errcode(status)),
				 errmsg("%s: %s", what, err->msg),
				 errhint("The limit is faceid.max_image_pixels = %d.", faceid_max_image_pixels)));
	ereport(ERROR,
			(errcode(status_errcode(status)),
			 errmsg("%s: %s", what, err->msg)));
}

/* Decode a bytea photo to RGB under faceid.max_image_pixels. */
void
faceid_decode(const bytea *photo, fi_image *img)
{
	fi_error	err = {0};
	fi_status	st;

	st = fi_image_decode((const uint8_t *) VARDATA_ANY(photo), VARSIZE_ANY_EXHDR(photo),
						 faceid_max_image_pixels, img, &err);
	if (st != FI_OK)
		faceid_report(st, &err, "cannot decode image");
	faceid_stats_counters.images_decoded++;
}

/*
 * Decode a bytea photo for the pipeline under faceid.max_image_pixels: a
 * large JPEG at the smallest scale the detector allows
 * (fi_pipeline_decode_scale), the faces' regions later at full size.  The
 * photo keeps pointing into the bytea.
 */
void
faceid_decode_photo(const bytea *photo, const fi_pipeline_opts *opts, fi_photo *ph)
{
	const uint8_t *data = (const uint8_t *) VARDATA_ANY(photo);
	size_t		len = VARSIZE_ANY_EXHDR(photo);
	fi_error	err = {0};
	fi_status	st;
	int			w = 0,
				h = 0,
				scale = 1;

	/* a header that does not parse gets its error from the decode below */
	if (fi_image_probe(data, len, NULL, &w, &h, NULL) == FI_OK)
		scale = fi_pipeline_decode_scale(opts, w, h);
	st = fi_photo_decode(data, len, faceid_max_image_pixels, scale, ph, &err);
	if (st != FI_OK)
		faceid_report(st, &err, "cannot decode image");
	faceid_stats_counters.images_decoded++;
}

/* Add one key/value row to a materialised result. */
static void
info_row(ReturnSetInfo *rsinfo, const char *key, const char *value)
{
	Datum		values[2];
	bool		nulls[2] = {false, value == NULL};

	values[0] = CStringGetTextDatum(key);
	values[1] = value ? CStringGetTextDatum(value) : (Datum) 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* faceid_info(): versions, model file, BLAS library and kernels, CPU features. */
Datum
faceid_info(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	fi_error	err = {0};
	fi_status	st;
	const fi_model *m = try_model(&st, &err);
	const fi_blas *blas;

	InitMaterializedSRF(fcinfo, 0);
	info_row(rsinfo, "version", FACEID_VERSION);
	info_row(rsinfo, "model_path", m ? fi_model_path(m) : current_model_path());
	if (m == NULL)
		info_row(rsinfo, "model_error", err.msg);
	else
	{
		info_row(rsinfo, "model_version", fi_model_version(m));
		info_row(rsinfo, "model_checksum", psprintf("fnv1a64:%016llx", (unsigned long long) fi_model_checksum(m)));
		info_row(rsinfo, "model_bytes", psprintf("%llu", (unsigned long long) fi_model_size(m)));
		info_row(rsinfo, "model_tensors", psprintf("%d", fi_model_tensor_count(m)));
	}
	st = fi_blas_load(&blas, &err);
	if (st != FI_OK)
	{
		info_row(rsinfo, "blas_error", err.msg);
		info_row(rsinfo, "distance_kernel", fi_distance_name());
		return (Datum) 0;
	}
	info_row(rsinfo, "blas_library", blas->path);
	info_row(rsinfo, "blas_config", blas->config);
	info_row(rsinfo, "blas_kernels", blas->corename);
	info_row(rsinfo, "blas_coretype", blas->coretype[0] ? blas->coretype : "(unset: OpenBLAS's own detection)");
	info_row(rsinfo, "blas_coretype_origin", blas->coretype_origin);
	info_row(rsinfo, "cpu_features", blas->cpu_features);
	info_row(rsinfo, "distance_kernel", fi_distance_name());
	return (Datum) 0;
}

/* faceid_stats(): this backend's counters since it started. */
Datum
faceid_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum(faceid_stats_counters.images_decoded);
	values[1] = Int64GetDatum(faceid_stats_counters.detector_runs);
	values[2] = Int64GetDatum(faceid_stats_counters.encoder_runs);
	values[3] = Float8GetDatum(faceid_stats_counters.ms_total);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
