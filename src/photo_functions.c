/*
 * photo_functions.c
 *	  SQL functions on photos (bytea, JPEG or PNG): decode in the core, run
 *	  the nets, return encodings, boxes and landmarks.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/geo_decls.h"
#include "utils/lsyscache.h"

#include "type_embedding.h"
#include "engine.h"
#include "core/image/image.h"
#include "core/face/pipeline.h"
#include "core/models/recognition.h"

PG_FUNCTION_INFO_V1(face_embed_crop);
PG_FUNCTION_INFO_V1(face_embed);
PG_FUNCTION_INFO_V1(face_detect);
PG_FUNCTION_INFO_V1(face_embed_all);

/* Milliseconds since start, added to faceid_stats().ms_total. */
static void
account_time(instr_time start)
{
	instr_time	elapsed;

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	faceid_stats_counters.ms_total += INSTR_TIME_GET_MILLISEC(elapsed);
}

/*
 * face_embed_crop(image): the image is already a face crop; pad it to a
 * square (centred), resize to 150 and encode.
 */
Datum
face_embed_crop(PG_FUNCTION_ARGS)
{
	bytea	   *photo = PG_GETARG_BYTEA_PP(0);
	const fi_model *m = faceid_get_model();
	fi_workspace *ws = faceid_get_workspace();
	FaceEmbedding *result = palloc(FACE_EMBEDDING_SIZE);
	fi_image	img = {0};
	fi_error	err = {0};
	fi_status	st;
	instr_time	start;

	INSTR_TIME_SET_CURRENT(start);
	faceid_decode(photo, &img);
	st = fi_recognition_embed(m, ws, &img, NULL, result->x, faceid_cancel(), &err);
	fi_image_free(&img);
	if (st != FI_OK)
		faceid_report(st, &err, "cannot encode face");
	faceid_stats_counters.encoder_runs++;
	account_time(start);
	face_embedding_check_finite(result->x);
	PG_RETURN_FACEEMBEDDING(result);
}

/* face_embed(image): the encoding of the main face (fi_face_primary), or NULL. */
Datum
face_embed(PG_FUNCTION_ARGS)
{
	bytea	   *photo = PG_GETARG_BYTEA_PP(0);
	FaceEmbedding *result;
	bool		found;
	instr_time	start;

	INSTR_TIME_SET_CURRENT(start);
	result = palloc(FACE_EMBEDDING_SIZE);
	found = faceid_embed_photo(photo, result->x);
	account_time(start);
	if (!found)
	{
		pfree(result);
		PG_RETURN_NULL();
	}
	PG_RETURN_FACEEMBEDDING(result);
}

/* Run the pipeline on a photo: every face, with or without encodings. */
static fi_face *
detect_all(bytea *photo, bool embed, int *nfaces)
{
	fi_pipeline *p = faceid_get_pipeline();
	fi_pipeline_opts opts;
	fi_photo	ph;
	fi_face    *faces = NULL;
	fi_error	err = {0};
	fi_status	st;

	faceid_pipeline_opts(&opts);
	opts.embed = embed;
	faceid_decode_photo(photo, &opts, &ph);
	st = fi_faces_detect_photo(p, &ph, &opts, &faces, nfaces, faceid_cancel(), &err);
	fi_photo_free(&ph);
	if (st != FI_OK)
		faceid_report(st, &err, "cannot detect faces");
	faceid_stats_counters.detector_runs++;
	if (embed)
		faceid_stats_counters.encoder_runs += *nfaces;
	return faces;
}

/* The 68 landmarks of a face as point[]. */
static Datum
landmarks_array(const fi_face *f)
{
	Datum		elems[FI_LM_POINTS];

	for (int i = 0; i < FI_LM_POINTS; i++)
	{
		Point	   *pt = palloc(sizeof(Point));

		pt->x = f->landmarks[i][0];
		pt->y = f->landmarks[i][1];
		elems[i] = PointerGetDatum(pt);
	}
	return PointerGetDatum(construct_array(elems, FI_LM_POINTS, POINTOID, sizeof(Point),
										   false, TYPALIGN_DOUBLE));
}

/* Rows of face_detect / face_embed_all: one per face, highest score first. */
static Datum
faces_srf(FunctionCallInfo fcinfo, bool embed)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bytea	   *photo = PG_GETARG_BYTEA_PP(0);
	fi_face    *faces;
	int			n = 0;
	instr_time	start;

	InitMaterializedSRF(fcinfo, 0);
	INSTR_TIME_SET_CURRENT(start);
	faces = detect_all(photo, embed, &n);
	PG_TRY();
	{
		for (int i = 0; i < n; i++)
		{
			const fi_face *f = &faces[i];
			Datum		values[7];
			bool		nulls[7] = {false, false, false, false, false, false, false};

			values[0] = Int32GetDatum(i + 1);
			values[1] = Float4GetDatum((float4) f->x);
			values[2] = Float4GetDatum((float4) f->y);
			values[3] = Float4GetDatum((float4) f->w);
			values[4] = Float4GetDatum((float4) f->h);
			values[5] = Float4GetDatum((float4) f->score);
			if (embed)
			{
				FaceEmbedding *e = palloc(FACE_EMBEDDING_SIZE);

				memcpy(e->x, f->descriptor, FACE_EMBEDDING_SIZE);
				nulls[6] = !f->has_descriptor;
				values[6] = PointerGetDatum(e);
			}
			else
			{
				nulls[6] = !f->has_landmarks;
				values[6] = f->has_landmarks ? landmarks_array(f) : (Datum) 0;
			}
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	PG_FINALLY();
	{
		free(faces);
	}
	PG_END_TRY();
	account_time(start);
	return (Datum) 0;
}

/* face_detect(image): every face with its box, score and 68 landmarks. */
Datum
face_detect(PG_FUNCTION_ARGS)
{
	return faces_srf(fcinfo, false);
}

/* face_embed_all(image): every face with its box, score and encoding. */
Datum
face_embed_all(PG_FUNCTION_ARGS)
{
	return faces_srf(fcinfo, true);
}
