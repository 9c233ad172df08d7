/*
 * trigger.c
 *	  face_embed_trigger(photo_column, embedding_column): a BEFORE INSERT OR
 *	  UPDATE ... FOR EACH ROW trigger that keeps an embedding column equal to
 *	  the encoding of the photo column, in the manner of
 *	  tsvector_update_trigger.
 *
 *	  INSERT with a photo: the embedding is computed (NULL for no face) and
 *	  overrides any value given.  INSERT without a photo: the embedding is
 *	  left as given (precomputed encodings).  UPDATE: recomputed only when the
 *	  photo's bytes changed; a photo set to NULL makes the embedding NULL
 *	  unless the same UPDATE set the embedding column itself.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/bitmapset.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "type_embedding.h"
#include "engine.h"
#include "sql_util.h"

PG_FUNCTION_INFO_V1(face_embed_trigger);

/* Report a misuse of the trigger. */
static void
protocol_error(const char *msg, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("face_embed_trigger: %s", msg),
			 hint ? errhint("%s", hint) : 0));
}

/* Check how the trigger was fired: BEFORE INSERT/UPDATE, FOR EACH ROW, 2 args. */
static TriggerData *
check_trigger_call(FunctionCallInfo fcinfo)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *usage = "Use CREATE TRIGGER ... BEFORE INSERT OR UPDATE ON t FOR EACH ROW "
		"EXECUTE FUNCTION face_embed_trigger(photo_column, embedding_column).";

	if (!CALLED_AS_TRIGGER(fcinfo))
		protocol_error("not called by the trigger manager", usage);
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		protocol_error("must be fired FOR EACH ROW", usage);
	if (!TRIGGER_FIRED_BEFORE(td->tg_event))
		protocol_error("must be fired BEFORE the event", usage);
	if (!TRIGGER_FIRED_BY_INSERT(td->tg_event) && !TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		protocol_error("must be fired for INSERT or UPDATE", usage);
	if (td->tg_trigger->tgnargs != 2)
		protocol_error(psprintf("expected 2 arguments (photo column, embedding column), got %d",
								td->tg_trigger->tgnargs), usage);
	return td;
}

/* True when typid (or the domain's base type) is faceembedding. */
static bool
is_faceembedding(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(getBaseType(typid)));
	bool		result;

	if (!HeapTupleIsValid(tup))
		return false;
	result = strcmp(NameStr(((Form_pg_type) GETSTRUCT(tup))->typname), "faceembedding") == 0 &&
		((Form_pg_type) GETSTRUCT(tup))->typlen == FACE_EMBEDDING_SIZE;
	ReleaseSysCache(tup);
	return result;
}

/* Resolve and type-check the two column arguments. */
static void
resolve_columns(TriggerData *td, int *photo_att, int *emb_att)
{
	Relation	rel = td->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	char	  **args = td->tg_trigger->tgargs;

	*photo_att = faceid_column_attnum(RelationGetRelid(rel), args[0], "face_embed_trigger: ");
	*emb_att = faceid_column_attnum(RelationGetRelid(rel), args[1], "face_embed_trigger: ");
	if (getBaseType(TupleDescAttr(desc, *photo_att - 1)->atttypid) != BYTEAOID)
		protocol_error(psprintf("photo column \"%s\" is of type %s, not bytea", args[0],
								format_type_be(TupleDescAttr(desc, *photo_att - 1)->atttypid)), NULL);
	if (!is_faceembedding(TupleDescAttr(desc, *emb_att - 1)->atttypid))
		protocol_error(psprintf("embedding column \"%s\" is of type %s, not faceembedding", args[1],
								format_type_be(TupleDescAttr(desc, *emb_att - 1)->atttypid)), NULL);
}

/* True when two non-NULL bytea datums hold the same bytes. */
static bool
same_bytes(Datum a, Datum b)
{
	bytea	   *x = DatumGetByteaPP(a);
	bytea	   *y = DatumGetByteaPP(b);

	return VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
		memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0;
}

/* Did this UPDATE name the column in its SET list? */
static bool
column_updated(TriggerData *td, int attnum)
{
	return bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, td->tg_updatedcols);
}

/* The trigger function. */
Datum
face_embed_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = check_trigger_call(fcinfo);
	bool		is_update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);
	HeapTuple	newtup = is_update ? td->tg_newtuple : td->tg_trigtuple;
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			photo_att,
				emb_att;
	bool		photo_null;
	Datum		photo;
	Datum		value = (Datum) 0;
	bool		value_null = true;

	resolve_columns(td, &photo_att, &emb_att);
	photo = heap_getattr(newtup, photo_att, desc, &photo_null);

	if (photo_null)
	{
		/* INSERT: keep what was given; UPDATE: NULL unless set explicitly */
		if (!is_update || column_updated(td, emb_att))
			return PointerGetDatum(newtup);
	}
	else
	{
		if (is_update)
		{
			bool		old_null;
			Datum		old = heap_getattr(td->tg_trigtuple, photo_att, desc, &old_null);

			if (!old_null && same_bytes(old, photo))
				return PointerGetDatum(newtup);
		}
		{
			FaceEmbedding *e = palloc(FACE_EMBEDDING_SIZE);

			if (faceid_embed_photo(DatumGetByteaPP(photo), e->x))
			{
				value = PointerGetDatum(e);
				value_null = false;
			}
		}
	}
	return PointerGetDatum(heap_modify_tuple_by_cols(newtup, desc, 1, &emb_att, &value, &value_null));
}
