/*
 * faceid_image.c
 *	  SQL functions on photos (bytea, JPEG or PNG): decode in the core, run
 *	  the nets, return faceembedding values.
 */
#include "postgres.h"

#include "fmgr.h"
#include "portability/instr_time.h"

#include "embedding.h"
#include "faceid_engine.h"
#include "core/image.h"
#include "core/recognition.h"

PG_FUNCTION_INFO_V1(face_embed_crop);

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
	instr_time	start,
				elapsed;

	INSTR_TIME_SET_CURRENT(start);
	faceid_decode(photo, &img);
	st = fi_recognition_embed(m, ws, &img, NULL, result->x, faceid_cancel(), &err);
	fi_image_free(&img);
	if (st != FI_OK)
		faceid_report(st, &err, "cannot encode face");
	faceid_stats_counters.encoder_runs++;
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	faceid_stats_counters.ms_total += INSTR_TIME_GET_MILLISEC(elapsed);
	face_embedding_check_finite(result->x);
	PG_RETURN_FACEEMBEDDING(result);
}
